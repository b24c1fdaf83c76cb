/**
 * The `sql` adapter kind: validates a source's options, opens the read-only connection, picks
 * the schema profile and returns the adapter. For the embedded demo it can also create a seeded
 * SQLite OpenMRS database under the data directory on first start.
 *
 * Options (`SourceConfig.options`):
 *   dialect            'mariadb' | 'mysql' | 'postgres' | 'sqlite'
 *   host, port, database, user       server dialects
 *   passwordEnv        name of the environment variable holding the password (never the password itself)
 *   filename           sqlite: database file, relative to the data directory unless absolute
 *   profile            'openmrs'
 *   openmrs            OpenmrsProfileOptions (identifierTypes, identifierSystems, locations, conceptSystems, locale, …)
 *   poolSize, statementTimeoutMs
 *   seedDemo           sqlite only: create the file with the deterministic OpenMRS seed when it does not exist
 */
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import type { EhrAdapter } from '../ehr-adapter.ts';
import type { AdapterContext, AdapterFactory, SourceConfig } from '../source-config.ts';
import { openmrsMapping, type OpenmrsProfileOptions } from './openmrs/openmrs-profile.ts';
import { seedOpenmrs, type OpenmrsSeedSizes } from './openmrs/openmrs-seed.ts';
import { SqlAdapter } from './sql-adapter.ts';
import { openSqlConnection, type SqlConnectionOptions, type SqlDialectName } from './sql-connection.ts';

const DIALECTS: readonly SqlDialectName[] = ['mariadb', 'mysql', 'postgres', 'sqlite'];
const PROFILES = ['openmrs'] as const;

export interface SqlSourceOptions {
  readonly connection: SqlConnectionOptions;
  readonly profile: (typeof PROFILES)[number];
  readonly openmrs: OpenmrsProfileOptions;
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
  const dialect = str('dialect') as SqlDialectName | undefined;
  if (!dialect || !DIALECTS.includes(dialect)) fail(`options.dialect must be one of ${DIALECTS.join(', ')}`);
  const profile = str('profile') ?? 'openmrs';
  if (!(PROFILES as readonly string[]).includes(profile)) fail(`options.profile must be one of ${PROFILES.join(', ')}`);
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
  return {
    connection,
    profile: profile as SqlSourceOptions['profile'],
    openmrs: openmrs as OpenmrsProfileOptions,
    seedDemo: seed === undefined ? undefined : parseSizes(seed as Record<string, unknown>, fail),
  };
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
    const adapter = await SqlAdapter.open({ sourceId: config.id, connection, mapping: openmrsMapping(options.openmrs) });
    context.log.info({ sourceId: config.id, dialect: options.connection.dialect, profile: options.profile }, 'SQL source ready (read-only)');
    return adapter;
  } catch (err) {
    await connection.close();
    throw err;
  }
};
