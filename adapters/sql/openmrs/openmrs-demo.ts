/**
 * What the embedded demo needs to run "Hillside OpenMRS Clinic" as an OpenMRS database: the
 * `sql` source options (a SQLite file under the data directory, seeded on first start) and the
 * local ids (OpenMRS person uuids) of the demo patients it holds.
 */
import { OPENMRS_DEMO_PATIENTS } from './openmrs-seed.ts';

export const OPENMRS_DEMO_SOURCE_ID = 'openmrs-clinic';

/** `SourceConfig.options` for the demo source (kind `sql`). */
export const OPENMRS_DEMO_SOURCE_OPTIONS: Readonly<Record<string, unknown>> = {
  dialect: 'sqlite',
  filename: 'openmrs-clinic.sqlite',
  profile: 'openmrs',
  seedDemo: { patients: 40, obsPerPatient: 20, encountersPerPatient: 3, ordersPerPatient: 1 },
};

/** Rows for server/embedded/demo-links.ts. */
export const OPENMRS_DEMO_LINKS: readonly { readonly patient: string; readonly sourceId: string; readonly localId: string }[] = [
  { patient: 'alice', sourceId: OPENMRS_DEMO_SOURCE_ID, localId: OPENMRS_DEMO_PATIENTS.alice },
  { patient: 'bob', sourceId: OPENMRS_DEMO_SOURCE_ID, localId: OPENMRS_DEMO_PATIENTS.bob },
  { patient: 'carol', sourceId: OPENMRS_DEMO_SOURCE_ID, localId: OPENMRS_DEMO_PATIENTS.carol },
];
