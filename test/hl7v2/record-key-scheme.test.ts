/**
 * A store records the key scheme its records were filed under. Opened by a release whose ids
 * differ, it is rebuilt from its inbox: the messages that converted are converted again, in
 * order, under the current ids, so a restatement after the upgrade updates the record instead of
 * filing a second one beside it; messages that failed stay failed (no second dead letter).
 * Release 1's stores are made here the way it left them: no recorded scheme, its ids.
 */
import t, { type Test } from 'tap';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import pg from 'pg';
import type { DiagnosticReport, Encounter, Observation, Patient, Resource } from '@medplum/fhirtypes';
import { derivedId } from '../../adapters/hl7v2/conversion/v2-datatypes.ts';
import { SqliteHl7Store } from '../../adapters/hl7v2/store/sqlite-store.ts';
import { postgresDatabase } from '../support/postgres-database.ts';
import { message, msh, openSource, pid, ramTmpdir, seg } from './support/hl7v2-harness.ts';

const MRN = 'A/1';
const PATIENT_NOW = 'TESTHOSP-A.2F1';
/** Release 1's ids for these messages' records (visit and accession numbers without namespace or sender). */
const SCHEME_ONE: Readonly<Record<string, string>> = {
  Patient: 'TESTHOSP-A-1',
  Encounter: derivedId('enc', 'visit', 'V1', ''),
  DiagnosticReport: derivedId('dr', 'filler', 'ACC1', '', 'LN|2345-7'),
  Observation: derivedId('obs', 'filler', 'ACC1', '', 'LN|2345-7', ''),
};

const admit = message([msh({ type: 'ADT^A01^ADT_A01', control: 'k1' }), pid(MRN), seg('PV1', { 1: '1', 2: 'I', 19: 'V1', 44: '20250101080000' })]);
const oru = (control: string, mrn: string, value: string, status: string): string => message([
  msh({ type: 'ORU^R01^ORU_R01', control }), pid(mrn), seg('PV1', { 1: '1', 2: 'I', 19: 'V1' }),
  seg('OBR', { 1: '1', 3: 'ACC1', 4: '2345-7^Glucose^LN', 25: status }), `OBX|1|NM|2345-7^Glucose^LN||${value}|mg/dL|||||${status}`,
]);

interface Backend {
  readonly options: Record<string, unknown>;
  /** Rewrites the store as release 1 left it: its ids (text replaced everywhere), no recorded scheme. */
  toSchemeOne(renames: ReadonlyMap<string, string>): Promise<void>;
}

async function rebuildsOnOpen(t: Test, backend: Backend): Promise<void> {
  const first = await openSource({ mllp: false, ...backend.options }, 'hl7-keys', ramTmpdir());
  for (const m of [admit, oru('k2', MRN, '95', 'F'), oru('k3', 'B2', '300', 'F')]) await first.source.acceptText(m);
  const renames = new Map<string, string>();
  for (const type of Object.keys(SCHEME_ONE)) {
    const [resource, ...more] = await first.all(type);
    t.equal(more.length, 0, `one ${type}`);
    renames.set(resource!.id!, SCHEME_ONE[type]!);
  }
  t.equal((await first.source.store.deadLetters({ limit: 10 })).length, 1, "the same accession for another patient failed (AE 205)");
  await first.close();
  await backend.toSchemeOne(renames);

  const upgraded = await openSource({ mllp: false, ...backend.options }, 'hl7-keys', ramTmpdir());
  t.teardown(() => upgraded.close());
  const ids = async (type: string): Promise<string[]> => (await upgraded.all(type)).map((r: Resource) => r.id!);
  t.same(await ids('Patient'), [PATIENT_NOW], 'the Patient under its current id, none under the old one');
  for (const type of ['Encounter', 'DiagnosticReport', 'Observation']) t.same(await ids(type), [[...renames].find(([, old]) => old === SCHEME_ONE[type])![0]], `${type} under its current id`);
  const encounter = (await upgraded.all('Encounter'))[0] as Encounter;
  t.same([encounter.subject?.reference, encounter.period?.start], [`Patient/${PATIENT_NOW}`, '2025-01-01T08:00:00Z'], 'rebuilt with its content');
  t.equal((await upgraded.source.store.deadLetters({ limit: 10 })).length, 1, 'the failed message stayed failed: no second dead letter');

  await upgraded.source.acceptText(oru('k4', MRN, '96', 'C'));
  await upgraded.source.acceptText(message([msh({ type: 'ADT^A08^ADT_A01', control: 'k5' }), pid(MRN, { 5: 'Doe^Janet' }), seg('PV1', { 1: '1', 2: 'I', 19: 'V1' })]));
  const observations = (await upgraded.all('Observation')) as Observation[];
  t.same(observations.map((o) => [o.valueQuantity?.value, o.status, o.meta?.versionId]), [[96, 'corrected', '2']], 'the correction replaced the result: no second one beside it');
  t.equal((await upgraded.all('DiagnosticReport') as DiagnosticReport[]).length, 1);
  t.same((await upgraded.all('Patient') as Patient[]).map((p) => p.name?.[0]?.given), [['Janet']], 'the A08 updated the one Patient');
  await upgraded.close();

  const again = await openSource({ mllp: false, ...backend.options }, 'hl7-keys', ramTmpdir());
  t.teardown(() => again.close());
  t.same((await again.all('Observation')).map((o) => o.meta?.versionId), ['2'], 'a store under the current scheme is not rebuilt again');
}

t.test('SQLite: a store filed under record key scheme 1 is rebuilt from its inbox when opened', async (t) => {
  const file = join(mkdtempSync(join(ramTmpdir(), 'medrec-hl7v2-keys-')), 'store.sqlite');
  await rebuildsOnOpen(t, {
    options: { store: { kind: 'sqlite', file } },
    async toSchemeOne(renames) {
      const db = new DatabaseSync(file);
      db.exec('DROP TABLE store_meta');
      const rename = db.prepare('UPDATE resources SET id = replace(id, ?1, ?2), patient = replace(patient, ?1, ?2), json = replace(json, ?1, ?2)');
      for (const [now, then] of renames) rename.run(now, then);
      db.close();
    },
  });
});

t.test('PostgreSQL: a store filed under record key scheme 1 is rebuilt from its inbox when opened', async (t) => {
  const url = await postgresDatabase(t, 'medrec_hl7v2_keys');
  await rebuildsOnOpen(t, {
    options: { store: { kind: 'postgres', connectionString: url, schema: 'hl7v2_keys' } },
    async toSchemeOne(renames) {
      const db = new pg.Client({ connectionString: url });
      await db.connect();
      await db.query('DROP TABLE hl7v2_keys.store_meta');
      for (const [now, then] of renames) {
        await db.query('UPDATE hl7v2_keys.resources SET id = replace(id, $1, $2), patient = replace(patient, $1, $2), body = replace(body::text, $1, $2)::jsonb', [now, then]);
      }
      await db.end();
    },
  });
});

t.test('a store written by a newer release (a higher key scheme) is refused, not rebuilt backwards', async (t) => {
  const file = join(mkdtempSync(join(ramTmpdir(), 'medrec-hl7v2-keys-')), 'store.sqlite');
  await new SqliteHl7Store(file).close();
  const db = new DatabaseSync(file);
  db.exec("UPDATE store_meta SET value = '99' WHERE name = 'record_key_scheme'");
  db.close();
  t.throws(() => new SqliteHl7Store(file), /key scheme 99; this release knows 1 to \d+/);
});
