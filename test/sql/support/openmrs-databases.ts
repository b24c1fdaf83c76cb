/**
 * Provisions a private, seeded OpenMRS database for one test file: a fresh database on the
 * machine's MariaDB or PostgreSQL (created and dropped by the test), or a temporary SQLite file.
 * Under CI=true an unreachable server is a failure, never a skip.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import type { Test } from 'tap';
import { seedOpenmrs, type OpenmrsSeedSizes } from '../../../adapters/sql/openmrs/openmrs-seed.ts';
import { openSqlConnection, type SqlConnectionOptions, type SqlDialectName } from '../../../adapters/sql/sql-connection.ts';

export const TEST_SIZES: OpenmrsSeedSizes = { patients: 6, obsPerPatient: 15, encountersPerPatient: 2, ordersPerPatient: 1, seed: 11 };

export interface TestDatabase {
  /** Read-only connection options, as a source would be configured. */
  readonly options: SqlConnectionOptions;
  /** Writable options for fixtures' own checks (row counts after hostile searches). */
  readonly writable: SqlConnectionOptions;
  drop(): Promise<void>;
}

const SERVERS: Readonly<Record<'mariadb' | 'postgres', SqlConnectionOptions>> = {
  mariadb: { dialect: 'mariadb', host: '127.0.0.1', port: 3306, user: 'root' },
  postgres: { dialect: 'postgres', host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres' },
};

/** Whether the server answers; under CI=true the caller must fail instead of skipping. */
export async function serverAvailable(dialect: SqlDialectName): Promise<string | undefined> {
  if (dialect === 'sqlite') return undefined;
  const admin = openSqlConnection({ ...SERVERS[dialect as 'mariadb' | 'postgres'], readOnly: false, statementTimeoutMs: 5000, poolSize: 1 });
  try {
    await sql`select 1`.execute(admin.db);
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  } finally {
    await admin.close();
  }
}

export async function createTestDatabase(dialect: SqlDialectName, sizes: OpenmrsSeedSizes = TEST_SIZES): Promise<TestDatabase> {
  const database = await createEmptyDatabase(dialect);
  const w = openSqlConnection(database.writable);
  try {
    await seedOpenmrs(w.db, dialect, sizes);
  } finally {
    await w.close();
  }
  return database;
}

/** A private, empty database (a fresh one on the server, or a new SQLite file). */
export async function createEmptyDatabase(dialect: SqlDialectName): Promise<TestDatabase> {
  if (dialect === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'medrec-sql-'));
    const filename = join(dir, 'openmrs.sqlite');
    return { options: { dialect, filename }, writable: { dialect, filename, readOnly: false }, drop: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  const server = SERVERS[dialect as 'mariadb' | 'postgres'];
  const name = `medrec_sql_${randomBytes(6).toString('hex')}`;
  const admin = openSqlConnection({ ...server, readOnly: false, poolSize: 1 });
  try {
    await sql`create database ${sql.id(name)}`.execute(admin.db);
  } finally {
    await admin.close();
  }
  return {
    options: { ...server, database: name },
    writable: { ...server, database: name, readOnly: false, poolSize: 2, statementTimeoutMs: 60_000 },
    async drop() {
      const a = openSqlConnection({ ...server, readOnly: false, poolSize: 1 });
      try {
        if (dialect === 'postgres') await sql`drop database if exists ${sql.id(name)} with (force)`.execute(a.db);
        else await sql`drop database if exists ${sql.id(name)}`.execute(a.db);
      } finally {
        await a.close();
      }
    },
  };
}

/** Under CI=true a missing server fails the test; elsewhere it is skipped. Returns whether to go on. */
export async function requireServer(t: Test, dialect: SqlDialectName): Promise<boolean> {
  const unavailable = await serverAvailable(dialect);
  if (unavailable === undefined) return true;
  if (process.env.CI === 'true') t.fail(`${dialect} is required under CI=true: ${unavailable}`);
  else t.pass(`${dialect}`, { skip: `${dialect} not reachable: ${unavailable}` });
  return false;
}
