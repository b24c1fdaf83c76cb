/**
 * The audit trail: every access decision becomes an AuditEvent, off the hot path. Decisions are
 * buffered in memory for up to 200 ms and handed to a BullMQ queue as one job (decisions that
 * differ only in time travel as one record with all their times); a worker stores them in Redis,
 * indexed by each patient they concern, and they are read back as one AuditEvent per access.
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

/** Decisions that differ only in their time, queued and stored once with every time. */
interface DecisionGroup {
  readonly record: Omit<AccessDecisionRecord, 'at'>;
  readonly at: number[];
}

/** Groups a batch: a client repeating the same request costs one record, not one per request. */
function groupDecisions(records: readonly AccessDecisionRecord[]): DecisionGroup[] {
  const groups = new Map<string, DecisionGroup>();
  for (const r of records) {
    const key = [r.subject, r.clientId, r.tokenId, r.resourceType, r.action, r.patients.join(','), r.sources.join(','), r.purpose, r.outcome, r.status, r.reason].join('|');
    const group = groups.get(key);
    if (group) group.at.push(r.at);
    else {
      const { at, ...record } = r;
      groups.set(key, { record, at: [at] });
    }
  }
  return [...groups.values()];
}
const DAY_MS = 86_400_000;

export interface AuditSearch {
  readonly count?: number;
  /** Only events recorded at or after this time (ms). */
  readonly since?: number;
}

export class AuditTrail {
  readonly queue: Queue<{ groups: DecisionGroup[] }>;
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
      this.#worker = new Worker<{ groups: DecisionGroup[] }>(AUDIT_QUEUE, async (job) => this.#store(job.data.groups), {
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
      .add('decisions', { groups: groupDecisions(records) })
      .then(
        () => {
          // A backlog after an outage goes out at once; new decisions wait for the next flush.
          if (this.#buffer.length >= MAX_BATCH) void this.#flush();
          else if (this.#buffer.length > 0) this.#schedule(this.#o.flushMs ?? 200);
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

  async #store(groups: readonly DecisionGroup[]): Promise<number> {
    const { redis } = this.#o;
    const batch = await redis.incr(this.#keys.seq);
    const keep = this.#o.keepPerPatient ?? 10_000;
    const retention = this.#o.retentionMs ?? 90 * DAY_MS;
    const now = Date.now();
    // The batch is stored as one value (records are written many per second and read rarely;
    // a command and a key per record cost more than the rest of the audit path), and one
    // variadic ZADD per patient indexes each group `audit-<batch>-<group>` at its newest access.
    const tx = redis.multi();
    // Kept while its newest access is within the retention period (older ones are not indexed).
    const newest = groups.reduce((latest, g) => Math.max(latest, ...g.at), 0);
    tx.set(this.#keys.event(String(batch)), JSON.stringify(groups), 'PX', Math.max(1, newest + retention - now));
    const byPatient = new Map<string, (string | number)[]>();
    let count = 0;
    groups.forEach((g, gi) => {
      count += g.at.length;
      const at = Math.max(...g.at);
      if (at <= now - retention) return; // already past the retention period
      for (const patient of g.record.patients) {
        const members = byPatient.get(patient) ?? [];
        members.push(at, `audit-${batch}-${gi}`);
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
    return count;
  }

  /** The AuditEvents concerning one patient, newest first: one per access. */
  async search(patient: string, options: AuditSearch = {}): Promise<AuditEvent[]> {
    const { redis } = this.#o;
    const count = Math.min(options.count ?? 50, 1000);
    const since = options.since ?? -Infinity;
    // Each group holds at least one access: `count` groups always hold enough.
    const ids = await redis.zrevrangebyscore(this.#keys.patient(patient.toLowerCase()), '+inf', options.since ?? '-inf', 'LIMIT', 0, count);
    if (ids.length === 0) return [];
    const positions = ids.map((id) => /^audit-(\d+)-(\d+)$/.exec(id)).map((m) => (m ? { batch: m[1] as string, group: Number(m[2]) } : undefined));
    const batches = [...new Set(positions.flatMap((p) => (p ? [p.batch] : [])))];
    const raw = batches.length > 0 ? await redis.mget(batches.map((b) => this.#keys.event(b))) : [];
    const stored = new Map(batches.map((b, i) => [b, raw[i] ? (JSON.parse(raw[i] as string) as DecisionGroup[]) : undefined]));
    const events = ids.flatMap((id, i) => {
      const p = positions[i];
      const group = p ? stored.get(p.batch)?.[p.group] : undefined;
      if (!group) return [];
      return group.at.flatMap((at, k) => (at >= since ? [toAuditEvent(`${id}-${k}`, { ...group.record, at })] : []));
    });
    return events.sort((a, b) => (b.recorded ?? '').localeCompare(a.recorded ?? '')).slice(0, count);
  }

  /** Hands everything buffered to the queue, as far as Redis takes it (tests and shutdown). */
  async flush(): Promise<void> {
    const settled = async () => {
      while (this.#pending.size > 0) await Promise.all([...this.#pending]);
    };
    await settled();
    while (this.#buffer.length > 0) {
      if (this.#timer) clearTimeout(this.#timer);
      this.#timer = undefined;
      const held = this.#buffer.length;
      await this.#flush();
      await settled();
      if (this.#buffer.length >= held) break; // not taken (Redis away): held for the retry
    }
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
