/**
 * The production HL7v2 store on PostgreSQL (pg). One schema per source. Acceptance is one
 * multi-row `INSERT ... ON CONFLICT DO NOTHING` committed with the default synchronous_commit,
 * so the AA follows a WAL flush. Resources are kept as jsonb filed by (type, id) and patient.
 */
import pg from 'pg';
import type { Resource } from '@medplum/fhirtypes';
import type {
  AcceptResult, ConversionOutcome, DeadLetter, DeadLetterEntry, Hl7Store, InboxEntry, InboxItem, StoreStats, StoreTransaction, StoredResource,
} from './hl7-store.ts';
import { RECORD_KEY_SCHEME, storedKeyScheme, type KeySchemeRebuild } from './record-key-scheme.ts';
import { outcomeColumns, sameContent, toDeadLetter, toOutcome, type DeadLetterRow } from './sqlite-store.ts';

export interface PostgresStoreOptions {
  readonly connectionString: string;
  /** Schema holding this source's tables: `[a-z_][a-z0-9_]*`. */
  readonly schema: string;
  readonly poolSize?: number;
}

export async function openPostgresHl7Store(options: PostgresStoreOptions): Promise<PostgresHl7Store> {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(options.schema)) throw new Error(`invalid schema name: ${options.schema}`);
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.poolSize ?? 4,
    // A database that hangs must fail calls (AE 207 to senders, health down), not stall them forever.
    connectionTimeoutMillis: 10_000,
    statement_timeout: 60_000,
    keepAlive: true,
  });
  // An idle connection the server dropped (restart, failover) is replaced at the next checkout;
  // unhandled, its error would end the process (or the store's thread).
  pool.on('error', () => undefined);
  const s = options.schema;
  try {
    return new PostgresHl7Store(pool, s, await createSchema(pool, s));
  } catch (error) {
    await pool.end();
    throw error;
  }
}

/** Creates or updates the source's tables and files it under the current record key scheme. */
async function createSchema(pool: pg.Pool, s: string): Promise<KeySchemeRebuild | undefined> {
  // Concurrent first starts of two nodes on one database: serialise DDL with an advisory lock.
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock(hashtext($1))', [s]);
    await client.query(`
      CREATE SCHEMA IF NOT EXISTS ${s};
      CREATE TABLE IF NOT EXISTS ${s}.inbox (
        seq BIGSERIAL PRIMARY KEY, sender TEXT NOT NULL, control_id TEXT NOT NULL, received_at TEXT NOT NULL,
        raw TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'pending', UNIQUE (sender, control_id));
      ALTER TABLE ${s}.inbox ADD COLUMN IF NOT EXISTS content_hash TEXT;
      ALTER TABLE ${s}.inbox ADD COLUMN IF NOT EXISTS conversion_error TEXT;
      CREATE INDEX IF NOT EXISTS inbox_pending ON ${s}.inbox (seq) WHERE status = 'pending';
      CREATE TABLE IF NOT EXISTS ${s}.resources (
        type TEXT NOT NULL, id TEXT NOT NULL, patient TEXT, last_updated TEXT NOT NULL, body JSONB NOT NULL,
        PRIMARY KEY (type, id));
      CREATE INDEX IF NOT EXISTS resources_patient ON ${s}.resources (patient, type);
      CREATE TABLE IF NOT EXISTS ${s}.dead_letters (
        id BIGSERIAL PRIMARY KEY, created_at TEXT NOT NULL, stage TEXT NOT NULL, sender TEXT NOT NULL,
        control_id TEXT NOT NULL, reason TEXT NOT NULL, raw TEXT NOT NULL, inbox_seq BIGINT,
        replayed_at TEXT, replay_outcome TEXT);
      CREATE TABLE IF NOT EXISTS ${s}.store_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
    `);
    return await adoptKeyScheme(client, s);
  } finally {
    await client.query('SELECT pg_advisory_unlock(hashtext($1))', [s]).catch(() => undefined);
    client.release();
  }
}

