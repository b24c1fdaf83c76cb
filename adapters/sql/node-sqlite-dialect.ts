/**
 * A Kysely dialect for Node's built-in `node:sqlite`, so SQLite needs no native addon. Kysely's
 * SQLite compiler, adapter and introspector are reused; the driver runs each connection in its
 * own child process (`sqlite-process.ts`), because `node:sqlite` is synchronous (on the main
 * thread one slow statement would stall every request of the server) and cannot be interrupted
 * from outside (a worker thread that is terminated still runs its statement to the end, and
 * holds up the process's exit meanwhile). A statement past its deadline, or whose search was
 * aborted, is stopped by killing its process; the connection starts a new one on its next use.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  CompiledQuery, SqliteAdapter, SqliteIntrospector, SqliteQueryCompiler,
  type DatabaseConnection, type DatabaseIntrospector, type Dialect, type DialectAdapter, type Driver, type Kysely, type QueryCompiler, type QueryResult,
} from 'kysely';
import { runCancellable } from './statement-cancel.ts';
import type { SqliteProcessData, SqliteProcessReady, SqliteProcessReply, SqliteProcessRequest } from './sqlite-process.ts';

const SQLITE_PROCESS = fileURLToPath(new URL('./sqlite-process.ts', import.meta.url));

export interface NodeSqliteOptions {
  /** File path, or `:memory:` (then every connection has its own database). */
  readonly filename: string;
  /** Open the file read-only (the adapter always does; the seeder does not). */
  readonly readOnly: boolean;
  /** Connections (processes). A writable database has one, so a transaction stays on it. */
  readonly poolSize: number;
  /** Deadline of one statement. */
  readonly statementTimeoutMs: number;
  /** Milliseconds to wait on a locked database before failing. */
  readonly busyTimeoutMs?: number;
}

export class SqliteStatementTimeoutError extends Error {
  constructor(ms: number) {
    super(`SQLite statement stopped by its ${ms} ms statement timeout`);
    this.name = 'SqliteStatementTimeoutError';
  }
}

export class NodeSqliteDialect implements Dialect {
  readonly #options: NodeSqliteOptions;

  constructor(options: NodeSqliteOptions) {
    this.#options = options;
  }

  createDriver(): Driver {
    return new NodeSqliteDriver(this.#options);
  }

  createQueryCompiler(): QueryCompiler {
    return new SqliteQueryCompiler();
  }

  createAdapter(): DialectAdapter {
    return new SqliteAdapter();
  }

  createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    return new SqliteIntrospector(db);
  }
}

class NodeSqliteDriver implements Driver {
  readonly #options: NodeSqliteOptions;
  readonly #idle: SqliteProcessConnection[] = [];
  readonly #waiting: ((connection: SqliteProcessConnection) => void)[] = [];
  readonly #all: SqliteProcessConnection[] = [];

  constructor(options: NodeSqliteOptions) {
    this.#options = { ...options, poolSize: options.readOnly ? options.poolSize : 1 };
  }

  async init(): Promise<void> {
    for (let i = 0; i < this.#options.poolSize; i++) {
      const connection = new SqliteProcessConnection(this.#options);
      this.#all.push(connection);
      this.#idle.push(connection);
    }
    // The file opens (or fails to) here rather than on the first search; the other processes start when needed.
    await this.#all[0]?.executeQuery(CompiledQuery.raw('select 1'));
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    const idle = this.#idle.pop();
    if (idle) return idle;
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin'));
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('commit'));
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('rollback'));
  }

  async releaseConnection(connection: DatabaseConnection): Promise<void> {
    const next = this.#waiting.shift();
    if (next) next(connection as SqliteProcessConnection);
    else this.#idle.push(connection as SqliteProcessConnection);
  }

  async destroy(): Promise<void> {
    await Promise.all(this.#all.map((c) => c.close()));
  }
}

class SqliteProcessConnection implements DatabaseConnection {
  readonly #options: NodeSqliteOptions;
  #child: ChildProcess | undefined;
  /** Settles when the current process listens (or is gone). */
  #ready: Promise<void> = Promise.resolve();
  #nextId = 0;
  readonly #pending = new Map<number, { resolve: (reply: SqliteProcessReply) => void; reject: (err: Error) => void }>();

  constructor(options: NodeSqliteOptions) {
    this.#options = options;
  }

  async executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    const child = this.#process();
    // Referenced only while a statement is in flight: an idle connection must not keep the process alive.
    child.ref();
    child.channel?.ref();
    try {
      return await this.#execute<R>(child, compiledQuery);
    } finally {
      child.unref();
      child.channel?.unref();
    }
  }

  async #execute<R>(child: ChildProcess, compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    await this.#ready;
    const id = ++this.#nextId;
    const reply = await runCancellable(
      () =>
        new Promise<SqliteProcessReply>((resolve, reject) => {
          const timer = setTimeout(() => this.#stop(child, new SqliteStatementTimeoutError(this.#options.statementTimeoutMs)), this.#options.statementTimeoutMs);
          this.#pending.set(id, {
            resolve: (r) => (clearTimeout(timer), resolve(r)),
            reject: (e) => (clearTimeout(timer), reject(e)),
          });
          child.send({ id, sql: compiledQuery.sql, parameters: compiledQuery.parameters } satisfies SqliteProcessRequest);
        }),
      async () => this.#stop(child, new Error('SQLite statement stopped: the search was aborted')),
    );
    if (!reply.ok) throw Object.assign(new Error(reply.error.message), { name: reply.error.name, code: reply.error.code });
    return {
      rows: reply.rows as R[],
      ...(reply.changes !== undefined ? { numAffectedRows: BigInt(reply.changes) } : {}),
      ...(reply.lastInsertRowid !== undefined ? { insertId: BigInt(reply.lastInsertRowid) } : {}),
    };
  }

  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('streaming is not supported on SQLite sources');
  }

  async close(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.ref(); // wait for its exit
    this.#stop(child, new Error('SQLite connection closed'));
    await exited;
  }

  /** The connection's process, started on first use and after a stop or a crash. */
  #process(): ChildProcess {
    if (this.#child) return this.#child;
    const data: SqliteProcessData = { filename: this.#options.filename, readOnly: this.#options.readOnly, busyTimeoutMs: this.#options.busyTimeoutMs ?? 5000 };
    // No inherited flags (test loaders, inspectors): the child runs this one file.
    const child = fork(SQLITE_PROCESS, [JSON.stringify(data)], { serialization: 'advanced', execArgv: [], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    this.#ready = new Promise((resolve, reject) => {
      child.on('message', (message: SqliteProcessReply | SqliteProcessReady) => {
        if ('ready' in message) return resolve();
        const waiting = this.#pending.get(message.id);
        this.#pending.delete(message.id);
        waiting?.resolve(message);
      });
      child.on('error', (err) => (reject(err), this.#gone(child, err)));
      child.on('exit', () => {
        const err = new Error('SQLite process exited');
        reject(err);
        this.#gone(child, err);
      });
    });
    this.#ready.catch(() => undefined);
    this.#child = child;
    return child;
  }

  /** Kills the process with its running statement; the pending statement fails with `reason`. */
  #stop(child: ChildProcess, reason: Error): void {
    if (this.#child !== child) return;
    this.#child = undefined;
    child.kill('SIGKILL');
    this.#failPending(reason);
  }

  #gone(child: ChildProcess, err: Error): void {
    if (this.#child !== child) return;
    this.#child = undefined;
    this.#failPending(err);
  }

  #failPending(err: Error): void {
    for (const waiting of this.#pending.values()) waiting.reject(err);
    this.#pending.clear();
  }
}
