/**
 * ORU^R01 → one DiagnosticReport per OBR and one Observation per OBX under it.
 * The value follows OBX-2 (NM, SN, ST/TX/FT, CE/CWE/CNE, DT/DTM/TS, TM, NR); OBX-6 gives units
 * (UCUM when OBX-6.3 says so), OBX-7 the reference range, OBX-8 interpretation, OBX-11 status.
 * Results are identified by filler order number (within its namespace, else its sender) +
 * observation code + sub-id, so a corrected result (OBX-11 `C`) replaces the preliminary one:
 * whole, since an OBX states the complete result (nothing of the stale value may survive).
 */
import type { CodeableConcept, DiagnosticReport, Encounter, Observation, ObservationReferenceRange, Practitioner, Quantity, Reference } from '@medplum/fhirtypes';
import type { Er7Field, Er7Message, Er7Segment } from '../er7.ts';
import { hl7ToFhirDateTime, hl7ToFhirInstant } from '../hl7-datetime.ts';
import { ConversionError, type ConversionOptions, type StoreChange } from './conversion-result.ts';
import { encounterId, hasEncounter } from './encounter-mapping.ts';
import { codeableConcept, conceptKey, derivedId, eiNamespace, isNumber, numberKey, practitionerReference, quantity } from './v2-datatypes.ts';

/** OBX-11 (table 0085) → Observation.status. */
const RESULT_STATUS: Readonly<Record<string, Observation['status']>> = {
  F: 'final', U: 'final', C: 'corrected', A: 'amended', P: 'preliminary', R: 'preliminary', S: 'preliminary',
  I: 'registered', O: 'registered', D: 'entered-in-error', W: 'entered-in-error', X: 'cancelled', N: 'cancelled',
};
/** OBR-25 (table 0123) → DiagnosticReport.status. */
const REPORT_STATUS: Readonly<Record<string, DiagnosticReport['status']>> = {
  O: 'registered', I: 'registered', S: 'registered', P: 'preliminary', R: 'preliminary', A: 'partial', F: 'final',
  C: 'corrected', X: 'cancelled', Y: 'final', Z: 'final',
};
const INTERPRETATION = 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation';
const CATEGORY = 'http://terminology.hl7.org/CodeSystem/observation-category';

export function resultsFromOru(message: Er7Message, patient: string, options: ConversionOptions): StoreChange[] {
  const pv1 = message.segment('PV1');
  const encounter: Reference<Encounter> | undefined = hasEncounter(pv1) ? { reference: `Encounter/${encounterId(message, patient, pv1)}` } : undefined;
  const changes: StoreChange[] = [];
  let report: { obr: Er7Segment; resource: DiagnosticReport; key: string[] } | undefined;
  let last: Observation | undefined;
  let obrIndex = 0;
  const seen = new Map<string, number>();

  const closeReport = (): void => {
    if (report) changes.push({ kind: 'upsert', resource: report.resource, patient, replace: true });
    report = undefined;
  };

  for (const segment of message.segments) {
    if (segment.name === 'OBR') {
      closeReport();
      report = startReport(message, segment, patient, obrIndex++, options, encounter);
      last = undefined;
    } else if (segment.name === 'OBX') {
      if (!report) throw new ConversionError('OBX before any OBR', '100', 'OBX');
      const code = segment.field(3);
      const baseKey = [...report.key, conceptKey(code), segment.get(4)];
      const n = seen.get(baseKey.join('|')) ?? 0;
      seen.set(baseKey.join('|'), n + 1);
      const observation = observationFromObx(segment, report.obr, patient, options);
      observation.id = derivedId('obs', ...baseKey, ...(n ? [String(n)] : []));
      if (encounter) observation.encounter = encounter;
      report.resource.result = [...(report.resource.result ?? []), { reference: `Observation/${observation.id}` }];
      changes.push({ kind: 'upsert', resource: observation, patient, replace: true });
      last = observation;
    } else if (segment.name === 'NTE') {
      const text = segment.repetitions(3).map((r) => r.get(1)).join('\n');
      if (!text) continue;
      if (last) last.note = [...(last.note ?? []), { text }];
      else if (report) report.resource.conclusion = report.resource.conclusion ? `${report.resource.conclusion}\n${text}` : text;
    }
  }
  closeReport();
  if (obrIndex === 0) throw new ConversionError('ORU^R01 has no OBR segment', '100', 'OBR');
  return changes;
}

