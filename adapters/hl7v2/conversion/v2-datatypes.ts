/**
 * HL7 v2 composite data types to FHIR data types (after the HL7 v2-to-FHIR IG datatype maps):
 * CWE/CE → CodeableConcept, CX → Identifier, XPN → HumanName, XAD → Address, XTN → ContactPoint,
 * XCN → Reference with display and identifier. Ids of converted resources are derived here too.
 */
import { createHash } from 'node:crypto';
import type { Address, CodeableConcept, Coding, ContactPoint, HumanName, Identifier, Quantity, Reference, Resource } from '@medplum/fhirtypes';
import type { Er7Field, Er7Message } from '../er7.ts';

/** Coding-system names used in v2 (table 0396) and the FHIR system URIs they stand for. */
const CODING_SYSTEMS: Readonly<Record<string, string>> = {
  LN: 'http://loinc.org',
  LOINC: 'http://loinc.org',
  SCT: 'http://snomed.info/sct',
  SNM: 'http://snomed.info/sct',
  SNOMED: 'http://snomed.info/sct',
  RXNORM: 'http://www.nlm.nih.gov/research/umls/rxnorm',
  RXN: 'http://www.nlm.nih.gov/research/umls/rxnorm',
  NDC: 'http://hl7.org/fhir/sid/ndc',
  I10: 'http://hl7.org/fhir/sid/icd-10',
  'I10C': 'http://hl7.org/fhir/sid/icd-10-cm',
  I9C: 'http://hl7.org/fhir/sid/icd-9-cm',
  UCUM: 'http://unitsofmeasure.org',
  CVX: 'http://hl7.org/fhir/sid/cvx',
  ATC: 'http://www.whocc.no/atc',
};

export function codingSystem(name: string): string | undefined {
  if (name === '') return undefined;
  const known = CODING_SYSTEMS[name.toUpperCase()];
  if (known) return known;
  if (/^HL7\d{4}$/i.test(name)) return `http://terminology.hl7.org/CodeSystem/v2-${name.slice(3)}`;
  if (/^\d+(\.\d+)+$/.test(name)) return `urn:oid:${name}`;
  if (/^(https?|urn):/i.test(name)) return name;
  return undefined;
}

/** CWE/CE/CNE: identifier^text^system^alt identifier^alt text^alt system. */
export function codeableConcept(field: Er7Field): CodeableConcept | undefined {
  if (field.isEmpty) return undefined;
  const codings: Coding[] = [];
  for (const base of [1, 4]) {
    const code = field.get(base);
    const display = field.get(base + 1);
    const systemName = field.get(base + 2);
    if (code === '') continue;
    const coding: Coding = { code };
    const system = codingSystem(systemName);
    if (system) coding.system = system;
    if (display) coding.display = display;
    codings.push(coding);
  }
  const text = field.get(9) || field.get(2) || field.get(5);
  const concept: CodeableConcept = {};
  if (codings.length) concept.coding = codings;
  if (text) concept.text = text;
  return codings.length || text ? concept : undefined;
}

/** Whether an NM value is a number (`+1.5`, `.5`, `7`; no exponent, as HL7 NM). */
export function isNumber(value: string): boolean {
  return /^[+-]?(\d+\.?\d*|\.\d+)$/.test(value.trim());
}

const UCUM = 'http://unitsofmeasure.org';

/**
 * NM + units (a CWE: OBX-6, RXE-5, RXE-11...) → Quantity. The unit's code goes in `code` only
 * with the system it belongs to (qty-3): UCUM when the CWE names it (`UCUM`, `ANS+`), or another
 * known system; a local unit is kept as `unit` text only.
 */
export function quantity(value: string, units: Er7Field): Quantity {
  const q: Quantity = { value: Number(value.trim()) };
  const unit = units.get(2) || units.get(1);
  if (unit) q.unit = unit;
  for (const base of [1, 4]) {
    const code = units.get(base);
    const name = units.get(base + 2);
    const system = name.toUpperCase() === 'ANS+' ? UCUM : codingSystem(name);
    if (code && system) {
      q.system = system;
      q.code = code;
      break;
    }
  }
  return q;
}

/** The code of a CWE/ID for keys: `system|code` or the text when uncoded. */
export function conceptKey(field: Er7Field): string {
  return field.get(1) ? `${field.get(3)}|${field.get(1)}` : `|${field.get(2)}`;
}

/**
 * The natural key of a number a sender assigns (an EI order number, a CX visit number): the
 * number with its namespace when the message gives one, else with the sender, because an
 * unqualified number is unique only at its sender (two labs both have an accession `ACC1`).
 */
export function numberKey(kind: string, value: string, namespace: string, message: Er7Message): string[] {
  return namespace ? [kind, value, namespace] : [kind, value, '', message.sender];
}

/** Namespace of an EI (entity id^namespace id^universal id^universal id type). */
export function eiNamespace(ei: Er7Field): string {
  return ei.get(2) || ei.get(3);
}

/** Assigning authority of a CX (component 4, HD): namespace id, else universal id. */
export function assigningAuthority(cx: Er7Field): string {
  return cx.get(4, 1) || cx.get(4, 2);
}