/** Rebuilds a store filed under an older record key scheme (see record-key-scheme.ts), in one transaction. */
async function adoptKeyScheme(client: pg.PoolClient, s: string): Promise<KeySchemeRebuild | undefined> {
  await client.query('BEGIN');
  try {
    // Not while another node's converter applies a batch.
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`${s}.conversion`]);
    const { rows } = await client.query<{ recorded: string | null; holds: boolean }>(
      `SELECT (SELECT value FROM ${s}.store_meta WHERE name = 'record_key_scheme') AS recorded, EXISTS (SELECT 1 FROM ${s}.resources) AS holds`);
    const recorded = rows[0]!.recorded ?? undefined;
    const from = storedKeyScheme(recorded, rows[0]!.holds);
    let messages = 0;
    if (from < RECORD_KEY_SCHEME) {
      await client.query(`DELETE FROM ${s}.resources`);
      messages = (await client.query(`UPDATE ${s}.inbox SET status = 'pending' WHERE status = 'done'`)).rowCount ?? 0;
    }
    if (recorded !== String(RECORD_KEY_SCHEME)) {
      await client.query(
        `INSERT INTO ${s}.store_meta (name, value) VALUES ('record_key_scheme', $1) ON CONFLICT (name) DO UPDATE SET value = excluded.value`,
        [String(RECORD_KEY_SCHEME)]);
    }
    await client.query('COMMIT');
    return from < RECORD_KEY_SCHEME ? { from, to: RECORD_KEY_SCHEME, messages } : undefined;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

type Queryable = pg.Pool | pg.PoolClient;

export class PostgresHl7Store implements Hl7Store {
  readonly #pool: pg.Pool;
  readonly #s: string;
  /** Set when opening rebuilt records filed under an older key scheme (see record-key-scheme.ts). */
  readonly keySchemeRebuild?: KeySchemeRebuild;

  constructor(pool: pg.Pool, schema: string, keySchemeRebuild?: KeySchemeRebuild) {
    this.#pool = pool;
    this.#s = schema;
    if (keySchemeRebuild) this.keySchemeRebuild = keySchemeRebuild;
  }

