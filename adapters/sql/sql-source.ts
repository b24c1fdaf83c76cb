/**
 * The `sql` adapter kind: validates a source's options, opens the read-only connection, loads
 * the schema's mapping (the built-in OpenMRS profile or a declarative JSON mapping file) and
 * returns the adapter. For the embedded demo it can also create a seeded SQLite OpenMRS
 * database under the data directory on first start.
 *
 * Options (`SourceConfig.options`):
 *   dialect            'mariadb' | 'mysql' | 'postgres' | 'sqlite'
 *   host, port, database, user       server dialects
 *   passwordEnv        name of the environment variable holding the password (never the password itself)
 *   filename           sqlite: database file, relative to the data directory unless absolute
 *   profile            'openmrs' (the default when no mapping file is given)
 *   openmrs            OpenmrsProfileOptions (identifierTypes, identifierSystems, locations, conceptSystems, locale, …)
 *   mapping            a JSON `SqlMapping` file, relative to the working directory unless absolute (instead of profile)
 *   timezone           IANA zone of the database's date-time columns (OpenMRS: the server JVM's local time); default UTC
 *   poolSize, statementTimeoutMs
 *   seedDemo           sqlite only: create the file with the deterministic OpenMRS seed when it does not exist
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import type { EhrAdapter } from '../ehr-adapter.ts';
import type { AdapterContext, AdapterFactory, SourceConfig } from '../source-config.ts';
import type { SqlMapping } from './mapping.ts';
import { openmrsMapping, type OpenmrsProfileOptions } from './openmrs/openmrs-profile.ts';
import { seedOpenmrs, type OpenmrsSeedSizes } from './openmrs/openmrs-seed.ts';
import { SqlAdapter } from './sql-adapter.ts';
import { openSqlConnection, type SqlConnectionOptions, type SqlDialectName } from './sql-connection.ts';
import { validateMapping } from './validate-mapping.ts';
import { WallClock } from './wall-clock.ts';

const DIALECTS: readonly SqlDialectName[] = ['mariadb', 'mysql', 'postgres', 'sqlite'];
const PROFILES = ['openmrs'] as const;
const OPTIONS = [
  'dialect', 'host', 'port', 'database', 'user', 'passwordEnv', 'password', 'filename', 'profile', 'openmrs', 'mapping', 'poolSize',
  'statementTimeoutMs', 'seedDemo', 'timezone',
];

export interface SqlSourceOptions {
  readonly connection: SqlConnectionOptions;
  /** What the mapping came from, for the start-up log: `profile openmrs` or the file. */
  readonly schema: string;
  /** Validated. */
  readonly mapping: SqlMapping;
  /** IANA zone of the database's date-time columns. */
  readonly timeZone: string;
  readonly seedDemo?: OpenmrsSeedSizes;
}

/** Parses `SourceConfig.options`; throws a message naming the bad option. */
export function parseSqlSourceOptions(config: SourceConfig, context: Pick<AdapterContext, 'dataDir'>, env: NodeJS.ProcessEnv = process.env): SqlSourceOptions {
  const o = config.options;
  const fail = (message: string): never => {
    throw new Error(`source ${config.id}: ${message}`);
  };
  const str = (key: string): string | undefined => {
    const v = o[key];
    if (v === undefined) return undefined;
    return typeof v === 'string' && v.length > 0 ? v : fail(`options.${key} must be a non-empty string`);
  };
  const int = (key: string, min: number, max: number): number | undefined => {
    const v = o[key];
    if (v === undefined) return undefined;
    return typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max ? v : fail(`options.${key} must be an integer in ${min}..${max}`);
  };
  for (const key of Object.keys(o)) if (!OPTIONS.includes(key)) fail(`options.${key} is not a sql source option`);
  const dialect = str('dialect') as SqlDialectName | undefined;
  if (!dialect || !DIALECTS.includes(dialect)) fail(`options.dialect must be one of ${DIALECTS.join(', ')}`);
  const timeZone = str('timezone') ?? 'UTC';
  try {
    new WallClock(timeZone);
  } catch {
    fail(`options.timezone must be an IANA time zone name such as Africa/Nairobi (got ${JSON.stringify(timeZone)})`);
  }
  const mappingFile = str('mapping');
  if (mappingFile !== undefined && (o.profile !== undefined || o.openmrs !== undefined || o.seedDemo !== undefined)) {
    fail('options.mapping replaces the built-in profile: drop options.profile, options.openmrs and options.seedDemo');
  }
  const profile = str('profile') ?? 'openmrs';
  if (!(PROFILES as readonly string[]).includes(profile)) fail(`options.profile must be one of ${PROFILES.join(', ')} (or give a mapping file in options.mapping)`);
  const passwordEnv = str('passwordEnv');
  let password: string | undefined;
  if (passwordEnv !== undefined) {
    password = env[passwordEnv];
    if (password === undefined) fail(`environment variable ${passwordEnv} (options.passwordEnv) is not set`);
  }
  if (o.password !== undefined) fail('put the password in an environment variable and name it in options.passwordEnv');
  const filename = str('filename');
  if (dialect === 'sqlite' && !filename) fail('options.filename is required for sqlite');
  if (dialect !== 'sqlite' && !str('database')) fail('options.database is required');
  const openmrs = o.openmrs ?? {};
  if (typeof openmrs !== 'object' || openmrs === null || Array.isArray(openmrs)) fail('options.openmrs must be an object');
  checkProfileOptions(openmrs as Record<string, unknown>, fail);
  const seed = o.seedDemo;
  if (seed !== undefined && (dialect !== 'sqlite' || typeof seed !== 'object' || seed === null)) fail('options.seedDemo is an object, for sqlite only');
  const connection: SqlConnectionOptions = {
    dialect: dialect as SqlDialectName,
    host: str('host'),
    port: int('port', 1, 65535),
    database: str('database'),
    user: str('user'),
    password,
    filename: filename === undefined ? undefined : isAbsolute(filename) ? filename : join(context.dataDir, filename),
    poolSize: int('poolSize', 1, 100),
    statementTimeoutMs: int('statementTimeoutMs', 1, 3_600_000),
  };
  if (mappingFile !== undefined) {
    const path = isAbsolute(mappingFile) ? mappingFile : resolve(mappingFile);
    return { connection, timeZone, schema: `mapping ${mappingFile}`, mapping: loadMappingFile(path, (m) => fail(`options.mapping ${mappingFile}: ${m}`)) };
  }
  return {
    connection,
    timeZone,
    schema: `profile ${profile}`,
    mapping: openmrsMapping(openmrs as OpenmrsProfileOptions),
    seedDemo: seed === undefined ? undefined : parseSizes(seed as Record<string, unknown>, fail),
  };
}

