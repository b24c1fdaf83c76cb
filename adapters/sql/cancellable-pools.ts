/**
 * The server dialects' pools as Kysely sees them, with every statement run through
 * `runCancellable`: when the search that issued it is aborted, a separate short-lived
 * connection (same credentials) asks the server to stop exactly that statement, by the pooled
 * connection's backend pid (PostgreSQL `pg_cancel_backend`) or thread id (MariaDB/MySQL
 * `KILL QUERY`). A user may always cancel its own sessions' statements.
 */
import type { MysqlPool, MysqlPoolConnection, MysqlQueryResult, PostgresPool, PostgresPoolClient, PostgresQueryResult } from 'kysely';
import { createConnection as createMysqlConnection, type ConnectionOptions as MysqlConnectionOptions, type Pool as RawMysqlPool } from 'mysql2';
import pg from 'pg';
import { runCancellable } from './statement-cancel.ts';

export function cancellablePgPool(pool: pg.Pool, config: pg.ClientConfig): PostgresPool {
  const cancel = async (pid: number): Promise<void> => {
    const client = new pg.Client({ ...config, options: undefined });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.query('select pg_cancel_backend($1)', [pid]);
    } finally {
      await client.end().catch(() => undefined);
    }
  };
  // One wrapper per pooled client: Kysely recognises a connection it has set up by identity.
  const wrappers = new WeakMap<pg.PoolClient, PostgresPoolClient>();
  return {
    async connect(): Promise<PostgresPoolClient> {
      const client = await pool.connect();
      let wrapper = wrappers.get(client);
      if (!wrapper) {
        const pid = (client as unknown as { processID: number }).processID;
        wrapper = {
          query: (<R>(text: string, parameters: readonly unknown[]): Promise<PostgresQueryResult<R>> =>
            runCancellable(() => client.query(text, [...parameters]) as unknown as Promise<PostgresQueryResult<R>>, () => cancel(pid))) as PostgresPoolClient['query'],
          release: (destroy?: boolean) => client.release(destroy),
        };
        wrappers.set(client, wrapper);
      }
      return wrapper;
    },
    end: () => pool.end(),
  };
}

export function cancellableMysqlPool(pool: RawMysqlPool, config: MysqlConnectionOptions): MysqlPool {
  const kill = (threadId: number): Promise<void> =>
    new Promise((resolve) => {
      const connection = createMysqlConnection(config);
      connection.on('error', () => undefined);
      // The id is the server's own integer for that connection; KILL takes no bound parameters.
      connection.query(`KILL QUERY ${Math.trunc(threadId)}`, () => connection.end(() => resolve()));
    });
  // One wrapper per pooled connection: Kysely recognises a connection it has set up by identity.
  const wrappers = new WeakMap<object, MysqlPoolConnection>();
  return {
    getConnection(callback) {
      pool.getConnection((error, raw) => {
        if (error) return callback(error, raw as unknown as MysqlPoolConnection);
        const known = wrappers.get(raw);
        if (known) return callback(null, known);
        const query = (text: string, parameters: unknown[], done?: (error: unknown, result: MysqlQueryResult) => void): unknown => {
          if (!done) return raw.query(text, parameters);
          runCancellable(
            () =>
              new Promise<MysqlQueryResult>((resolve, reject) =>
                raw.query(text, parameters, (err, result) => (err ? reject(err) : resolve(result as MysqlQueryResult))),
              ),
            () => kill(raw.threadId),
          ).then(
            (result) => done(null, result),
            (err: unknown) => done(err, [] as MysqlQueryResult),
          );
          return undefined;
        };
        const wrapper: MysqlPoolConnection = { query: query as MysqlPoolConnection['query'], release: () => raw.release() };
        wrappers.set(raw, wrapper);
        callback(null, wrapper);
      });
    },
    end: (callback) => pool.end(callback),
  };
}