/** CX: id^check digit^scheme^assigning authority (HD)^identifier type^assigning facility. */
export function identifier(cx: Er7Field, sourceId: string): Identifier | undefined {
  const value = cx.get(1);
  if (!value) return undefined;
  const id: Identifier = { value };
  const universal = cx.get(4, 2);
  const universalType = cx.get(4, 3).toUpperCase();
  const namespace = cx.get(4, 1);
  if (universal && universalType === 'ISO') id.system = `urn:oid:${universal}`;
  else if (universal && /^(https?|urn):/i.test(universal)) id.system = universal;
  else if (namespace || universal) id.system = `urn:medrec:hl7v2:${sourceId}:${fhirIdSafe(namespace || universal)}`;
  const type = cx.get(5);
  if (type) id.type = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: type }] };
  if (namespace) id.assigner = { display: namespace };
  return id;
}

/**
 * XPN-7 name type (table 0200) → HumanName.use, as the v2-to-FHIR ConceptMap
 * table-hl70200-to-name-use maps it; the types it leaves unmapped (A assigned, B birth, C adopted,
 * S pseudonym, T tribal, ...) get no use rather than a wrong one.
 */
const NAME_USE: Readonly<Record<string, HumanName['use']>> = {
  BAD: 'old', D: 'usual', L: 'official', M: 'maiden', MSK: 'anonymous', N: 'nickname', NAV: 'temp', R: 'official', TEMP: 'temp',
};

/** XPN: family^given^middle^suffix^prefix^degree^type. */
export function humanName(xpn: Er7Field): HumanName | undefined {
  const name: HumanName = {};
  const family = xpn.get(1, 1);
  if (family) name.family = family;
  const given = [xpn.get(2), ...xpn.get(3).split(' ')].filter((g) => g !== '');
  if (given.length) name.given = given;
  if (xpn.get(4)) name.suffix = [xpn.get(4)];
  if (xpn.get(5)) name.prefix = [xpn.get(5)];
  const use = NAME_USE[xpn.get(7).toUpperCase()];
  if (use) name.use = use;
  return name.family || name.given ? name : undefined;
}

/** Display text of an XCN (person) or XPN. */
export function personDisplay(family: string, given: string, prefix = ''): string {
  return [prefix, given, family].filter((p) => p !== '').join(' ');
}

/** XCN: id^family^given^middle^suffix^prefix^degree^source table^assigning authority. */
export function practitionerReference<T extends Resource>(xcn: Er7Field): Reference<T> | undefined {
  if (xcn.isEmpty) return undefined;
  const ref: Reference<T> = {};
  const display = personDisplay(xcn.get(2, 1), xcn.get(3), xcn.get(6));
  if (display) ref.display = display;
  const id = xcn.get(1);
  if (id) {
    ref.identifier = { value: id };
    const authority = xcn.get(9, 1);
    if (authority) ref.identifier.assigner = { display: authority };
  }
  return ref.display || ref.identifier ? ref : undefined;
}

const ADDRESS_USE: Readonly<Record<string, Address['use']>> = { H: 'home', B: 'work', O: 'work', C: 'temp', BA: 'old' };

/** XAD: street^other^city^state^zip^country^type. */
export function address(xad: Er7Field): Address | undefined {
  const a: Address = {};
  const line = [xad.get(1, 1), xad.get(2)].filter((l) => l !== '');
  if (line.length) a.line = line;
  if (xad.get(3)) a.city = xad.get(3);
  if (xad.get(4)) a.state = xad.get(4);
  if (xad.get(5)) a.postalCode = xad.get(5);
  if (xad.get(6)) a.country = xad.get(6);
  const type = xad.get(7).toUpperCase();
  const use = ADDRESS_USE[type];
  if (use) a.use = use;
  if (type === 'M') a.type = 'postal';
  return Object.keys(a).length ? a : undefined;
}

/** XTN: [legacy number]^use code^equipment^email^country^area^local^extension. */
export function contactPoint(xtn: Er7Field, defaultUse: ContactPoint['use']): ContactPoint | undefined {
  const useCode = xtn.get(2).toUpperCase();
  const equipment = xtn.get(3).toUpperCase();
  const email = xtn.get(4);
  if (email || useCode === 'NET' || equipment === 'INTERNET' || equipment === 'X.400') {
    const value = email || xtn.get(1);
    return value ? { system: 'email', value, use: defaultUse } : undefined;
  }
  let value = xtn.get(1);
  if (!value && xtn.get(7)) {
    value = `${xtn.get(5) ? `+${xtn.get(5)} ` : ''}${xtn.get(6) ? `(${xtn.get(6)}) ` : ''}${xtn.get(7)}`;
    if (xtn.get(8)) value += ` x${xtn.get(8)}`;
  }
  if (!value) return undefined;
  const point: ContactPoint = {
    system: equipment === 'FX' ? 'fax' : equipment === 'BP' ? 'pager' : 'phone',
    value,
    use: equipment === 'CP' ? 'mobile' : useCode === 'WPN' ? 'work' : defaultUse,
  };
  return point;
}

/**
 * A short FHIR id (`prefix-` + 20 hex chars) derived from a stable natural key. A change to any
 * record's key re-files stored records: raise RECORD_KEY_SCHEME (store/record-key-scheme.ts).
 */
export function derivedId(prefix: string, ...keyParts: readonly string[]): string {
  const hash = createHash('sha256').update(keyParts.join('\u001f')).digest('hex').slice(0, 20);
  return `${prefix}-${hash}`;
}

/** Replaces characters not allowed in FHIR ids (`[A-Za-z0-9\-.]`) with `-`. */
export function fhirIdSafe(value: string): string {
  return value.replace(/[^A-Za-z0-9.-]/g, '-');
}
