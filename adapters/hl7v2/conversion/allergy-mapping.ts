/**
 * AL1 → AllergyIntolerance. An allergy is identified by patient + allergen code (AL1-3), not by
 * AL1-1 (a position in one message), so the same allergy repeated in A08s stays one resource,
 * each restatement replacing it whole.
 */
import type { AllergyIntolerance, CodeableConcept } from '@medplum/fhirtypes';
import type { Er7Segment } from '../er7.ts';
import { hl7ToFhirDateTime } from '../hl7-datetime.ts';
import type { ConversionOptions, UpsertChange } from './conversion-result.ts';
import { codeableConcept, derivedId } from './v2-datatypes.ts';

/**
 * The id of a patient's allergy to an allergen, from the converted code (not the raw field), so
 * that an A40 merge can re-derive it for the surviving patient.
 */
export function allergyId(patient: string, code: CodeableConcept): string {
  const coding = code.coding?.[0];
  return derivedId('alg', patient, coding?.code ? `${coding.system ?? ''}|${coding.code}` : `|${code.text ?? ''}`);
}

/** AL1-2 allergen type (table 0127) → category. */
const CATEGORY: Readonly<Record<string, NonNullable<AllergyIntolerance['category']>[number]>> = {
  DA: 'medication', FA: 'food', EA: 'environment', AA: 'environment', PA: 'environment', LA: 'environment', MA: 'environment', MC: 'medication',
};
/** AL1-4 severity (table 0128). */
const SEVERITY: Readonly<Record<string, { criticality: AllergyIntolerance['criticality']; severity?: 'mild' | 'moderate' | 'severe' }>> = {
  SV: { criticality: 'high', severity: 'severe' },
  MO: { criticality: 'low', severity: 'moderate' },
  MI: { criticality: 'low', severity: 'mild' },
  U: { criticality: 'unable-to-assess' },
};

export function allergyFromAl1(al1: Er7Segment, patient: string, options: ConversionOptions): UpsertChange | undefined {
  const code = codeableConcept(al1.field(3));
  if (!code) return undefined;
  const allergy: AllergyIntolerance = {
    resourceType: 'AllergyIntolerance',
    id: allergyId(patient, code),
    clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical', code: 'active' }] },
    code,
    patient: { reference: `Patient/${patient}` },
  };
  const type = al1.get(2).toUpperCase();
  const category = CATEGORY[type];
  if (category) allergy.category = [category];
  if (type === 'MC') allergy.type = 'intolerance';
  else if (category) allergy.type = 'allergy';
  const severity = SEVERITY[al1.get(4).toUpperCase()];
  if (severity) allergy.criticality = severity.criticality;
  const manifestations = al1.repetitions(5).map((r) => r.get(1)).filter((t) => t !== '');
  if (manifestations.length) {
    allergy.reaction = [{ manifestation: manifestations.map((text) => ({ text })), ...(severity?.severity ? { severity: severity.severity } : {}) }];
  }
  const onset = hl7ToFhirDateTime(al1.get(6), options.timezone);
  if (onset) allergy.onsetDateTime = onset;
  return { kind: 'upsert', resource: allergy, patient, replace: true };
}
