/**
 * The embedded, file-backed HL7v2 store on Node's built-in `node:sqlite` (no native addon).
 * WAL journal. Acceptance commits on a `synchronous=FULL` connection: the WAL is fsynced before
 * `accept` returns, so an AA sent after it survives a crash of the process or the machine.
 * Conversion commits on a second, `synchronous=NORMAL` connection: no fsync of its own (the next
 * acceptance fsync carries it). Losing the last conversions to a power cut is harmless: WAL keeps
 * the database consistent, the inbox rows they marked done roll back to pending together with
 * them, and the worker converts them again. Calls are serialised through a small lock.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import type { Resource } from '@medplum/fhirtypes';
import type {
  AcceptResult, ConversionOutcome, DeadLetter, DeadLetterEntry, Hl7Store, InboxEntry, InboxItem, StoreStats, StoreTransaction, StoredResource,
} from './hl7-store.ts';
import { RECORD_KEY_SCHEME, storedKeyScheme, type KeySchemeRebuild } from './record-key-scheme.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS inbox (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  sender TEXT NOT NULL,
  control_id TEXT NOT NULL,
  received_at TEXT NOT NULL,
  raw TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'pending',
  content_hash TEXT,
  conversion_error TEXT,
  UNIQUE (sender, control_id)
);
CREATE INDEX IF NOT EXISTS inbox_pending ON inbox (status, seq);
CREATE TABLE IF NOT EXISTS resources (
  type TEXT NOT NULL,
  id TEXT NOT NULL,
  patient TEXT,
  last_updated TEXT NOT NULL,
  json TEXT NOT NULL,
  PRIMARY KEY (type, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS resources_patient ON resources (patient, type);
CREATE TABLE IF NOT EXISTS dead_letters (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  created_at TEXT NOT NULL,
  stage TEXT NOT NULL,
  sender TEXT NOT NULL,
  control_id TEXT NOT NULL,
  reason TEXT NOT NULL,
  raw TEXT NOT NULL,
  inbox_seq INTEGER,
  replayed_at TEXT,
  replay_outcome TEXT
);
CREATE TABLE IF NOT EXISTS store_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
`;

interface DeadLetterRow {
  id: number; created_at: string; stage: string; sender: string; control_id: string; reason: string; raw: string;
  inbox_seq: number | null; replayed_at: string | null; replay_outcome: string | null;
}

export class SqliteHl7Store implements Hl7Store {
  readonly #db: DatabaseSync;
  /** The conversion worker's connection (synchronous=NORMAL, see above). */
  readonly #conv: DatabaseSync;
  readonly #convStmts: Record<string, StatementSync>;
  readonly #stmts: Record<string, StatementSync>;
  #lock: Promise<unknown> = Promise.resolve();
  /** Set when opening rebuilt records filed under an older key scheme (see record-key-scheme.ts). */
  readonly keySchemeRebuild?: KeySchemeRebuild;

  constructor(file: string) {
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
    this.#db = new DatabaseSync(file);
    try {
      this.#db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;');
      this.#db.exec(SCHEMA);
      addMissingColumns(this.#db);
      const rebuild = adoptKeyScheme(this.#db);
      if (rebuild) this.keySchemeRebuild = rebuild;
    } catch (error) {
      this.#db.close();
      throw error;
    }
    this.#conv = new DatabaseSync(file);
    this.#conv.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;');
    const c = (sql: string): StatementSync => this.#conv.prepare(sql);
    this.#convStmts = {
      finish: c('UPDATE inbox SET status = ?, conversion_error = ? WHERE seq = ?'),
      status: c('SELECT status FROM inbox WHERE seq = ?'),
      delete: c('DELETE FROM resources WHERE type = ? AND id = ?'),
      get: c('SELECT json, patient FROM resources WHERE type = ? AND id = ?'),
      put: c('INSERT INTO resources (type, id, patient, last_updated, json) VALUES (?, ?, ?, ?, ?) ON CONFLICT (type, id) DO UPDATE SET patient = excluded.patient, last_updated = excluded.last_updated, json = excluded.json'),
      byPatient: c('SELECT json, patient FROM resources WHERE patient = ?'),
      addDead: c('INSERT INTO dead_letters (created_at, stage, sender, control_id, reason, raw, inbox_seq) VALUES (?, ?, ?, ?, ?, ?, ?)'),
    };
    const p = (sql: string): StatementSync => this.#db.prepare(sql);
    this.#stmts = {
      insertInbox: p('INSERT OR IGNORE INTO inbox (sender, control_id, received_at, raw, content_hash) VALUES (?, ?, ?, ?, ?)'),
      acceptedAs: p('SELECT seq, content_hash FROM inbox WHERE sender = ? AND control_id = ?'),
      pending: p("SELECT seq, sender, control_id, received_at, raw FROM inbox WHERE status = 'pending' ORDER BY seq LIMIT ?"),
      outcomes: p("SELECT seq, status, conversion_error FROM inbox WHERE seq IN (SELECT value FROM json_each(?)) AND status <> 'pending'"),
      requeue: p("UPDATE inbox SET status = 'pending', conversion_error = NULL WHERE seq = ?"),
      get: p('SELECT json, patient FROM resources WHERE type = ? AND id = ?'),
      put: p('INSERT INTO resources (type, id, patient, last_updated, json) VALUES (?, ?, ?, ?, ?) ON CONFLICT (type, id) DO UPDATE SET patient = excluded.patient, last_updated = excluded.last_updated, json = excluded.json'),
      byPatient: p('SELECT json, patient FROM resources WHERE patient = ?'),
      listType: p('SELECT json FROM resources WHERE type = ? ORDER BY id'),
      addDead: p('INSERT INTO dead_letters (created_at, stage, sender, control_id, reason, raw, inbox_seq) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      deadOpen: p('SELECT * FROM dead_letters WHERE replayed_at IS NULL ORDER BY id LIMIT ?'),
      deadAll: p('SELECT * FROM dead_letters ORDER BY id LIMIT ?'),
      deadOne: p('SELECT * FROM dead_letters WHERE id = ?'),
      replayed: p('UPDATE dead_letters SET replayed_at = ?, replay_outcome = ? WHERE id = ?'),
      newest: p('SELECT received_at AS newest FROM inbox ORDER BY seq DESC LIMIT 1'),
      pendingCount: p("SELECT COUNT(*) AS n FROM inbox WHERE status = 'pending'"),
      deadCount: p('SELECT COUNT(*) AS n FROM dead_letters WHERE replayed_at IS NULL'),
    };
  }

  /** Runs fn after every earlier call finished (one connection, no interleaved transactions). */
  #serial<T>(fn: () => T | Promise<T>): Promise<T> {
    const run = this.#lock.then(fn, fn);
    this.#lock = run.catch(() => undefined);
    return run;
  }

  accept(entries: readonly InboxEntry[], deadLetters: readonly DeadLetterEntry[] = []): Promise<AcceptResult[]> {
    return this.#serial(() => {
      this.#db.exec('BEGIN IMMEDIATE');
      try {
        for (const letter of deadLetters) this.#addDeadLetter(letter);
        const results = entries.map((e): AcceptResult => {
          const r = this.#stmts.insertInbox!.run(e.sender, e.controlId, e.receivedAt, e.raw, e.contentHash);
          if (r.changes > 0) return { seq: Number(r.lastInsertRowid), status: 'accepted' };
          const prior = this.#stmts.acceptedAs!.get(e.sender, e.controlId) as { seq: number; content_hash: string | null };
          return { seq: Number(prior.seq), status: sameContent(prior.content_hash, e.contentHash) ? 'duplicate' : 'conflict' };
        });
        this.#db.exec('COMMIT');
        return results;
      } catch (error) {
        this.#db.exec('ROLLBACK');
        throw error;
      }
    });
  }

  pending(limit: number): Promise<InboxItem[]> {
    return this.#serial(() =>
      (this.#stmts.pending!.all(limit) as unknown as { seq: number; sender: string; control_id: string; received_at: string; raw: string }[]).map((r) => ({
        seq: r.seq, sender: r.sender, controlId: r.control_id, receivedAt: r.received_at, raw: r.raw,
      })),
    );
  }

  transaction<T>(fn: (tx: StoreTransaction) => Promise<T>): Promise<T> {
    return this.#serial(async () => {
      this.#conv.exec('BEGIN IMMEDIATE');
      try {
        const result = await fn(this.#tx());
        this.#conv.exec('COMMIT');
        return result;
      } catch (error) {
        this.#conv.exec('ROLLBACK');
        throw error;
      }
    });
  }

  #tx(): StoreTransaction {
    const s = this.#convStmts;

    return {
      get: async (type, id) => {
        const row = s.get!.get(type, id) as { json: string; patient: string | null } | undefined;
        return row ? { resource: JSON.parse(row.json) as Resource, patient: row.patient } : undefined;
      },
      getMany: async (keys) => {
        const found = new Map<string, StoredResource>();
        for (const { resourceType, id } of keys) {
          const row = s.get!.get(resourceType, id) as { json: string; patient: string | null } | undefined;
          if (row) found.set(`${resourceType}/${id}`, { resource: JSON.parse(row.json) as Resource, patient: row.patient });
        }
        return found;
      },
      deleteMany: async (keys) => {
        for (const { resourceType, id } of keys) s.delete!.run(resourceType, id);
      },
      putMany: async (entries) => {
        for (const { resource, patient } of entries) {
          s.put!.run(resource.resourceType, resource.id!, patient, resource.meta?.lastUpdated ?? '', JSON.stringify(resource));
        }
      },
      byPatient: async (patient) =>
        (s.byPatient!.all(patient) as unknown as { json: string; patient: string | null }[]).map(
          (r): StoredResource => ({ resource: JSON.parse(r.json) as Resource, patient: r.patient }),
        ),
      finish: async (outcomes) => {
        for (const o of outcomes) {
          const { status, error } = outcomeColumns(o);
          s.finish!.run(status, error, o.seq);
        }
      },
      stillPending: async (seqs) => {
        const out = new Set<number>();
        for (const seq of seqs) if ((s.status!.get(seq) as { status: string } | undefined)?.status === 'pending') out.add(seq);
        return out;
      },
      deadLetter: async (e) =>
        Number(s.addDead!.run(new Date().toISOString(), e.stage, e.sender, e.controlId, e.reason, e.raw, e.inboxSeq ?? null).lastInsertRowid),
    };
  }

  #addDeadLetter(e: DeadLetterEntry): number {
    const r = this.#stmts.addDead!.run(new Date().toISOString(), e.stage, e.sender, e.controlId, e.reason, e.raw, e.inboxSeq ?? null);
    return Number(r.lastInsertRowid);
  }

  read(resourceType: string, id: string): Promise<Resource | undefined> {
    return this.#serial(() => {
      const row = this.#stmts.get!.get(resourceType, id) as { json: string } | undefined;
      return row ? (JSON.parse(row.json) as Resource) : undefined;
    });
  }

  list(resourceType: string, patients?: readonly string[]): Promise<Resource[]> {
    return this.#serial(() => {
      let rows: { json: string }[];
      if (patients) {
        if (patients.length === 0) return [];
        const marks = patients.map(() => '?').join(', ');
        rows = this.#db
          .prepare(`SELECT json FROM resources WHERE type = ? AND patient IN (${marks}) ORDER BY id`)
          .all(resourceType, ...patients) as unknown as { json: string }[];
      } else {
        rows = this.#stmts.listType!.all(resourceType) as unknown as { json: string }[];
      }
      return rows.map((r) => JSON.parse(r.json) as Resource);
    });
  }

  addDeadLetter(entry: DeadLetterEntry): Promise<number> {
    return this.#serial(() => this.#addDeadLetter(entry));
  }

  deadLetters(options: { limit: number; includeReplayed?: boolean }): Promise<DeadLetter[]> {
    return this.#serial(() =>
      ((options.includeReplayed ? this.#stmts.deadAll! : this.#stmts.deadOpen!).all(options.limit) as unknown as DeadLetterRow[]).map(toDeadLetter),
    );
  }

  deadLetter(id: number): Promise<DeadLetter | undefined> {
    return this.#serial(() => {
      const row = this.#stmts.deadOne!.get(id) as DeadLetterRow | undefined;
      return row ? toDeadLetter(row) : undefined;
    });
  }

  markReplayed(id: number, outcome: string): Promise<void> {
    return this.#serial(() => {
      this.#stmts.replayed!.run(new Date().toISOString(), outcome, id);
    });
  }

  outcomes(seqs: readonly number[]): Promise<ConversionOutcome[]> {
    return this.#serial(() =>
      (this.#stmts.outcomes!.all(JSON.stringify(seqs)) as unknown as { seq: number; status: string; conversion_error: string | null }[]).map((r) =>
        toOutcome(r.seq, r.status, r.conversion_error),
      ),
    );
  }

  requeue(seq: number): Promise<void> {
    return this.#serial(() => {
      this.#stmts.requeue!.run(seq);
    });
  }

  stats(): Promise<StoreStats> {
    return this.#serial(() => {
      const newest = (this.#stmts.newest!.get() as { newest: string } | undefined)?.newest;
      return {
        ...(newest ? { newestReceivedAt: newest } : {}),
        pending: Number((this.#stmts.pendingCount!.get() as { n: number }).n),
        deadLetters: Number((this.#stmts.deadCount!.get() as { n: number }).n),
      };
    });
  }

  close(): Promise<void> {
    return this.#serial(() => {
      if (this.#conv.isOpen) this.#conv.close();
      if (this.#db.isOpen) this.#db.close();
    });
  }
}

/** Columns added after the first release, added to stores created before them. */
const ADDED_INBOX_COLUMNS = ['content_hash', 'conversion_error'] as const;

function addMissingColumns(db: DatabaseSync): void {
  const present = new Set((db.prepare('PRAGMA table_info(inbox)').all() as { name: string }[]).map((c) => c.name));
  for (const column of ADDED_INBOX_COLUMNS) if (!present.has(column)) db.exec(`ALTER TABLE inbox ADD COLUMN ${column} TEXT`);
}

/** Files the store under the current record key scheme, rebuilding it if it was filed under an older one. */
function adoptKeyScheme(db: DatabaseSync): KeySchemeRebuild | undefined {
  db.exec('BEGIN IMMEDIATE');
  try {
    const recorded = (db.prepare("SELECT value FROM store_meta WHERE name = 'record_key_scheme'").get() as { value: string } | undefined)?.value;
    const from = storedKeyScheme(recorded, db.prepare('SELECT 1 FROM resources LIMIT 1').get() !== undefined);
    let messages = 0;
    if (from < RECORD_KEY_SCHEME) {
      db.exec('DELETE FROM resources');
      messages = Number(db.prepare("UPDATE inbox SET status = 'pending' WHERE status = 'done'").run().changes);
    }
    if (recorded !== String(RECORD_KEY_SCHEME)) {
      db.prepare("INSERT INTO store_meta (name, value) VALUES ('record_key_scheme', ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value")
        .run(String(RECORD_KEY_SCHEME));
    }
    db.exec('COMMIT');
    return from < RECORD_KEY_SCHEME ? { from, to: RECORD_KEY_SCHEME, messages } : undefined;
  } catch (error) {
    db.exec('ROLLBACK');
    throw error;
  }
}

/** Whether a stored message has this content; rows from before content hashes count as the same. */
export function sameContent(stored: string | null, hash: string): boolean {
  return stored === null || stored === hash;
}

/** The inbox columns (status, conversion_error) recording a conversion outcome; `toOutcome` reads them back. */
export function outcomeColumns(o: ConversionOutcome): { status: 'done' | 'failed'; error: string | null } {
  return { status: o.ok ? 'done' : 'failed', error: o.error ? JSON.stringify(o.error) : null };
}

export function toOutcome(seq: number, status: string, error: string | null): ConversionOutcome {
  return { seq, ok: status === 'done', ...(error ? { error: JSON.parse(error) as NonNullable<ConversionOutcome['error']> } : {}) };
}

export function toDeadLetter(r: DeadLetterRow): DeadLetter {
  return {
    id: Number(r.id),
    createdAt: r.created_at,
    stage: r.stage === 'conversion' ? 'conversion' : 'acceptance',
    sender: r.sender,
    controlId: r.control_id,
    reason: r.reason,
    raw: r.raw,
    ...(r.inbox_seq !== null ? { inboxSeq: Number(r.inbox_seq) } : {}),
    ...(r.replayed_at ? { replayedAt: r.replayed_at } : {}),
    ...(r.replay_outcome ? { replayOutcome: r.replay_outcome } : {}),
  };
}

export type { DeadLetterRow };
