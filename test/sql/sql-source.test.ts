import { existsSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Patient } from '@medplum/fhirtypes';
import pino from 'pino';
import t from 'tap';
import { adapterKinds } from '../../adapters/registry.ts';
import { OPENMRS_DEMO_LINKS, OPENMRS_DEMO_SOURCE_OPTIONS } from '../../adapters/sql/openmrs/openmrs-demo.ts';
import { openmrsMapping } from '../../adapters/sql/openmrs/openmrs-profile.ts';
import { parseSqlSourceOptions } from '../../adapters/sql/sql-source.ts';
import type { SourceConfig } from '../../adapters/source-config.ts';

const log = pino({ level: 'silent' });
const config = (options: Record<string, unknown>): SourceConfig => ({ id: 'emr', kind: 'sql', provider: '0x0', name: 'EMR', options });

t.test('options: credentials only from the environment, clear errors for bad configuration', async (t) => {
  const ctx = { dataDir: '/data' };
  const parsed = parseSqlSourceOptions(
    config({ dialect: 'mariadb', host: 'db.hospital.internal', port: 3306, database: 'openmrs', user: 'medrec_ro', passwordEnv: 'OPENMRS_DB_PASSWORD', openmrs: { locations: ['loc-1'] } }),
    ctx,
    { OPENMRS_DB_PASSWORD: 's3cret' },
  );
  t.same(parsed.connection, {
    dialect: 'mariadb', host: 'db.hospital.internal', port: 3306, database: 'openmrs', user: 'medrec_ro', password: 's3cret',
    filename: undefined, poolSize: undefined, statementTimeoutMs: undefined,
  });
  t.same(parsed.mapping, openmrsMapping({ locations: ['loc-1'] }), 'the OpenMRS profile with the site options');
  t.equal(parsed.schema, 'profile openmrs');
  t.equal(parsed.timeZone, 'UTC', 'date-time columns are UTC unless told');
  t.equal(parseSqlSourceOptions(config({ dialect: 'postgres', database: 'x', timezone: 'Africa/Nairobi' }), ctx).timeZone, 'Africa/Nairobi');
  t.equal(parseSqlSourceOptions(config({ dialect: 'sqlite', filename: 'x.sqlite' }), ctx).connection.filename, '/data/x.sqlite', 'relative sqlite paths live in the data dir');
  const errors: [Record<string, unknown>, RegExp][] = [
    [{}, /options.dialect must be one of/],
    [{ dialect: 'oracle', database: 'x' }, /options.dialect/],
    [{ dialect: 'postgres', database: 'x', password: 'inline' }, /environment variable/],
    [{ dialect: 'postgres', database: 'x', passwordEnv: 'MISSING_PW_VAR' }, /MISSING_PW_VAR .* is not set/],
    [{ dialect: 'postgres' }, /options.database is required/],
    [{ dialect: 'sqlite' }, /options.filename is required/],
    [{ dialect: 'postgres', database: 'x', port: 70000 }, /options.port/],
    [{ dialect: 'postgres', database: 'x', openmrs: { sql: 'DELETE' } }, /options.openmrs.sql is not an OpenMRS profile option/],
    [{ dialect: 'postgres', database: 'x', openmrs: { locations: 'all' } }, /options.openmrs.locations must be a list/],
    [{ dialect: 'postgres', database: 'x', profile: 'epic' }, /options.profile/],
    [{ dialect: 'postgres', database: 'x', seedDemo: {} }, /seedDemo .* for sqlite only/],
    [{ dialect: 'postgres', database: 'x', mapingFile: 'x.json' }, /options.mapingFile is not a sql source option/],
    [{ dialect: 'postgres', database: 'x', timezone: 'Nairobi' }, /options.timezone must be an IANA time zone name/],
  ];
  for (const [options, message] of errors) t.throws(() => parseSqlSourceOptions(config(options), ctx, {}), message, JSON.stringify(options));
});

t.test('the demo source: the sql kind seeds an OpenMRS SQLite file in the data dir once and serves the demo patients', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'medrec-sql-demo-'));
  const factory = await adapterKinds.sql?.();
  if (!factory) throw new Error('sql kind not registered');
  const source: SourceConfig = { id: 'openmrs-clinic', kind: 'sql', provider: '0x0', name: 'Hillside OpenMRS Clinic', options: OPENMRS_DEMO_SOURCE_OPTIONS };
  const adapter = await factory(source, { log, dataDir });
  const file = join(dataDir, 'openmrs-clinic.sqlite');
  t.ok(existsSync(file), 'seeded file created');
  const signal = AbortSignal.timeout(10_000);
  t.same(Object.keys(adapter.capabilities().resources).sort(), ['AllergyIntolerance', 'Encounter', 'MedicationRequest', 'Observation', 'Patient']);
  t.ok(adapter.capabilities().resources.Observation?.searchParams.includes('code'));
  for (const link of OPENMRS_DEMO_LINKS) {
    const patient = (await adapter.read('Patient', link.localId, signal)) as Patient | undefined;
    t.equal(patient?.name?.[0]?.given?.[0]?.toLowerCase(), link.patient, `${link.patient} is ${link.localId}`);
  }
  const meds = await adapter.search({ resourceType: 'MedicationRequest', filters: [], patients: [OPENMRS_DEMO_LINKS[0]?.localId ?? ''], count: 50 }, signal);
  t.ok(meds.resources.length >= 5, 'alice has drug orders for the pharmacy demo');
  await adapter.close();
  const mtime = statSync(file).mtimeMs;
  const again = await factory(source, { log, dataDir });
  t.equal(statSync(file).mtimeMs, mtime, 'a second start reuses the file');
  t.equal((await again.health(signal)).status, 'up');
  await again.close();
});
