/**
 * A private database on the machine's PostgreSQL (127.0.0.1:5432, user postgres, trust) for one
 * test: a random name, so parallel files and reruns never meet, created now and dropped (with any
 * connection still open) when the test ends. Register it before what connects to it: tap runs
 * teardowns last registered first, so the database outlives its users.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Test } from 'tap';
import { DATABASE_SERVERS } from './database-servers.ts';

const { user, host, port } = DATABASE_SERVERS.postgres;
export const POSTGRES_SERVER = `postgres://${user}@${host}:${port}`;

export interface PostgresTestDatabase {
  readonly name: string;
  /** Connection string of the database. */
  readonly url: string;
  drop(): Promise<void>;
}

async function asAdmin<T>(fn: (admin: pg.Client) => Promise<T>): Promise<T> {
  const admin = new pg.Client({ connectionString: `${POSTGRES_SERVER}/postgres` });
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.end();
  }
}

export async function createPostgresDatabase(prefix = 'medrec_test'): Promise<PostgresTestDatabase> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  await asAdmin((admin) => admin.query(`CREATE DATABASE ${name}`));
  return {
    name,
    url: `${POSTGRES_SERVER}/${name}`,
    drop: () => asAdmin((admin) => admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  };
}

/** A database for this test, dropped in its teardown; returns its connection string. */
export async function postgresDatabase(t: Test, prefix?: string): Promise<string> {
  const database = await createPostgresDatabase(prefix);
  t.teardown(() => database.drop());
  return database.url;
}