function startReport(
  message: Er7Message,
  obr: Er7Segment,
  patient: string,
  index: number,
  options: ConversionOptions,
  encounter: Reference<Encounter> | undefined,
): { obr: Er7Segment; resource: DiagnosticReport; key: string[] } {
  const filler = obr.field(3);
  const placer = obr.field(2);
  const key = filler.get(1)
    ? numberKey('filler', filler.get(1), eiNamespace(filler), message)
    : placer.get(1)
      ? numberKey('placer', placer.get(1), eiNamespace(placer), message)
      : ['msg', message.sender, message.controlId, patient, String(index)];
  const code = codeableConcept(obr.field(4)) ?? { text: 'unspecified' };
  const resource: DiagnosticReport = {
    resourceType: 'DiagnosticReport',
    id: derivedId('dr', ...key, conceptKey(obr.field(4))),
    status: REPORT_STATUS[obr.get(25).toUpperCase()] ?? 'unknown',
    code,
    subject: { reference: `Patient/${patient}` },
  };
  const identifiers = [];
  if (placer.get(1)) identifiers.push({ type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'PLAC' }] }, value: placer.get(1) });
  if (filler.get(1)) identifiers.push({ type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'FILL' }] }, value: filler.get(1) });
  if (identifiers.length) resource.identifier = identifiers;
  const section = obr.get(24).toUpperCase();
  resource.category = [
    section && section !== 'LAB'
      ? { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0074', code: section }] }
      : { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0074', code: 'LAB', display: 'Laboratory' }] },
  ];
  const effective = hl7ToFhirDateTime(obr.get(7), options.timezone);
  if (effective) resource.effectiveDateTime = effective;
  const issued = hl7ToFhirInstant(obr.get(22), options.timezone);
  if (issued) resource.issued = issued;
  const performer = practitionerReference<Practitioner>(obr.field(32));
  if (performer) resource.resultsInterpreter = [performer];
  if (encounter) resource.encounter = encounter;
  return { obr, resource, key };
}

function observationFromObx(obx: Er7Segment, obr: Er7Segment, patient: string, options: ConversionOptions): Observation {
  const code = codeableConcept(obx.field(3)) ?? { text: 'unspecified' };
  const observation: Observation = {
    resourceType: 'Observation',
    status: RESULT_STATUS[obx.get(11).toUpperCase()] ?? 'unknown',
    code,
    subject: { reference: `Patient/${patient}` },
  };
  const section = obr.get(24).toUpperCase();
  observation.category = [{ coding: [{ system: CATEGORY, code: section === 'RAD' ? 'imaging' : 'laboratory' }] }];

  const unit = obx.field(6);
  setValue(observation, obx.get(2).toUpperCase(), obx.repetitions(5), unit, options);

  const range = referenceRange(obx.get(7), unit);
  if (range) observation.referenceRange = [range];
  const interpretation = obx
    .repetitions(8)
    .map((f): CodeableConcept => ({ coding: [{ system: INTERPRETATION, code: f.get(1).toUpperCase() }], ...(f.get(2) ? { text: f.get(2) } : {}) }))
    .filter((c) => c.coding?.[0]?.code);
  if (interpretation.length) observation.interpretation = interpretation;
  const effective = hl7ToFhirDateTime(obx.get(14), options.timezone) ?? hl7ToFhirDateTime(obr.get(7), options.timezone);
  if (effective) observation.effectiveDateTime = effective;
  const issued = hl7ToFhirInstant(obx.get(19), options.timezone) ?? hl7ToFhirInstant(obr.get(22), options.timezone);
  if (issued) observation.issued = issued;
  const performer = practitionerReference<Practitioner>(obx.field(16));
  if (performer) observation.performer = [performer];
  if (obx.get(4)) observation.identifier = [{ value: `${obr.get(3) || obr.get(2)}-${obx.get(3)}-${obx.get(4)}`, type: { text: 'filler order and observation sub-id' } }];
  return observation;
}

function setValue(observation: Observation, type: string, values: readonly Er7Field[], unit: Er7Field, options: ConversionOptions): void {
  const first = values[0];
  if (!first) {
    observation.dataAbsentReason = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/data-absent-reason', code: 'unknown' }] };
    return;
  }
  const text = first.get(1);
  switch (type) {
    case 'NM':
      if (isNumber(text)) observation.valueQuantity = quantity(text.trim(), unit);
      else observation.valueString = text;
      return;
    case 'SN': {
      // comparator^num1^separator^num2
      const [comparator, n1, separator, n2] = [first.get(1), first.get(2), first.get(3), first.get(4)];
      if (separator === '-' && isNumber(n1) && isNumber(n2)) {
        observation.valueRange = { low: quantity(n1, unit), high: quantity(n2, unit) };
      } else if ((separator === ':' || separator === '/') && isNumber(n1) && isNumber(n2)) {
        observation.valueRatio = { numerator: { value: Number(n1) }, denominator: { value: Number(n2) } };
      } else if (isNumber(n1) && separator === '' && n2 === '') {
        const q = quantity(n1, unit);
        if (['<', '>', '<=', '>='].includes(comparator)) q.comparator = comparator as Quantity['comparator'];
        observation.valueQuantity = q;
      } else {
        observation.valueString = [comparator, n1, separator, n2].join('');
      }
      return;
    }
    case 'CE':
    case 'CWE':
    case 'CNE':
    case 'CF': {
      const concept = codeableConcept(first);
      if (concept) observation.valueCodeableConcept = concept;
      return;
    }
    case 'DT':
    case 'DTM':
    case 'TS': {
      const dt = hl7ToFhirDateTime(text, options.timezone);
      if (dt) observation.valueDateTime = dt;
      else observation.valueString = text;
      return;
    }
    case 'TM': {
      const m = /^(\d{2})(\d{2})?(\d{2})?/.exec(text);
      if (m) observation.valueTime = `${m[1]}:${m[2] ?? '00'}:${m[3] ?? '00'}`;
      return;
    }
    case 'NR':
      observation.valueRange = {
        ...(isNumber(first.get(1)) ? { low: quantity(first.get(1), unit) } : {}),
        ...(isNumber(first.get(2)) ? { high: quantity(first.get(2), unit) } : {}),
      };
      return;
    default:
      // ST, TX, FT and anything textual: repetitions are lines of one text.
      observation.valueString = values.map((v) => v.components.map((c) => c.join('&')).join('^').replace(/\^+$/, '')).join('\n');
  }
}

function referenceRange(text: string, unit: Er7Field): ObservationReferenceRange | undefined {
  const t = text.trim();
  if (!t) return undefined;
  const range: ObservationReferenceRange = { text: t };
  const between = /^([+-]?\d*\.?\d+)\s*-\s*([+-]?\d*\.?\d+)$/.exec(t);
  const above = /^>=?\s*([+-]?\d*\.?\d+)$/.exec(t);
  const below = /^<=?\s*([+-]?\d*\.?\d+)$/.exec(t);
  if (between) {
    range.low = quantity(between[1]!, unit);
    range.high = quantity(between[2]!, unit);
  } else if (above) range.low = quantity(above[1]!, unit);
  else if (below) range.high = quantity(below[1]!, unit);
  return range;
}
