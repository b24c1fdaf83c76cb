/**
 * The audit trail: every access decision becomes an AuditEvent, off the hot path. Decisions are
 * buffered in memory for up to 200 ms and handed to a BullMQ queue as one job; a worker stores
 * them in Redis, indexed by each patient they concern, and they are read back as AuditEvents.
 * Job payloads carry addresses, type names and source ids only.
 *
 * Bounded: stored events expire after the retention period (an event may be indexed under
 * several patients, so trimming one patient's index cannot delete it; its expiry does), and each
 * patient's index keeps its newest events within that period. While Redis is away, decisions
 * that could not be queued wait in the buffer (up to `maxBuffered`, the oldest dropped first and
 * counted) and are queued again when it returns.
 */
import { Queue, Worker, type ConnectionOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { AuditEvent } from '@medplum/fhirtypes';
import type { AccessDecisionRecord } from '../authz/chain-access-policy.ts';
import { toAuditEvent } from './audit-event.ts';

export const AUDIT_QUEUE = 'audit';

export interface AuditTrailOptions {
  readonly connection: ConnectionOptions;
  readonly prefix?: string;
  /** Where AuditEvents are stored (commands connection). */
  readonly redis: Redis;
  /** Key prefix of the stored events. */
  readonly keyPrefix?: string;
  /** Whether this process runs the writer. */
  readonly work: boolean;
  readonly flushMs?: number;
  /** Newest events kept per patient. */
  readonly keepPerPatient?: number;
  /** How long a stored event is kept (ms). */
  readonly retentionMs?: number;
  /** Most decisions held while they cannot be queued; beyond it the oldest are dropped. */
  readonly maxBuffered?: number;
  /** Wait before queueing again after a failure (ms). */
  readonly retryMs?: number;
  /** Called with the number of decisions dropped (the buffer was full). */
  readonly onDropped?: (count: number) => void;
  readonly onError?: (err: Error) => void;
}

/** Records per queued job: a long outage's backlog goes out in several jobs. */
const MAX_BATCH = 2_000;
const DAY_MS = 86_400_000;

export interface AuditSearch {
  readonly count?: number;
  /** Only events recorded at or after this time (ms). */
  readonly since?: number;
}

export class AuditTrail {
  readonly queue: Queue<{ records: AccessDecisionRecord[] }>;
  readonly #worker: Worker | undefined;
  readonly #o: AuditTrailOptions;
  readonly #keys: { event: (id: string) => string; patient: (a: string) => string; seq: string };
  #buffer: AccessDecisionRecord[] = [];
  #timer: NodeJS.Timeout | undefined;
  #pending = new Set<Promise<unknown>>();
  /** Records dropped because the buffer was full while they could not be queued. */
  dropped = 0;

  constructor(options: AuditTrailOptions) {
    this.#o = options;
    const p = options.keyPrefix ?? 'medrec:audit:';
    this.#keys = { event: (id) => `${p}event:${id}`, patient: (a) => `${p}patient:${a}`, seq: `${p}seq` };
    this.queue = new Queue(AUDIT_QUEUE, {
      // Fail fast while Redis is away: the records wait in our bounded buffer, not in an
      // unbounded offline queue of the connection.
      connection: { ...options.connection, enableOfflineQueue: false } as ConnectionOptions,
      prefix: options.prefix,
      defaultJobOptions: { removeOnComplete: true, removeOnFail: 1000, attempts: 5, backoff: { type: 'exponential', delay: 200 } },
    });
    this.queue.on('error', (err) => options.onError?.(err));
    if (options.work) {
      this.#worker = new Worker<{ records: AccessDecisionRecord[] }>(AUDIT_QUEUE, async (job) => this.#store(job.data.records), {
        connection: options.connection,
        prefix: options.prefix,
        concurrency: 2,
      });
      this.#worker.on('error', (err) => options.onError?.(err));
    }
  }

  /** Decisions waiting to be queued (buffered, or held while Redis is away). */
  get buffered(): number {
    return this.#buffer.length;
  }

  /** Called on the hot path: never waits for Redis. */
  record(record: AccessDecisionRecord): void {
    this.#buffer.push(record);
    this.#bound();
    this.#schedule(this.#o.flushMs ?? 200);
  }

  #schedule(ms: number): void {
    if (this.#timer) return;
    this.#timer = setTimeout(() => void this.#flush(), ms);
    this.#timer.unref();
  }

  /** Drops the oldest held decisions beyond `maxBuffered`, counting them. */
  #bound(): void {
    const over = this.#buffer.length - (this.#o.maxBuffered ?? 50_000);
    if (over <= 0) return;
    this.#buffer.splice(0, over);
    this.dropped += over;
    this.#o.onDropped?.(over);
  }

  #flush(): Promise<unknown> {
    this.#timer = undefined;
    const records = this.#buffer.splice(0, MAX_BATCH);
    if (records.length === 0) return Promise.resolve();
    const p = this.queue
      .add('decisions', { records })
      .then(
        () => {
          if (this.#buffer.length > 0) void this.#flush(); // a backlog after an outage
        },
        (err: Error) => {
          // Kept, oldest first, ahead of what arrived meanwhile; retried after a pause.
          this.#buffer.unshift(...records);
          this.#bound();
          this.#o.onError?.(err);
          this.#schedule(this.#o.retryMs ?? 1_000);
        },
      )
      .finally(() => this.#pending.delete(p));
    this.#pending.add(p);
    return p;
  }

  async #store(records: readonly AccessDecisionRecord[]): Promise<number> {
    const { redis } = this.#o;
    const first = await redis.incrby(this.#keys.seq, records.length);
    const keep = this.#o.keepPerPatient ?? 10_000;
    const retention = this.#o.retentionMs ?? 90 * DAY_MS;
    const now = Date.now();
    // One SET per record and one variadic ZADD per patient: few commands per many records.
    const tx = redis.multi();
    const byPatient = new Map<string, (string | number)[]>();
    records.forEach((r, i) => {
      const id = `audit-${first - records.length + i + 1}`;
      // The compact record is stored; the AuditEvent is rendered when read (reads are rare).
      tx.set(this.#keys.event(id), JSON.stringify(r), 'PX', Math.max(1, r.at + retention - now));
      for (const patient of r.patients) {
        const members = byPatient.get(patient) ?? [];
        members.push(r.at, id);
        byPatient.set(patient, members);
      }
    });
    for (const [patient, members] of byPatient) {
      const key = this.#keys.patient(patient);
      tx.zadd(key, ...members);
      tx.zremrangebyrank(key, 0, -keep - 1);
      tx.zremrangebyscore(key, '-inf', now - retention);
      tx.pexpire(key, retention); // a patient nobody reads about any more leaves no index behind
    }
    await tx.exec();
    return records.length;
  }

  /** The AuditEvents concerning one patient, newest first. */
  async search(patient: string, options: AuditSearch = {}): Promise<AuditEvent[]> {
    const { redis } = this.#o;
    const ids = await redis.zrevrangebyscore(
      this.#keys.patient(patient.toLowerCase()),
      '+inf',
      options.since ?? '-inf',
      'LIMIT',
      0,
      Math.min(options.count ?? 50, 1000),
    );
    if (ids.length === 0) return [];
    const raw = await redis.mget(ids.map((id) => this.#keys.event(id)));
    return ids.flatMap((id, i) => {
      const r = raw[i];
      return r ? [toAuditEvent(id, JSON.parse(r) as AccessDecisionRecord)] : [];
    });
  }

  /** Hands everything buffered to the queue, as far as Redis takes it (tests and shutdown). */
  async flush(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#flush();
    while (this.#pending.size > 0) await Promise.all([...this.#pending]);
  }

  async close(): Promise<void> {
    await this.flush();
    if (this.#timer) clearTimeout(this.#timer);
    // Redis still away at shutdown: what is held now is lost, and counted as such.
    const lost = this.#buffer.splice(0).length;
    if (lost > 0) {
      this.dropped += lost;
      this.#o.onDropped?.(lost);
    }
    await this.#worker?.close();
    await this.queue.close();
  }
}
