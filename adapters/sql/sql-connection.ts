/**
 * Opens the adapter's database connection: a Kysely instance over a pool (MariaDB/MySQL via
 * mysql2, PostgreSQL via pg, SQLite via `node:sqlite` in child processes), with a statement
 * timeout, a read-only session on every pooled connection, and statements cancelled when the
 * search that issued them is aborted. `assertReadOnly` proves the session is read-only before
 * the adapter serves anything.
 *
 * Date and time columns without a zone come back as the text the database holds
 * (`YYYY-MM-DD[ HH:MM:SS]`) on every dialect, never converted by the driver; the adapter reads
 * them on the source's wall clock (`timezone`, see wall-clock.ts), so nothing depends on the
 * process's time zone. A PostgreSQL `timestamptz` is an instant and comes back as a Date.
 */
import { Kysely, MysqlDialect, PostgresDialect, sql, type Dialect } from 'kysely';
import { createPool as createMysqlPool } from 'mysql2';
import pg from 'pg';
import { cancellableMysqlPool, cancellablePgPool } from './cancellable-pools.ts';
import { NodeSqliteDialect } from './node-sqlite-dialect.ts';
import type { Fragment } from './sql-expr.ts';

export type SqlDialectName = 'mariadb' | 'mysql' | 'postgres' | 'sqlite';

/** Below the default source deadline (`MEDREC_SOURCE_TIMEOUT_MS`, 5 s), so the database gives up first. */
export const DEFAULT_STATEMENT_TIMEOUT_MS = 4000;

export interface SqlConnectionOptions {
  readonly dialect: SqlDialectName;
  /** Server dialects. */
  readonly host?: string;
  readonly port?: number;
  readonly database?: string;
  readonly user?: string;
  readonly password?: string;
  /** SQLite file. */
  readonly filename?: string;
  /** Pooled connections. Default 4 (server dialects), 2 (SQLite, one child process each). */
  readonly poolSize?: number;
  /** Per-statement limit. Default 4 s, below the 5 s default source deadline. */
  readonly statementTimeoutMs?: number;
  /** Only the seeder and tests' fixtures open writable connections. Default true. */
  readonly readOnly?: boolean;
}

/** Tables are not known at compile time: the mapping names them. */
export type DynamicDatabase = Record<string, Record<string, unknown>>;

export interface SqlConnection {
  readonly dialect: SqlDialectName;
  readonly db: Kysely<DynamicDatabase>;
  /** Parameter value for a boolean on this dialect. */
  readonly bool: (value: boolean) => boolean | number;
  /** `expr IN (values)`, exact and case-sensitive whatever the column's collation. */
  readonly exactIn: (expr: Fragment, values: readonly (string | number)[]) => Fragment;
  /** Throws unless the session refuses writes. */
  assertReadOnly(): Promise<void>;
  close(): Promise<void>;
}

