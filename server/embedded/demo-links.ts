/**
 * The embedded demo's patient links: which local patient id each demo person has at each source.
 * A provider node keeps this table privately; the chain only holds a salted commitment of each
 * row (the contracts seed takes this list as input). Sources added by other adapters (SQL,
 * HL7v2) append their demo rows here.
 */
import { HL7_DEMO_LOCAL_IDS, HL7_DEMO_SOURCE_ID } from '../../adapters/hl7v2/demo-feed-source.ts';
import { OPENMRS_DEMO_LINKS } from '../../adapters/sql/openmrs/openmrs-demo.ts';

export interface DemoPatientLink {
  /** Demo cast handle (`alice`, ...): `demoAddress(patient)` is the patient key. */
  readonly patient: string;
  /** Source id from the source configuration (`hospital`, ...). */
  readonly sourceId: string;
  /** The patient's id in that source's own records. */
  readonly localId: string;
}

export const DEMO_PATIENT_LINKS: readonly DemoPatientLink[] = [
  // Mercy General Hospital: Synthea R4 records (cql-exec-fhir fixtures) plus one written fixture.
  { patient: 'alice', sourceId: 'hospital', localId: 'ea877536-55b1-4ec8-a12b-e95594214c01' },
  { patient: 'bob', sourceId: 'hospital', localId: '356a0ab8-5592-4ec5-8c3a-9a4d0857b793' },
  { patient: 'carol', sourceId: 'hospital', localId: 'c0a7e11e-0000-4000-8000-00000000ca01' },
  // Riverside Family Clinic: its own MRN-style ids.
  { patient: 'alice', sourceId: 'clinic', localId: 'rfc-1001' },
  { patient: 'carol', sourceId: 'clinic', localId: 'rfc-1002' },
  { patient: 'dave', sourceId: 'clinic', localId: 'rfc-1003' },
  // Corner Pharmacy's dispensing records.
  { patient: 'alice', sourceId: 'pharmacy-records', localId: 'cp-77001' },
  { patient: 'bob', sourceId: 'pharmacy-records', localId: 'cp-77002' },
  { patient: 'dave', sourceId: 'pharmacy-records', localId: 'cp-77003' },
  // Hillside OpenMRS Clinic: OpenMRS person uuids from its seed.
  ...OPENMRS_DEMO_LINKS,
  // St. Luke's Medical Center: MRNs from its HL7v2 feed (PID-3).
  ...Object.entries(HL7_DEMO_LOCAL_IDS).map(([patient, localId]) => ({ patient, sourceId: HL7_DEMO_SOURCE_ID, localId })),
];