  async accept(entries: readonly InboxEntry[], deadLetters: readonly DeadLetterEntry[] = []): Promise<AcceptResult[]> {
    if (deadLetters.length) {
      await this.#pool.query(
        `INSERT INTO ${this.#s}.dead_letters (created_at, stage, sender, control_id, reason, raw)
         SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[])`,
        [new Date().toISOString(), deadLetters.map((d) => d.stage), deadLetters.map((d) => d.sender), deadLetters.map((d) => d.controlId),
          deadLetters.map((d) => d.reason), deadLetters.map((d) => d.raw)],
      );
    }
    if (entries.length === 0) return [];
    const { rows } = await this.#pool.query<{ seq: string; sender: string; control_id: string }>(
      `INSERT INTO ${this.#s}.inbox (sender, control_id, received_at, raw, content_hash)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
       ON CONFLICT (sender, control_id) DO NOTHING RETURNING seq, sender, control_id`,
      [entries.map((e) => e.sender), entries.map((e) => e.controlId), entries.map((e) => e.receivedAt), entries.map((e) => e.raw),
        entries.map((e) => e.contentHash)],
    );
    const key = (sender: string, controlId: string): string => `${sender}\u0000${controlId}`;
    const inserted = new Map(rows.map((r) => [key(r.sender, r.control_id), Number(r.seq)]));
    // The first entry of a key that was inserted is accepted; any other (an earlier message's key,
    // or a second copy in this batch) is compared with what the inbox holds under that key.
    const seqs = entries.map((e) => {
      const k = key(e.sender, e.controlId);
      const seq = inserted.get(k);
      inserted.delete(k);
      return seq;
    });
    const repeated = entries.filter((_, i) => seqs[i] === undefined);
    const prior = new Map<string, { seq: number; hash: string | null }>();
    if (repeated.length) {
      const found = await this.#pool.query<{ seq: string; sender: string; control_id: string; content_hash: string | null }>(
        `SELECT i.seq, i.sender, i.control_id, i.content_hash FROM ${this.#s}.inbox i
         JOIN unnest($1::text[], $2::text[]) AS k(sender, control_id) ON i.sender = k.sender AND i.control_id = k.control_id`,
        [repeated.map((e) => e.sender), repeated.map((e) => e.controlId)],
      );
      for (const r of found.rows) prior.set(key(r.sender, r.control_id), { seq: Number(r.seq), hash: r.content_hash });
    }
    return entries.map((e, i): AcceptResult => {
      const seq = seqs[i];
      if (seq !== undefined) return { seq, status: 'accepted' };
      const stored = prior.get(key(e.sender, e.controlId));
      return { seq: stored?.seq ?? 0, status: !stored || sameContent(stored.hash, e.contentHash) ? 'duplicate' : 'conflict' };
    });
  }

  async pending(limit: number): Promise<InboxItem[]> {
    const { rows } = await this.#pool.query<{ seq: string; sender: string; control_id: string; received_at: string; raw: string }>(
      `SELECT seq, sender, control_id, received_at, raw FROM ${this.#s}.inbox WHERE status = 'pending' ORDER BY seq LIMIT $1`,
      [limit],
    );
    return rows.map((r) => ({ seq: Number(r.seq), sender: r.sender, controlId: r.control_id, receivedAt: r.received_at, raw: r.raw }));
  }

  async transaction<T>(fn: (tx: StoreTransaction) => Promise<T>): Promise<T> {
    const client = await this.#pool.connect();
    try {
      await client.query('BEGIN');
      // One converter per source at a time, whichever node it runs on: per-patient order holds.
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`${this.#s}.conversion`]);
      const result = await fn(this.#tx(client));
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  #tx(client: pg.PoolClient): StoreTransaction {
    const s = this.#s;
    return {
      get: async (type, id) => {
        const { rows } = await client.query<{ body: Resource; patient: string | null }>(
          `SELECT body, patient FROM ${s}.resources WHERE type = $1 AND id = $2`, [type, id]);
        return rows[0] ? { resource: rows[0].body, patient: rows[0].patient } : undefined;
      },
      getMany: async (keys) => {
        const found = new Map<string, StoredResource>();
        if (keys.length === 0) return found;
        const { rows } = await client.query<{ type: string; id: string; body: Resource; patient: string | null }>(
          `SELECT r.type, r.id, r.body, r.patient FROM ${s}.resources r
           JOIN unnest($1::text[], $2::text[]) AS k(type, id) ON r.type = k.type AND r.id = k.id`,
          [keys.map((k) => k.resourceType), keys.map((k) => k.id)],
        );
        for (const r of rows) found.set(`${r.type}/${r.id}`, { resource: r.body, patient: r.patient });
        return found;
      },
      deleteMany: async (keys) => {
        if (keys.length === 0) return;
        await client.query(
          `DELETE FROM ${s}.resources r USING unnest($1::text[], $2::text[]) AS k(type, id) WHERE r.type = k.type AND r.id = k.id`,
          [keys.map((k) => k.resourceType), keys.map((k) => k.id)],
        );
      },
      putMany: async (entries) => {
        if (entries.length === 0) return;
        await client.query(
          `INSERT INTO ${s}.resources (type, id, patient, last_updated, body)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::jsonb[])
           ON CONFLICT (type, id) DO UPDATE SET patient = excluded.patient, last_updated = excluded.last_updated, body = excluded.body`,
          [
            entries.map((e) => e.resource.resourceType),
            entries.map((e) => e.resource.id),
            entries.map((e) => e.patient),
            entries.map((e) => e.resource.meta?.lastUpdated ?? ''),
            entries.map((e) => JSON.stringify(e.resource)),
          ],
        );
      },
      byPatient: async (patient) => {
        const { rows } = await client.query<{ body: Resource; patient: string | null }>(
          `SELECT body, patient FROM ${s}.resources WHERE patient = $1`, [patient]);
        return rows.map((r): StoredResource => ({ resource: r.body, patient: r.patient }));
      },
      finish: async (outcomes) => {
        if (outcomes.length === 0) return;
        const columns = outcomes.map(outcomeColumns);
        await client.query(
          `UPDATE ${s}.inbox i SET status = o.status, conversion_error = o.error
           FROM unnest($1::bigint[], $2::text[], $3::text[]) AS o(seq, status, error) WHERE i.seq = o.seq`,
          [outcomes.map((o) => o.seq), columns.map((c) => c.status), columns.map((c) => c.error)],
        );
      },
      stillPending: async (seqs) => {
        const { rows } = await client.query<{ seq: string }>(
          `SELECT seq FROM ${s}.inbox WHERE seq = ANY($1::bigint[]) AND status = 'pending'`, [[...seqs]]);
        return new Set(rows.map((r) => Number(r.seq)));
      },
      deadLetter: (entry) => this.#addDeadLetter(client, entry),
    };
  }

  async #addDeadLetter(db: Queryable, e: DeadLetterEntry): Promise<number> {
    const { rows } = await db.query<{ id: string }>(
      `INSERT INTO ${this.#s}.dead_letters (created_at, stage, sender, control_id, reason, raw, inbox_seq)
       VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
      [new Date().toISOString(), e.stage, e.sender, e.controlId, e.reason, e.raw, e.inboxSeq ?? null],
    );
    return Number(rows[0]!.id);
  }

  async read(resourceType: string, id: string): Promise<Resource | undefined> {
    const { rows } = await this.#pool.query<{ body: Resource }>(
      `SELECT body FROM ${this.#s}.resources WHERE type = $1 AND id = $2`, [resourceType, id]);
    return rows[0]?.body;
  }

  async list(resourceType: string, patients?: readonly string[]): Promise<Resource[]> {
    if (patients && patients.length === 0) return [];
    const { rows } = patients
      ? await this.#pool.query<{ body: Resource }>(
          `SELECT body FROM ${this.#s}.resources WHERE type = $1 AND patient = ANY($2::text[]) ORDER BY id`, [resourceType, [...patients]])
      : await this.#pool.query<{ body: Resource }>(`SELECT body FROM ${this.#s}.resources WHERE type = $1 ORDER BY id`, [resourceType]);
    return rows.map((r) => r.body);
  }

  addDeadLetter(entry: DeadLetterEntry): Promise<number> {
    return this.#addDeadLetter(this.#pool, entry);
  }

  async deadLetters(options: { limit: number; includeReplayed?: boolean }): Promise<DeadLetter[]> {
    const where = options.includeReplayed ? '' : 'WHERE replayed_at IS NULL';
    const { rows } = await this.#pool.query<DeadLetterRow>(`SELECT * FROM ${this.#s}.dead_letters ${where} ORDER BY id LIMIT $1`, [options.limit]);
    return rows.map(toDeadLetter);
  }

  async deadLetter(id: number): Promise<DeadLetter | undefined> {
    const { rows } = await this.#pool.query<DeadLetterRow>(`SELECT * FROM ${this.#s}.dead_letters WHERE id = $1`, [id]);
    return rows[0] ? toDeadLetter(rows[0]) : undefined;
  }

  async markReplayed(id: number, outcome: string): Promise<void> {
    await this.#pool.query(`UPDATE ${this.#s}.dead_letters SET replayed_at = $1, replay_outcome = $2 WHERE id = $3`, [new Date().toISOString(), outcome, id]);
  }

  async outcomes(seqs: readonly number[]): Promise<ConversionOutcome[]> {
    if (seqs.length === 0) return [];
    const { rows } = await this.#pool.query<{ seq: string; status: string; conversion_error: string | null }>(
      `SELECT seq, status, conversion_error FROM ${this.#s}.inbox WHERE seq = ANY($1::bigint[]) AND status <> 'pending'`, [[...seqs]]);
    return rows.map((r) => toOutcome(Number(r.seq), r.status, r.conversion_error));
  }

  async requeue(seq: number): Promise<void> {
    await this.#pool.query(`UPDATE ${this.#s}.inbox SET status = 'pending', conversion_error = NULL WHERE seq = $1`, [seq]);
  }

  async stats(): Promise<StoreStats> {
    const { rows } = await this.#pool.query<{ newest: string | null; pending: string; dead: string }>(`
      SELECT (SELECT received_at FROM ${this.#s}.inbox ORDER BY seq DESC LIMIT 1) AS newest,
             (SELECT COUNT(*) FROM ${this.#s}.inbox WHERE status = 'pending') AS pending,
             (SELECT COUNT(*) FROM ${this.#s}.dead_letters WHERE replayed_at IS NULL) AS dead`);
    const r = rows[0]!;
    return { ...(r.newest ? { newestReceivedAt: r.newest } : {}), pending: Number(r.pending), deadLetters: Number(r.dead) };
  }

  async close(): Promise<void> {
    await this.#pool.end();
  }
}
