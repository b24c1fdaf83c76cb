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
    const write = this.#store(this.#prefix + id, JSON.stringify([value.sourceId, value.localId])).finally(() => this.#writes.delete(write));
    this.#writes.add(write);
  }

  readonly #writes = new Set<Promise<void>>();
  #closed = false;

  /** Sends the write until Redis acknowledges it; stops once the map or its connection is closed. */
  async #store(key: string, payload: string): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.#redis.set(key, payload, 'EX', this.#ttlSeconds);
        return;
      } catch {
        // `end`: disconnected by its owner (or reconnecting given up): nothing can take the write.
        if (this.#closed || this.#redis.status === 'end') return;
        await sleep(Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** attempt));
      }
    }
  }

  /**
   * Whether every id set so far is stored (writes waiting for Redis to return included), waiting
   * at most `withinMs` (unbounded without it). Writes not done by then carry on.
   */
  async flush(withinMs?: number): Promise<boolean> {
    const deadline = withinMs === undefined ? undefined : Date.now() + withinMs;
    while (this.#writes.size > 0) {
      const all = Promise.all(this.#writes).then(() => true);
      const left = deadline === undefined ? undefined : deadline - Date.now();
      if (left !== undefined && (left <= 0 || !(await Promise.race([all, sleep(left, false)])))) return false;
      if (left === undefined) await all;
    }
    return true;
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
