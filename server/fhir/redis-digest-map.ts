/**
 * Digested ids (`<source>..<digest>`) resolvable on every replica and after restarts: each one
 * issued is written to Redis once per process (a key per id, kept 30 days from issue; a response
 * goes out once its new ids are written), and ids a request names that this process has not seen
 * are fetched from Redis before the request is decoded. An in-process map in front keeps the
 * hot path synchronous.
 *
 * A write is kept until Redis has it: one the connection gave up on while Redis was away (its
 * offline queue flushed with an error) is sent again. A response waits a bounded time for its ids
 * (`flush(ms)` says whether they were stored; the FHIR layer answers 503 otherwise, as the
 * permission checks do while Redis is away), and `close()` waits a bounded time for all of them.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { BoundedDigestMap } from './ids.ts';
import type { DigestReverseMap, SourceLocalId } from './ids.ts';
import { FhirHttpError } from './outcomes.ts';

export interface RedisDigestMapOptions {
  /** Key prefix (one per deployment; tests use their own). */
  readonly keyPrefix?: string;
  readonly ttlSeconds?: number;
}

/** Waits between resending a write Redis did not take (doubling up to the maximum). */
const RETRY_BASE_MS = 50;
const RETRY_MAX_MS = 1_000;
/** How long a stopping server waits for ids Redis has not taken yet. */
const CLOSE_WAIT_MS = 5_000;

interface PendingWrite {
  readonly payload: string;
  /** Resolves once Redis has acknowledged the write. */
  readonly stored: Promise<void>;
  readonly done: () => void;
}

export class RedisDigestMap implements DigestReverseMap {
  readonly #local = new BoundedDigestMap();
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #ttlSeconds: number;

  constructor(redis: Redis, options: RedisDigestMapOptions = {}) {
    this.#redis = redis;
    this.#prefix = options.keyPrefix ?? 'medrec:fhir:digest-id:';
    this.#ttlSeconds = options.ttlSeconds ?? 30 * 24 * 3600;
  }

  get(id: string): SourceLocalId | undefined {
    return this.#local.get(id);
  }

  set(id: string, value: SourceLocalId): void {
    if (this.#local.get(id)) return;
    this.#local.set(id, value);
    let stored!: () => void;
    const write: PendingWrite = { payload: JSON.stringify([value.sourceId, value.localId]), stored: new Promise((resolve) => (stored = resolve)), done: () => stored() };
    this.#pending.set(this.#prefix + id, write);
    this.#redis.set(this.#prefix + id, write.payload, 'EX', this.#ttlSeconds).then(
      () => this.#acknowledged(this.#prefix + id),
      () => this.#resendLater(),
    );
  }

  /** Writes Redis has not acknowledged yet, by key. */
  readonly #pending = new Map<string, PendingWrite>();
  /** The one resend loop, while some write failed. */
  #resending: Promise<void> | undefined;
  #closed = false;

  #acknowledged(key: string): void {
    this.#pending.get(key)?.done();
    this.#pending.delete(key);
  }

  /** Resends every pending write in one pipeline, backing off, until all are stored or the map is closed. */
  #resendLater(): void {
    this.#resending ??= (async () => {
      for (let attempt = 0; this.#pending.size > 0; attempt++) {
        await sleep(Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** attempt));
        // `end`: disconnected by its owner (or reconnecting given up): nothing can take the writes.
        if (this.#closed || this.#redis.status === 'end') return;
        const keys = [...this.#pending.keys()];
        const pipe = this.#redis.pipeline();
        for (const key of keys) pipe.set(key, this.#pending.get(key)!.payload, 'EX', this.#ttlSeconds);
        const replies = await pipe.exec().catch(() => null);
        replies?.forEach(([err], i) => {
          if (!err) this.#acknowledged(keys[i]!);
        });
      }
    })().finally(() => {
      this.#resending = undefined;
      // A write that failed while this loop was ending found it still set.
      if (this.#pending.size > 0 && !this.#closed && this.#redis.status !== 'end') this.#resendLater();
    });
  }

  /**
   * Whether the ids set before this call are stored (writes waiting for Redis to return included),
   * waiting at most `withinMs` (unbounded without it). Writes not done by then carry on.
   */
  async flush(withinMs?: number): Promise<boolean> {
    const mine = Promise.all([...this.#pending.values()].map((w) => w.stored)).then(() => true);
    if (withinMs === undefined) return mine;
    const timer = new AbortController(); // so the wait leaves no timer behind
    try {
      return await Promise.race([mine, sleep(withinMs, false, { signal: timer.signal, ref: false }).catch(() => false)]);
    } finally {
      timer.abort();
    }
  }

  /** Stores the accepted ids Redis takes within a bound, then closes the connection (QUIT). */
  async close(): Promise<void> {
    await this.flush(CLOSE_WAIT_MS);
    this.#closed = true;
    await this.#redis.quit().catch(() => this.#redis.disconnect());
  }

  async prefetch(ids: readonly string[]): Promise<void> {
    const missing = [...new Set(ids)].filter((id) => !this.#local.get(id));
    if (missing.length === 0) return;
    let values: Array<string | null>;
    try {
      values = await this.#redis.mget(missing.map((id) => this.#prefix + id));
    } catch {
      throw new FhirHttpError(503, [{ severity: 'error', code: 'transient', details: { text: 'resource ids cannot be resolved right now (id store unavailable)' } }]);
    }
    missing.forEach((id, i) => {
      const raw = values[i];
      if (!raw) return;
      const [sourceId, localId] = JSON.parse(raw) as [string, string];
      this.#local.set(id, { sourceId, localId });
    });
  }
}
