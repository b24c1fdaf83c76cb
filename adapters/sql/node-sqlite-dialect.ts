/**
 * A Kysely dialect for Node's built-in `node:sqlite` (`DatabaseSync`), so SQLite needs no native
 * addon. Kysely's SQLite driver, adapter, compiler and introspector are reused; this file only
 * presents a `DatabaseSync` in the statement shape that driver expects (`reader`, `all`, `run`,
 * `iterate`), binds booleans as 0/1 (node:sqlite binds no booleans) and caches prepared
 * statements.
 */
import { DatabaseSync, type StatementSync, type SQLInputValue } from 'node:sqlite';
import { SqliteDialect, type SqliteDatabase, type SqliteStatement } from 'kysely';

export interface NodeSqliteOptions {
  /** File path, or `:memory:`. */
  readonly filename: string;
  /** Open the file read-only (the adapter always does; the seeder does not). */
  readonly readOnly: boolean;
  /** Milliseconds to wait on a locked database before failing. */
  readonly busyTimeoutMs?: number;
}

const STATEMENT_CACHE_SIZE = 200;

export class NodeSqliteDatabase implements SqliteDatabase {
  readonly raw: DatabaseSync;
  readonly #statements = new Map<string, NodeSqliteStatement>();

  constructor(options: NodeSqliteOptions) {
    this.raw = new DatabaseSync(options.filename, {
      readOnly: options.readOnly,
      timeout: options.busyTimeoutMs ?? 5000,
    });
  }

  prepare(sql: string): SqliteStatement {
    let stmt = this.#statements.get(sql);
    if (stmt) {
      // Refresh its place in the LRU order.
      this.#statements.delete(sql);
    } else {
      stmt = new NodeSqliteStatement(this.raw.prepare(sql));
      if (this.#statements.size >= STATEMENT_CACHE_SIZE) {
        const oldest = this.#statements.keys().next().value;
        if (oldest !== undefined) this.#statements.delete(oldest);
      }
    }
    this.#statements.set(sql, stmt);
    return stmt;
  }

  close(): void {
    this.#statements.clear();
    if (this.raw.isOpen) this.raw.close();
  }
}

class NodeSqliteStatement implements SqliteStatement {
  readonly reader: boolean;
  readonly #stmt: StatementSync;

  constructor(stmt: StatementSync) {
    this.#stmt = stmt;
    this.reader = stmt.columns().length > 0;
  }

  all(parameters: ReadonlyArray<unknown>): unknown[] {
    return this.#stmt.all(...bind(parameters));
  }

  run(parameters: ReadonlyArray<unknown>): { changes: number | bigint; lastInsertRowid: number | bigint } {
    const { changes, lastInsertRowid } = this.#stmt.run(...bind(parameters));
    return { changes, lastInsertRowid };
  }

  iterate(parameters: ReadonlyArray<unknown>): IterableIterator<unknown> {
    return this.#stmt.iterate(...bind(parameters));
  }
}

function bind(parameters: ReadonlyArray<unknown>): SQLInputValue[] {
  return parameters.map((p): SQLInputValue => {
    if (typeof p === 'boolean') return p ? 1 : 0;
    if (p instanceof Date) return p.toISOString().slice(0, 19).replace('T', ' ');
    if (p === undefined) return null;
    if (typeof p === 'string' || typeof p === 'number' || typeof p === 'bigint' || p === null || ArrayBuffer.isView(p)) {
      return p as SQLInputValue;
    }
    throw new TypeError(`node:sqlite cannot bind a ${typeof p}`);
  });
}

/** Kysely dialect over `node:sqlite`. */
export class NodeSqliteDialect extends SqliteDialect {
  constructor(database: NodeSqliteDatabase) {
    super({ database });
  }
}
