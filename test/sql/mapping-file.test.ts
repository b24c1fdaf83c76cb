/**
 * A schema that is not OpenMRS, served by writing a mapping only: a small clinic database
 * (patients, vital signs, a vital-kind dictionary) created here, read through the JSON mapping
 * in `fixtures/tiny-clinic.mapping.json` via the `sql` source kind, on SQLite, MariaDB and
 * PostgreSQL, with searches pushed down and compared with an in-memory evaluation.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { matchesSearchRequest, parseSearchRequest } from '@medplum/core';
import type { Observation, Patient, Resource } from '@medplum/fhirtypes';
import { sql } from 'kysely';
import pino from 'pino';
import t from 'tap';
import type { EhrAdapter } from '../../adapters/ehr-adapter.ts';
import { loadFhirDefinitions } from '../../adapters/fhir-definitions.ts';
import { adapterKinds } from '../../adapters/registry.ts';
import { openSqlConnection, type SqlConnectionOptions, type SqlDialectName } from '../../adapters/sql/sql-connection.ts';
import { createEmptyDatabase } from './support/openmrs-databases.ts';
import { requireServer } from '../support/database-servers.ts';

const MAPPING = 'test/sql/fixtures/tiny-clinic.mapping.json';
const log = pino({ level: 'silent' });
const signal = (): AbortSignal => AbortSignal.timeout(30_000);

async function createTinyClinic(options: SqlConnectionOptions): Promise<void> {
  const w = openSqlConnection(options);
  const timestamp = sql.raw(options.dialect === 'postgres' ? 'timestamp' : 'datetime');
  try {
    await sql`create table clinic_patient (id integer primary key, ext_id varchar(40) not null unique, mrn varchar(20), surname varchar(80),
      forename varchar(80), sex char(1), born date, updated_at ${timestamp} not null, deleted smallint not null)`.execute(w.db);
    await sql`create table vital_kind (id integer primary key, loinc varchar(20) not null, label varchar(80) not null, unit varchar(20))`.execute(w.db);
    await sql`create table vital (id integer primary key, ext_id varchar(40) not null unique, patient_id integer not null, kind_id integer not null,
      value double precision, taken_at ${timestamp} not null, updated_at ${timestamp} not null)`.execute(w.db);
    await sql`create index vital_patient_taken on vital (patient_id, taken_at)`.execute(w.db);
    await sql`insert into clinic_patient values
      (1, 'pt-ada', 'MRN-1', 'Lovelace', 'Ada', 'F', '1975-12-10', '2024-05-01 10:00:00', 0),
      (2, 'pt-alan', 'MRN-2', 'Turing', 'Alan', 'M', '1982-06-23', '2024-05-02 10:00:00', 0),
      (3, 'pt-grace', 'MRN-3', 'Hopper', 'Grace', 'F', null, '2024-05-03 10:00:00', 0),
      (4, 'pt-gone', 'MRN-4', 'Deleted', 'Dora', 'F', '1990-01-01', '2024-05-04 10:00:00', 1)`.execute(w.db);
    await sql`insert into vital_kind values (1, '8480-6', 'Systolic blood pressure', 'mm[Hg]'), (2, '8867-4', 'Heart rate', '/min'), (3, '29463-7', 'Body weight', 'kg')`.execute(w.db);
    const rows = [];
    for (let i = 1; i <= 36; i++) {
      const patient = 1 + (i % 4);
      const kind = 1 + (i % 3);
      const taken = `2024-${String(1 + (i % 12)).padStart(2, '0')}-${String(1 + (i % 27)).padStart(2, '0')} 0${i % 10}:15:00`;
      rows.push(sql`(${i}, ${`vt-${i}`}, ${patient}, ${kind}, ${60 + i}, ${taken}, ${taken})`);
    }
    await sql`insert into vital values ${sql.join(rows)}`.execute(w.db);
  } finally {
    await w.close();
  }
}

for (const dialect of ['sqlite', 'mariadb', 'postgres'] as const satisfies readonly SqlDialectName[]) {
  t.test(`a JSON mapping file serves a non-OpenMRS schema on ${dialect}, searches pushed down`, async (t) => {
    if (!(await requireServer(t, dialect))) return;
    loadFhirDefinitions();
    const database = await createEmptyDatabase(dialect);
    t.teardown(() => database.drop());
    await createTinyClinic(database.writable);
    const { options } = database;
    const factory = await adapterKinds.sql?.();
    if (!factory) throw new Error('sql kind not registered');
    const adapter: EhrAdapter = await factory(
      {
        id: 'tiny',
        kind: 'sql',
        provider: '0x0',
        name: 'Tiny Clinic',
        options: {
          dialect,
          ...(dialect === 'sqlite' ? { filename: options.filename } : { host: options.host, port: options.port, user: options.user, database: options.database }),
          mapping: MAPPING,
        },
      },
      { log, dataDir: '/nonexistent' },
    );
    t.teardown(() => adapter.close());

    t.same(Object.keys(adapter.capabilities().resources).sort(), ['Observation', 'Patient']);
    const ada = (await adapter.read('Patient', 'pt-ada', signal())) as Patient;
    t.same(ada, {
      resourceType: 'Patient', id: 'pt-ada', meta: { lastUpdated: '2024-05-01T10:00:00Z' },
      identifier: [{ system: 'urn:tiny-clinic:mrn', value: 'MRN-1' }], name: [{ family: 'Lovelace', given: ['Ada'] }], gender: 'female', birthDate: '1975-12-10',
    }, 'every mapped element');
    t.equal(await adapter.read('Patient', 'pt-gone', signal()), undefined, 'the mapping\'s own where clause (deleted rows) holds');
    const weight = (await adapter.read('Observation', 'vt-2', signal())) as Observation;
    t.same(weight.code, { coding: [{ system: 'http://loinc.org', code: '29463-7', display: 'Body weight' }], text: 'Body weight' }, 'dictionary lookup');
    t.same(weight.valueQuantity, { value: 62, unit: 'kg' });
    t.same(weight.subject, { reference: 'Patient/pt-grace' });

    const everything = async (type: string): Promise<readonly Resource[]> => (await adapter.search({ resourceType: type, filters: [], count: 1000 }, signal())).resources;
    const all = { Patient: await everything('Patient'), Observation: await everything('Observation') };
    t.equal(all.Patient.length, 3);
    t.equal(all.Observation.length, 27, 'vitals of the deleted patient are left out');

    const cases: readonly [string, string[]?][] = [
      ['Patient?gender=female'], ['Patient?birthdate=lt1980'], ['Patient?gender:not=male'], ['Patient?birthdate=ge1980-01-01&gender=male'],
      ['Observation?code=http://loinc.org|8480-6'], ['Observation?code=8867-4,29463-7'], ['Observation?date=ge2024-06'], ['Observation?date=2024-03'],
      ['Observation?code=http://loinc.org|8480-6&date=lt2024-07', ['pt-ada', 'pt-alan']], ['Observation?_id=vt-3,vt-5'], ['Observation?_lastUpdated=gt2024-10-01'],
    ];
    for (const [query, patients] of cases) {
      const request = parseSearchRequest(query);
      const expected = (all[request.resourceType as 'Patient' | 'Observation'] ?? [])
        .filter((r) => matchesSearchRequest(r, request))
        .filter((r) => !patients || patients.some((p) => r.id === p || (r as Observation).subject?.reference === `Patient/${p}`))
        .map((r) => r.id)
        .sort();
      const page = await adapter.search({ resourceType: request.resourceType, filters: request.filters ?? [], patients, count: 1000, total: true }, signal());
      t.same(page.resources.map((r) => r.id).sort(), expected, `${query}: ${expected.length} match`);
      // A total is only counted when the database evaluated every filter.
      t.equal(page.total, expected.length, `${query}: evaluated in SQL (total counted)`);
    }
    const byName = await adapter.search({ resourceType: 'Patient', filters: parseSearchRequest('Patient?name=hop').filters ?? [], count: 10, total: true }, signal());
    t.same([byName.resources.map((r) => r.id), byName.total], [['pt-grace'], undefined], 'a searchInMemory parameter is filtered after the query');

    const paged: string[] = [];
    let page: string | undefined;
    do {
      const result = await adapter.search({ resourceType: 'Observation', filters: [], sort: [{ code: 'date', descending: true }], count: 5, page }, signal());
      paged.push(...result.resources.map((r) => r.id as string));
      page = result.next;
    } while (page);
    t.same([...paged].sort(), all.Observation.map((r) => r.id).sort(), 'keyset pages cover everything once');
  });
}

t.test('a mapping file that is missing, not JSON or not a valid mapping stops the source with one line naming it', async (t) => {
  const factory = await adapterKinds.sql?.();
  if (!factory) throw new Error('sql kind not registered');
  const dir = mkdtempSync(join(tmpdir(), 'medrec-mapping-'));
  const file = (name: string, text: string): string => {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  };
  const bad: [string, RegExp][] = [
    [join(dir, 'missing.json'), /options.mapping .*missing.json: cannot be read \(ENOENT\)/],
    [file('garbage.json', '{ "name": '), /is not JSON/],
    [file('array.json', '[]'), /refused: mapping: must be an object/],
    [file('wrong-types.json', JSON.stringify({ name: 'x', resources: { Patient: { from: 'person', select: [], key: 1, id: 'p.uuid', lastUpdated: 'p.x', resource: 'body', search: null } } })), /mapping x refused: .*from: must be an object/],
    [file('write.json', JSON.stringify({ name: 'w', resources: { Patient: { from: { table: 'person; delete from person', as: 'p' }, select: { a: 'p.a' }, key: 'p.id', id: 'p.id', lastUpdated: 'p.t', resource: { object: {} }, search: {} } } })), /is not an identifier/],
  ];
  for (const [mapping, message] of bad) {
    const options = { dialect: 'sqlite', filename: join(dir, 'none.sqlite'), mapping };
    await t.rejects(factory({ id: 'tiny', kind: 'sql', provider: '0x0', name: 'Tiny', options }, { log, dataDir: dir }), message, mapping);
    try {
      await factory({ id: 'tiny', kind: 'sql', provider: '0x0', name: 'Tiny', options }, { log, dataDir: dir });
    } catch (err) {
      t.notOk(String((err as Error).message).includes('\n'), 'one line');
      t.match((err as Error).message, /^source tiny: /);
    }
  }
  await t.rejects(
    factory({ id: 'tiny', kind: 'sql', provider: '0x0', name: 'Tiny', options: { dialect: 'sqlite', filename: 'x', mapping: MAPPING, profile: 'openmrs' } }, { log, dataDir: dir }),
    /options.mapping replaces the built-in profile/,
  );
});
