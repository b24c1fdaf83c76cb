/**
 * Digested ids (`<source>..<digest>`) resolvable on every replica and after restarts: each one
 * issued is written to Redis once per process (a key per id, kept 30 days from issue; a response
 * goes out once its new ids are written), and ids a request names that this process has not seen
 * are fetched from Redis before the request is decoded. An in-process map in front keeps the
 * hot path synchronous.
 */
import type { Redis } from 'ioredis';
import { BoundedDigestMap } from './ids.ts';
import type { DigestReverseMap, SourceLocalId } from './ids.ts';
import { FhirHttpError } from './outcomes.ts';

export interface RedisDigestMapOptions {
  /** Key prefix (one per deployment; tests use their own). */
  readonly keyPrefix?: string;
  readonly ttlSeconds?: number;
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
    const write = this.#redis.set(this.#prefix + id, JSON.stringify([value.sourceId, value.localId]), 'EX', this.#ttlSeconds)
      // A lost write only means another replica answers 404 for this id until it sees it itself.
      .catch(() => undefined)
      .finally(() => this.#writes.delete(write));
    this.#writes.add(write);
  }

  readonly #writes = new Set<Promise<unknown>>();

  async flush(): Promise<void> {
    while (this.#writes.size > 0) await Promise.all(this.#writes);
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
