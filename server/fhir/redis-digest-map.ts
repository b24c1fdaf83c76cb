/**
 * Digested ids (`<source>..<digest>`) resolvable on every replica and after restarts: each one
 * issued is written to Redis once per process (a key per id, kept 30 days from issue; a response
 * goes out once its new ids are written), and ids a request names that this process has not seen
 * are fetched from Redis before the request is decoded. An in-process map in front keeps the
 * hot path synchronous.
 *
 * A write is kept until Redis has it: one the connection gave up on while Redis was away (its
 * offline queue flushed with an error) is sent again, so `flush()` and `close()` return only
 * once every id accepted so far is stored (or the connection was ended by its owner).
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

  /** Sends the write until Redis acknowledges it; stops only when the connection was ended for good. */
  async #store(key: string, payload: string): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.#redis.set(key, payload, 'EX', this.#ttlSeconds);
        return;
      } catch {
        // `end`: disconnected by its owner (or reconnecting given up): nothing can take the write.
        if (this.#redis.status === 'end') return;
        await sleep(Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** attempt));
      }
    }
  }

  /** Resolves once every id set so far is stored, including writes waiting for Redis to return. */
  async flush(): Promise<void> {
    while (this.#writes.size > 0) await Promise.all(this.#writes);
  }

  /** Stores every accepted id, then closes the connection (QUIT). */
  async close(): Promise<void> {
    await this.flush();
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
