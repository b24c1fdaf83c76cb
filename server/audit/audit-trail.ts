/**
 * The audit trail: every access decision becomes an AuditEvent, off the hot path. Decisions are
 * buffered in memory for up to 200 ms and handed to a BullMQ queue as one job; a worker stores
 * them in Redis, indexed by each patient they concern, and they are read back as AuditEvents.
 * Job payloads carry addresses, type names and source ids only.
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
  readonly onError?: (err: Error) => void;
}

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
  /** Records that could not be queued (Redis away); exported as a metric. */
  dropped = 0;

  constructor(options: AuditTrailOptions) {
    this.#o = options;
    const p = options.keyPrefix ?? 'medrec:audit:';
    this.#keys = { event: (id) => `${p}event:${id}`, patient: (a) => `${p}patient:${a}`, seq: `${p}seq` };
    this.queue = new Queue(AUDIT_QUEUE, {
      connection: options.connection,
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

  /** Called on the hot path: never waits for Redis. */
  record(record: AccessDecisionRecord): void {
    this.#buffer.push(record);
    if (!this.#timer) {
      this.#timer = setTimeout(() => this.#flush(), this.#o.flushMs ?? 200);
      this.#timer.unref();
    }
  }

  #flush(): Promise<unknown> {
    this.#timer = undefined;
    const records = this.#buffer;
    this.#buffer = [];
    if (records.length === 0) return Promise.resolve();
    const p = this.queue
      .add('decisions', { records })
      .catch((err: Error) => {
        this.dropped += records.length;
        this.#o.onError?.(err);
      })
      .finally(() => this.#pending.delete(p));
    this.#pending.add(p);
    return p;
  }

  async #store(records: readonly AccessDecisionRecord[]): Promise<number> {
    const { redis } = this.#o;
    const first = await redis.incrby(this.#keys.seq, records.length);
    const keep = this.#o.keepPerPatient ?? 10_000;
    // One MSET for the batch and one variadic ZADD per patient: few commands per many records.
    const pairs: string[] = [];
    const byPatient = new Map<string, (string | number)[]>();
    records.forEach((r, i) => {
      const id = `audit-${first - records.length + i + 1}`;
      // The compact record is stored; the AuditEvent is rendered when read (reads are rare).
      pairs.push(this.#keys.event(id), JSON.stringify(r));
      for (const patient of r.patients) {
        const members = byPatient.get(patient) ?? [];
        members.push(r.at, id);
        byPatient.set(patient, members);
      }
    });
    const tx = redis.multi();
    tx.mset(...pairs);
    for (const [patient, members] of byPatient) {
      tx.zadd(this.#keys.patient(patient), ...members);
      tx.zremrangebyrank(this.#keys.patient(patient), 0, -keep - 1);
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

  /** Hands everything buffered to the queue (tests and shutdown). */
  async flush(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    await this.#flush();
    await Promise.all([...this.#pending]);
  }

  async close(): Promise<void> {
    await this.flush();
    await this.#worker?.close();
    await this.queue.close();
  }
}
