/**
 * The machine's database servers as tests reach them (MariaDB root@127.0.0.1:3306, PostgreSQL
 * postgres@127.0.0.1:5432, trust), and the one rule for a server that does not answer: the test
 * is skipped, except under CI=true, where it fails (a CI run never passes by skipping).
 */
import { sql } from 'kysely';
import type { Test } from 'tap';
import { openSqlConnection, type SqlConnectionOptions, type SqlDialectName } from '../../adapters/sql/sql-connection.ts';

export type DatabaseServer = 'mariadb' | 'postgres';

/** Admin connection options of each server (no database chosen beyond PostgreSQL's own). */
export const DATABASE_SERVERS: Readonly<Record<DatabaseServer, SqlConnectionOptions>> = {
  mariadb: { dialect: 'mariadb', host: '127.0.0.1', port: 3306, user: 'root' },
  postgres: { dialect: 'postgres', host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres' },
};

/** Why the server does not answer, or undefined when it does (SQLite always does). */
export async function serverAvailable(dialect: SqlDialectName): Promise<string | undefined> {
  if (dialect === 'sqlite') return undefined;
  const admin = openSqlConnection({ ...DATABASE_SERVERS[dialect === 'mysql' ? 'mariadb' : dialect], readOnly: false, statementTimeoutMs: 5000, poolSize: 1 });
  try {
    await sql`select 1`.execute(admin.db);
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  } finally {
    await admin.close();
  }
}

/** Under CI=true a missing server fails the test; elsewhere it is skipped. Returns whether to go on. */
export async function requireServer(t: Test, dialect: SqlDialectName): Promise<boolean> {
  const unavailable = await serverAvailable(dialect);
  if (unavailable === undefined) return true;
  if (process.env.CI === 'true') t.fail(`${dialect} is required under CI=true: ${unavailable}`);
  else t.pass(dialect, { skip: `${dialect} not reachable: ${unavailable}` });
  return false;
}
