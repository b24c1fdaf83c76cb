/**
 * Regenerates the embedded demo's record files (`node server/embedded/demo-data/build-demo-data.ts`).
 *
 * - `hospital.json`: slices of two Synthea R4 patients shipped by the cql-exec-fhir package
 *   (Apache-2.0, https://github.com/cqframework/cql-exec-fhir, test/fixtures/r4), with
 *   `urn:uuid:` references rewritten to `Type/id`, narratives and billing resources dropped,
 *   plus one written fixture patient (carol).
 * - `clinic.json`, `pharmacy-records.json`: fixtures written here, about the same people.
 *
 * The server reads only the generated files; node_modules is not needed at runtime.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Bundle, BundleEntry, Resource } from '@medplum/fhirtypes';

const here = dirname(fileURLToPath(import.meta.url));
const syntheaDir = join(here, '../../../node_modules/cql-exec-fhir/test/fixtures/r4');
const LAST_UPDATED = '2026-01-15T09:00:00.000Z';

type Json = Record<string, unknown>;

function rewriteUrnReferences(value: unknown, types: Map<string, string>): unknown {
  if (Array.isArray(value)) return value.map((v) => rewriteUrnReferences(v, types));
  if (value && typeof value === 'object') {
    const out: Json = {};
    for (const [k, v] of Object.entries(value as Json)) {
      if (k === 'reference' && typeof v === 'string' && v.startsWith('urn:uuid:')) {
        const id = v.slice('urn:uuid:'.length);
        const type = types.get(id);
        out[k] = type ? `${type}/${id}` : v;
      } else {
        out[k] = rewriteUrnReferences(v, types);
      }
    }
    return out;
  }
  return value;
}

function sliceSynthea(file: string, observations: number): Resource[] {
  const bundle = JSON.parse(readFileSync(join(syntheaDir, file), 'utf8')) as Bundle;
  const all = (bundle.entry ?? []).map((e: BundleEntry) => e.resource as Resource);
  const types = new Map(all.map((r) => [r.id as string, r.resourceType]));
  const keep = new Set<Resource>();
  const byType = (t: string) => all.filter((r) => r.resourceType === t);
  for (const t of ['Patient', 'Organization', 'Practitioner', 'MedicationRequest', 'Condition', 'AllergyIntolerance']) {
    for (const r of byType(t)) keep.add(r);
  }
  // The most recent observations and immunizations: enough to search and sort, small enough to read.
  const recent = (t: string, n: number) =>
    byType(t)
      .sort((a, b) => String((b as unknown as Json).effectiveDateTime ?? (b as unknown as Json).occurrenceDateTime).localeCompare(String((a as unknown as Json).effectiveDateTime ?? (a as unknown as Json).occurrenceDateTime)))
      .slice(0, n);
  for (const r of recent('Observation', observations)) keep.add(r);
  for (const r of recent('Immunization', 3)) keep.add(r);
  // Encounters that the kept resources point at.
  const wanted = new Set<string>();
  for (const r of keep) {
    const enc = (r as unknown as Json).encounter as { reference?: string } | undefined;
    if (enc?.reference) wanted.add(enc.reference.replace('urn:uuid:', ''));
  }
  for (const r of byType('Encounter')) if (wanted.has(r.id as string)) keep.add(r);
  return all
    .filter((r) => keep.has(r))
    .map((r) => {
      const copy = rewriteUrnReferences(r, types) as Json;
      delete copy.text;
      copy.meta = { lastUpdated: LAST_UPDATED };
      return copy as unknown as Resource;
    });
}

const rxnorm = 'http://www.nlm.nih.gov/research/umls/rxnorm';
const loinc = 'http://loinc.org';
const snomed = 'http://snomed.info/sct';

function med(code: string, display: string) {
  return { coding: [{ system: rxnorm, code, display }], text: display };
}

function meta(lastUpdated = LAST_UPDATED) {
  return { lastUpdated };
}

function patient(id: string, system: string, family: string, given: string, gender: string, birthDate: string): Resource {
  return {
    resourceType: 'Patient', id, meta: meta(),
    identifier: [{ use: 'usual', system, value: id.toUpperCase() }],
    name: [{ use: 'official', family, given: [given] }], gender, birthDate,
  } as Resource;
}

function medicationRequest(id: string, patientRef: string, status: string, authoredOn: string, medication: Json, extra: Json = {}): Resource {
  return {
    resourceType: 'MedicationRequest', id, meta: meta(authoredOn.length > 10 ? new Date(authoredOn).toISOString() : LAST_UPDATED),
    status, intent: 'order', subject: { reference: patientRef }, authoredOn, ...medication, ...extra,
  } as Resource;
}

function observation(id: string, patientRef: string, code: string, display: string, value: number, unit: string, when: string): Resource {
  return {
    resourceType: 'Observation', id, meta: meta(), status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
    code: { coding: [{ system: loinc, code, display }], text: display },
    subject: { reference: patientRef }, effectiveDateTime: when,
    valueQuantity: { value, unit, system: 'http://unitsofmeasure.org', code: unit },
  } as Resource;
}

// Carol's hospital record (a written fixture; the Synthea slices provide alice and bob).
const carolHospital = 'c0a7e11e-0000-4000-8000-00000000ca01';
const hospitalExtra: Resource[] = [
  patient(carolHospital, 'urn:oid:2.16.840.1.113883.19.5', 'Okafor', 'Carol', 'female', '1971-05-14'),
  medicationRequest('c0a7e11e-0000-4000-8000-00000000ca02', `Patient/${carolHospital}`, 'active', '2025-11-03T10:15:00Z',
    { medicationCodeableConcept: med('314076', 'lisinopril 10 MG Oral Tablet') }),
  {
    resourceType: 'Condition', id: 'c0a7e11e-0000-4000-8000-00000000ca03', meta: meta(),
    clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] },
    code: { coding: [{ system: snomed, code: '38341003', display: 'Hypertensive disorder' }], text: 'Hypertension' },
    subject: { reference: `Patient/${carolHospital}` }, onsetDateTime: '2019-02-01',
  } as Resource,
];

const clinicSystem = 'https://riverside-clinic.example/mrn';
const clinic: Resource[] = [
  { resourceType: 'Organization', id: 'org-rfc', meta: meta(), name: 'Riverside Family Clinic' } as Resource,
  { resourceType: 'Practitioner', id: 'dr-lee', meta: meta(), name: [{ family: 'Lee', given: ['Morgan'], prefix: ['Dr.'] }] } as Resource,
  patient('rfc-1001', clinicSystem, 'Hermiston71', 'Johnnie679', 'female', '2009-03-20'),
  patient('rfc-1002', clinicSystem, 'Okafor', 'Carol', 'female', '1971-05-14'),
  patient('rfc-1003', clinicSystem, 'Brennan', 'Dave', 'male', '1958-09-30'),
  medicationRequest('mr-5001', 'Patient/rfc-1001', 'active', '2025-09-12T14:30:00Z',
    { medicationCodeableConcept: med('608139', 'atomoxetine 100 MG Oral Capsule') },
    { requester: { reference: 'Practitioner/dr-lee' }, dosageInstruction: [{ text: 'One capsule daily' }] }),
  medicationRequest('mr-5002', 'Patient/rfc-1001', 'completed', '2024-02-20T09:00:00Z',
    { medicationCodeableConcept: med('308182', 'Amoxicillin 250 MG Oral Capsule') },
    { requester: { reference: 'Practitioner/dr-lee' } }),
  medicationRequest('mr-5003', 'Patient/rfc-1002', 'active', '2025-12-01T11:00:00Z',
    { medicationCodeableConcept: med('197361', 'amlodipine 5 MG Oral Tablet') },
    { requester: { reference: 'Practitioner/dr-lee' } }),
  medicationRequest('mr-5004', 'Patient/rfc-1003', 'active', '2025-10-05T16:45:00Z',
    { medicationCodeableConcept: med('860975', 'metformin hydrochloride 500 MG Oral Tablet') },
    { requester: { reference: 'Practitioner/dr-lee' } }),
  observation('obs-7001', 'Patient/rfc-1001', '29463-7', 'Body Weight', 52.3, 'kg', '2025-09-12T14:10:00Z'),
  observation('obs-7002', 'Patient/rfc-1002', '8480-6', 'Systolic blood pressure', 148, 'mm[Hg]', '2025-12-01T10:40:00Z'),
  observation('obs-7003', 'Patient/rfc-1003', '4548-4', 'Hemoglobin A1c/Hemoglobin.total in Blood', 7.1, '%', '2025-10-05T16:20:00Z'),
  {
    resourceType: 'AllergyIntolerance', id: 'al-9001', meta: meta(),
    clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical', code: 'active' }] },
    code: { coding: [{ system: rxnorm, code: '7980', display: 'Penicillin G' }], text: 'Penicillin' },
    patient: { reference: 'Patient/rfc-1001' }, criticality: 'high',
  } as Resource,
  {
    resourceType: 'Condition', id: 'cond-3001', meta: meta(),
    clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] },
    code: { coding: [{ system: snomed, code: '44054006', display: 'Diabetes mellitus type 2' }], text: 'Type 2 diabetes' },
    subject: { reference: 'Patient/rfc-1003' }, onsetDateTime: '2021-06-01',
  } as Resource,
];

const pharmacySystem = 'https://corner-pharmacy.example/customer';
const pharmacy: Resource[] = [
  { resourceType: 'Organization', id: 'corner-pharmacy', meta: meta(), name: 'Corner Pharmacy' } as Resource,
  patient('cp-77001', pharmacySystem, 'Hermiston71', 'Johnnie679', 'female', '2009-03-20'),
  patient('cp-77002', pharmacySystem, 'McCullough561', 'Luna60', 'female', '2008-11-06'),
  patient('cp-77003', pharmacySystem, 'Brennan', 'Dave', 'male', '1958-09-30'),
  { resourceType: 'Medication', id: 'med-608139', meta: meta(), code: med('608139', 'atomoxetine 100 MG Oral Capsule') } as Resource,
  { resourceType: 'Medication', id: 'med-198405', meta: meta(), code: med('198405', 'Ibuprofen 100 MG Oral Tablet') } as Resource,
  { resourceType: 'Medication', id: 'med-860975', meta: meta(), code: med('860975', 'metformin hydrochloride 500 MG Oral Tablet') } as Resource,
  medicationRequest('rx-880001', 'Patient/cp-77001', 'active', '2025-09-13T08:05:00Z',
    { medicationReference: { reference: 'Medication/med-608139' } },
    { dispenseRequest: { numberOfRepeatsAllowed: 5, quantity: { value: 30, unit: 'capsule' } } }),
  medicationRequest('rx-880002', 'Patient/cp-77002', 'completed', '2024-03-02T12:00:00Z',
    { medicationReference: { reference: 'Medication/med-198405' } }),
  medicationRequest('rx-880003', 'Patient/cp-77003', 'active', '2025-10-06T09:30:00Z',
    { medicationReference: { reference: 'Medication/med-860975' } },
    { dispenseRequest: { numberOfRepeatsAllowed: 11, quantity: { value: 60, unit: 'tablet' } } }),
  {
    resourceType: 'MedicationDispense', id: 'disp-1', meta: meta(), status: 'completed',
    medicationReference: { reference: 'Medication/med-608139' }, subject: { reference: 'Patient/cp-77001' },
    authorizingPrescription: [{ reference: 'MedicationRequest/rx-880001' }],
    quantity: { value: 30, unit: 'capsule' }, whenHandedOver: '2025-09-13T17:20:00Z',
  } as Resource,
  {
    resourceType: 'MedicationDispense', id: 'disp-2', meta: meta(), status: 'completed',
    medicationReference: { reference: 'Medication/med-860975' }, subject: { reference: 'Patient/cp-77003' },
    authorizingPrescription: [{ reference: 'MedicationRequest/rx-880003' }],
    quantity: { value: 60, unit: 'tablet' }, whenHandedOver: '2025-10-06T15:00:00Z',
  } as Resource,
];

function write(name: string, resources: Resource[], note: string): void {
  const bundle: Bundle = {
    resourceType: 'Bundle', type: 'collection',
    meta: { tag: [{ system: 'urn:medrec:demo', code: 'demo-data', display: note }] },
    entry: resources.map((resource) => ({ fullUrl: `${resource.resourceType}/${resource.id}`, resource })),
  };
  writeFileSync(join(here, name), JSON.stringify(bundle, null, 1) + '\n');
  console.log(`${name}: ${resources.length} resources`);
}

write('hospital.json', [
  ...sliceSynthea('Johnnie679_Hermiston71_2cd30bd6-3a87-4191-af90-6daa70f58f55.json', 12),
  ...sliceSynthea('Luna60_McCullough561_6662f0ca-b617-4e02-8f55-7275e9f49aa0.json', 12),
  ...hospitalExtra,
], 'Synthea R4 slices from cql-exec-fhir (Apache-2.0) plus written fixtures');
write('clinic.json', clinic, 'Written fixtures');
write('pharmacy-records.json', pharmacy, 'Written fixtures');