/** Reads and validates a JSON mapping file; every problem is reported on one line. */
function loadMappingFile(path: string, fail: (m: string) => never): SqlMapping {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    return fail(`cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  let mapping: unknown;
  try {
    mapping = JSON.parse(text);
  } catch (err) {
    return fail(`is not JSON (${(err as Error).message})`);
  }
  try {
    validateMapping(mapping);
  } catch (err) {
    return fail((err as Error).message);
  }
  return mapping;
}

function checkProfileOptions(p: Record<string, unknown>, fail: (m: string) => never): void {
  const allowed = ['locale', 'conceptSystems', 'identifierTypes', 'identifierSystems', 'locations', 'trueConceptUuid', 'falseConceptUuid', 'severityConcepts'];
  for (const key of Object.keys(p)) if (!allowed.includes(key)) fail(`options.openmrs.${key} is not an OpenMRS profile option`);
  for (const key of ['identifierTypes', 'locations']) {
    const v = p[key];
    if (v !== undefined && !(Array.isArray(v) && v.every((x) => typeof x === 'string'))) fail(`options.openmrs.${key} must be a list of uuids`);
  }
  for (const key of ['conceptSystems', 'identifierSystems']) {
    const v = p[key];
    if (v !== undefined && !(typeof v === 'object' && v !== null && Object.values(v).every((x) => typeof x === 'string'))) {
      fail(`options.openmrs.${key} must map names to URLs`);
    }
  }
}

function parseSizes(s: Record<string, unknown>, fail: (m: string) => never): OpenmrsSeedSizes {
  const n = (key: string, dflt: number): number => {
    const v = s[key] ?? dflt;
    return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 1_000_000 ? v : fail(`options.seedDemo.${key} must be a small integer`);
  };
  return { patients: n('patients', 40), obsPerPatient: n('obsPerPatient', 20), encountersPerPatient: n('encountersPerPatient', 3), ordersPerPatient: n('ordersPerPatient', 1) };
}

/** Creates the seeded SQLite file when missing (written aside, then renamed into place). */
export async function ensureSeededSqlite(filename: string, sizes: OpenmrsSeedSizes): Promise<void> {
  if (existsSync(filename)) return;
  mkdirSync(dirname(filename), { recursive: true });
  const partial = `${filename}.partial-${process.pid}`;
  rmSync(partial, { force: true });
  const writer = openSqlConnection({ dialect: 'sqlite', filename: partial, readOnly: false });
  try {
    await seedOpenmrs(writer.db, 'sqlite', sizes);
  } finally {
    await writer.close();
  }
  renameSync(partial, filename);
}

export const createSqlAdapter: AdapterFactory = async (config: SourceConfig, context: AdapterContext): Promise<EhrAdapter> => {
  const options = parseSqlSourceOptions(config, context);
  if (options.seedDemo && options.connection.filename) {
    await ensureSeededSqlite(options.connection.filename, options.seedDemo);
  }
  const connection = openSqlConnection(options.connection);
  try {
    const adapter = await SqlAdapter.open({ sourceId: config.id, connection, mapping: options.mapping, timeZone: options.timeZone });
    context.log.info({ sourceId: config.id, dialect: options.connection.dialect, schema: options.schema, timeZone: options.timeZone }, 'SQL source ready (read-only)');
    return adapter;
  } catch (err) {
    await connection.close();
    throw err;
  }
};
