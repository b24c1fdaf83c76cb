/**
 * Provisions a private, seeded OpenMRS database for one test file: a fresh database on the
 * machine's MariaDB or PostgreSQL (created and dropped by the test), or a temporary SQLite file.
 * Whether the servers answer is test/support/database-servers.ts's business.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { seedOpenmrs, type OpenmrsSeedSizes } from '../../../adapters/sql/openmrs/openmrs-seed.ts';
import { openSqlConnection, type SqlConnectionOptions, type SqlDialectName } from '../../../adapters/sql/sql-connection.ts';
import { DATABASE_SERVERS } from '../../support/database-servers.ts';
import { createPostgresDatabase } from '../../support/postgres-database.ts';

export const TEST_SIZES: OpenmrsSeedSizes = { patients: 6, obsPerPatient: 15, encountersPerPatient: 2, ordersPerPatient: 1, seed: 11 };

export interface TestDatabase {
  /** Read-only connection options, as a source would be configured. */
  readonly options: SqlConnectionOptions;
  /** Writable options for fixtures' own checks (row counts after hostile searches). */
  readonly writable: SqlConnectionOptions;
  drop(): Promise<void>;
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
  const server = DATABASE_SERVERS[dialect === 'postgres' ? 'postgres' : 'mariadb'];
  if (dialect === 'postgres') {
    const database = await createPostgresDatabase('medrec_sql');
    return {
      options: { ...server, database: database.name },
      writable: { ...server, database: database.name, readOnly: false, poolSize: 2, statementTimeoutMs: 60_000 },
      drop: () => database.drop(),
    };
  }
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
        await sql`drop database if exists ${sql.id(name)}`.execute(a.db);
      } finally {
        await a.close();
      }
    },
  };
}
