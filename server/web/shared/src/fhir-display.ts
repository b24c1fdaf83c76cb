/**
 * FHIR records in people's words, for every app that shows them (My records, the demo SMART app):
 * friendly names of record types, and one line per resource (what it is, its value, its date).
 */

/** Record types shown to people, in the order they are shown. */
export const RECORD_TYPES = ['Condition', 'MedicationRequest', 'Observation', 'AllergyIntolerance', 'Immunization', 'Procedure', 'Encounter'] as const;

const TYPE_LABELS: Readonly<Record<string, string>> = {
  Condition: 'Conditions', MedicationRequest: 'Prescriptions', MedicationDispense: 'Dispensed medications',
  MedicationStatement: 'Medication statements', Medication: 'Medications', Observation: 'Results and measurements',
  AllergyIntolerance: 'Allergies', Immunization: 'Immunizations', Procedure: 'Procedures', Encounter: 'Visits',
  Patient: 'Patient details', DiagnosticReport: 'Reports', DocumentReference: 'Documents',
};

/** "Prescriptions" for MedicationRequest; a type without a friendly name keeps its FHIR name. */
export function recordTypeLabel(type: string): string {
  return TYPE_LABELS[type] ?? type;
}

export interface Concept { text?: string; coding?: Array<{ display?: string; code?: string }> }

export interface FhirResource {
  resourceType: string;
  id: string;
  meta?: { source?: string };
  code?: Concept; medicationCodeableConcept?: Concept; medicationReference?: { display?: string; reference?: string };
  vaccineCode?: Concept; type?: Concept[];
  effectiveDateTime?: string; authoredOn?: string; onsetDateTime?: string; recordedDate?: string; occurrenceDateTime?: string;
  performedDateTime?: string; period?: { start?: string };
  valueQuantity?: { value?: number; unit?: string };
}

export function conceptText(c: Concept | undefined): string | undefined {
  return c?.text ?? c?.coding?.find((x) => x.display)?.display ?? c?.coding?.[0]?.code;
}

/** The search parameters that bring each type's referenced names along (`_include`). */
export const NAMING_INCLUDES: Readonly<Record<string, string>> = { MedicationRequest: '_include=MedicationRequest:medication' };

export interface SearchEntry { resource?: FhirResource; search?: { mode?: string } }

/** Resources a search added with `_include`, by the reference that points at them (`Medication/<id>`). */
export function includedByReference(entries: readonly SearchEntry[]): Map<string, FhirResource> {
  return new Map(entries.flatMap((e) => (e.search?.mode === 'include' && e.resource ? [[`${e.resource.resourceType}/${e.resource.id}`, e.resource] as const] : [])));
}

/**
 * What the record is about, with its value: "Hemoglobin A1c — 6.1 %", "Metformin 500 mg". A
 * prescription naming its drug by reference takes the name from the reference's display or from
 * the Medication the search included.
 */
export function describeRecord(r: FhirResource, included: ReadonlyMap<string, FhirResource> = new Map()): string {
  const medication = r.medicationReference?.reference ? included.get(r.medicationReference.reference) : undefined;
  const name = conceptText(r.code) ?? conceptText(r.medicationCodeableConcept) ?? r.medicationReference?.display ?? conceptText(medication?.code)
    ?? conceptText(r.vaccineCode) ?? conceptText(r.type?.[0]) ?? recordTypeLabel(r.resourceType);
  const q = r.valueQuantity;
  // UCUM annotations such as `{score}` are for machines; measured values read best rounded.
  const unit = q?.unit && !/^\{.*\}$/.test(q.unit) ? ` ${q.unit}` : '';
  const value = q?.value !== undefined ? ` — ${q.value.toLocaleString(undefined, { maximumFractionDigits: 2 })}${unit}` : '';
  return `${name}${value}`;
}

function dateOf(r: FhirResource): string | undefined {
  return r.effectiveDateTime ?? r.authoredOn ?? r.onsetDateTime ?? r.recordedDate ?? r.occurrenceDateTime ?? r.performedDateTime ?? r.period?.start;
}

/** The record's own date, as a local date ('' when it has none). */
export function recordDate(r: FhirResource): string {
  const d = dateOf(r);
  return d ? new Date(d).toLocaleDateString() : '';
}

/** Newest first; undated records last. */
export function newestFirst(a: FhirResource, b: FhirResource): number {
  const da = dateOf(a) ?? '';
  const db = dateOf(b) ?? '';
  return da < db ? 1 : da > db ? -1 : 0;
}