export function openSqlConnection(options: SqlConnectionOptions): SqlConnection {
  const readOnly = options.readOnly ?? true;
  const timeoutMs = Math.trunc(options.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS);
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > 3_600_000) {
    throw new Error('statementTimeoutMs must be an integer between 1 and 3600000');
  }
  const poolSize = options.poolSize ?? (options.dialect === 'sqlite' ? 2 : 4);
  let dialect: Dialect;
  let bool: (v: boolean) => boolean | number = (v) => v;
  let exactIn = (expr: Fragment, values: readonly (string | number)[]): Fragment => sql`${expr} in (${valueList(values)})`;
  let probe: () => Promise<boolean>;
  let db: Kysely<DynamicDatabase>;
  // The network servers differ only in their default port.
  const serverAt = (defaultPort: number) => ({
    host: options.host ?? '127.0.0.1',
    port: options.port ?? defaultPort,
    user: options.user,
    password: options.password,
    database: options.database,
  });

  switch (options.dialect) {
    case 'mariadb':
    case 'mysql': {
      const server = serverAt(3306);
      const pool = createMysqlPool({
        ...server,
        connectionLimit: poolSize,
        dateStrings: true,
        supportBigNumbers: true,
        timezone: 'Z',
        charset: 'utf8mb4',
      });
      pool.on('error', () => undefined);
      const isMaria = options.dialect === 'mariadb';
      // MySQL collations are usually case-insensitive and pad-tolerant: the plain IN keeps the
      // index, the binary IN makes the match exact.
      exactIn = (expr, values) => sql`(${expr} in (${valueList(values)}) and cast(${expr} as binary) in (${valueList(values)}))`;
      dialect = new MysqlDialect({
        pool: cancellableMysqlPool(pool, server),
        onCreateConnection: async (conn) => {
          // The numbers are validated integers; SET takes no bound parameters.
          const timeout = isMaria
            ? sql.raw(`SET SESSION max_statement_time = ${timeoutMs / 1000}`)
            : sql.raw(`SET SESSION max_execution_time = ${timeoutMs}`);
          await conn.executeQuery(timeout.compile(db));
          if (readOnly) await conn.executeQuery(sql.raw('SET SESSION TRANSACTION READ ONLY').compile(db));
        },
      });
      probe = async () => {
        const variable = isMaria ? sql.raw('@@session.tx_read_only') : sql.raw('@@session.transaction_read_only');
        const { rows } = await sql<{ ro: unknown }>`select ${variable} as ro`.execute(db);
        return Number(rows[0]?.ro) === 1;
      };
      break;
    }
    case 'postgres': {
      const startup = [`-c statement_timeout=${timeoutMs}`];
      if (readOnly) startup.push('-c default_transaction_read_only=on');
      const server = serverAt(5432);
      const pool = new pg.Pool({
        ...server,
        max: poolSize,
        options: startup.join(' '),
        types: { getTypeParser: pgTypeParser } as unknown as pg.CustomTypesConfig,
      });
      // An idle pooled connection can be terminated by the server (restart, admin): the pool
      // drops it and opens another on demand; without a listener the process would crash.
      pool.on('error', () => undefined);
      dialect = new PostgresDialect({ pool: cancellablePgPool(pool, server) });
      probe = async () => {
        const { rows } = await sql<{ ro: string }>`select current_setting('default_transaction_read_only') as ro`.execute(db);
        return rows[0]?.ro === 'on';
      };
      break;
    }
    case 'sqlite': {
      if (!options.filename) throw new Error('sqlite needs a filename');
      dialect = new NodeSqliteDialect({ filename: options.filename, readOnly, poolSize, statementTimeoutMs: timeoutMs });
      bool = (v) => (v ? 1 : 0);
      // Opened with SQLITE_OPEN_READONLY and `PRAGMA query_only`: reading it back confirms it.
      probe = async () => {
        const { rows } = await sql<{ query_only: unknown }>`pragma query_only`.execute(db);
        return readOnly && Number(rows[0]?.query_only) === 1;
      };
      break;
    }
  }

  db = new Kysely<DynamicDatabase>({ dialect });
  return {
    dialect: options.dialect,
    db,
    bool,
    exactIn,
    async assertReadOnly() {
      if (!(await probe())) throw new Error('the SQL source session is not read-only');
    },
    async close() {
      await db.destroy();
    },
  };
}

function valueList(values: readonly (string | number)[]): Fragment {
  return sql.join(values.map((v) => sql`${v}`));
}


const PG_BPCHAR = 1042;
const PG_DATE = 1082;
const PG_TIMESTAMP = 1114;
const PG_TIMESTAMPTZ = 1184;

function pgTypeParser(oid: number, format?: 'text' | 'binary'): (value: string) => unknown {
  if (oid === PG_DATE || oid === PG_TIMESTAMP) return (v) => v;
  // CHAR(n) (OpenMRS uuids are CHAR(38)) is blank-padded in PostgreSQL; MySQL strips the padding.
  if (oid === PG_BPCHAR) return (v) => v.trimEnd();
  if (oid === PG_TIMESTAMPTZ) return (v) => new Date(v);
  return pg.types.getTypeParser(oid, format ?? 'text') as (value: string) => unknown;
}
