/**
 * One SQLite connection in its own child process (see `node-sqlite-dialect.ts`): `node:sqlite`
 * is synchronous, so a statement run here never blocks the server's event loop, and a statement
 * past its deadline is stopped by killing the process (nothing else interrupts it).
 *
 * Run as `fork(sqlite-process.ts, [JSON SqliteProcessData])` with an IPC channel.
 */
import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';

export interface SqliteProcessData {
  readonly filename: string;
  readonly readOnly: boolean;
  readonly busyTimeoutMs: number;
}

export interface SqliteProcessRequest {
  readonly id: number;
  readonly sql: string;
  readonly parameters: readonly unknown[];
}

/** The first message: the process listens (the statement deadline starts from here, not from the spawn). */
export interface SqliteProcessReady {
  readonly ready: true;
}

export type SqliteProcessReply =
  | { readonly id: number; readonly ok: true; readonly rows: unknown[]; readonly changes?: number | bigint; readonly lastInsertRowid?: number | bigint }
  | { readonly id: number; readonly ok: false; readonly error: { readonly name: string; readonly message: string; readonly code?: string } };

const STATEMENT_CACHE_SIZE = 200;

const data = JSON.parse(process.argv[2] ?? '{}') as SqliteProcessData;
const send = process.send?.bind(process);
if (!send) throw new Error('sqlite-process runs as a forked child with an IPC channel');
// The parent is gone (crashed, killed): so is the point of this process.
process.on('disconnect', () => process.exit(0));
let db: DatabaseSync | undefined;
const statements = new Map<string, StatementSync>();

process.on('message', (request: SqliteProcessRequest) => {
  let reply: SqliteProcessReply;
  try {
    const stmt = prepare(request.sql);
    const parameters = bind(request.parameters);
    if (stmt.columns().length > 0) {
      reply = { id: request.id, ok: true, rows: stmt.all(...parameters) };
    } else {
      const { changes, lastInsertRowid } = stmt.run(...parameters);
      reply = { id: request.id, ok: true, rows: [], changes, lastInsertRowid };
    }
  } catch (err) {
    const e = err as Error & { code?: string };
    reply = { id: request.id, ok: false, error: { name: e.name, message: e.message, ...(e.code ? { code: e.code } : {}) } };
  }
  send(reply);
});
send({ ready: true } satisfies SqliteProcessReady);

/** Opened on the first statement, so an open error is that statement's error. */
function database(): DatabaseSync {
  if (db) return db;
  db = new DatabaseSync(data.filename, { readOnly: data.readOnly, timeout: data.busyTimeoutMs });
  // A read-only handle stays so even if the file is writable to this process.
  if (data.readOnly) db.exec('PRAGMA query_only = 1');
  return db;
}

function prepare(sql: string): StatementSync {
  let stmt = statements.get(sql);
  if (stmt) {
    statements.delete(sql); // refresh its place in the LRU order
  } else {
    stmt = database().prepare(sql);
    if (statements.size >= STATEMENT_CACHE_SIZE) {
      const oldest = statements.keys().next().value;
      if (oldest !== undefined) statements.delete(oldest);
    }
  }
  statements.set(sql, stmt);
  return stmt;
}

/** node:sqlite binds no booleans or dates. */
function bind(parameters: readonly unknown[]): SQLInputValue[] {
  return parameters.map((p): SQLInputValue => {
    if (typeof p === 'boolean') return p ? 1 : 0;
    if (p instanceof Date) return p.toISOString().slice(0, 19).replace('T', ' ');
    if (p === undefined) return null;
    if (typeof p === 'string' || typeof p === 'number' || typeof p === 'bigint' || p === null || ArrayBuffer.isView(p)) return p as SQLInputValue;
    throw new TypeError(`node:sqlite cannot bind a ${typeof p}`);
  });
}
