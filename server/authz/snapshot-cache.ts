/**
 * Permission snapshots on the hot path: an in-process cache in front of the shared Redis copy,
 * in front of a rebuild from the indexes. Every server process subscribes to the follower's
 * channel and drops the entries a block window changed, so a revocation takes effect on the
 * next request after the follower folds its block.
 */
import type { Redis } from 'ioredis';
import type { PermissionSnapshot } from '../access/permission-snapshot.ts';
import type { AuthzKeys } from './authz-keys.ts';
import { buildSnapshot } from './snapshot-builder.ts';
import { readSyncStatus, type SyncMessage } from './redis-indexes.ts';
import type { SyncFreshness } from './sync-freshness.ts';

export type SnapshotLookup = 'memory' | 'redis' | 'built';

export interface SnapshotCacheOptions {
  /** Commands (fails fast when Redis is away: `enableOfflineQueue: false`). */
  readonly redis: Redis;
  /** A dedicated connection for SUBSCRIBE. */
  readonly subscriber: Redis;
  readonly keys: AuthzKeys;
  readonly freshness: SyncFreshness;
  readonly maxEntries?: number;
  /** How often the sync status is read even without messages (ms). */
  readonly statusPollMs?: number;
  readonly onLookup?: (result: SnapshotLookup) => void;
}

interface Cached {
  readonly snapshot: PermissionSnapshot;
  readonly version: number;
}

export class SnapshotCache {
  readonly #o: SnapshotCacheOptions;
  readonly #entries = new Map<string, Cached>();
  /** Bumped by every invalidation; a build that saw it move does not enter the cache. */
  #generation = 0;
  /** The newest cursor whose invalidations this process has applied (message or poll). */
  #invalidatedTo = -1;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  readonly #listeners: Array<(subjects: readonly string[] | '*') => void> = [];

  private constructor(options: SnapshotCacheOptions) {
    this.#o = options;
  }

  static async start(options: SnapshotCacheOptions): Promise<SnapshotCache> {
    const cache = new SnapshotCache(options);
    const { subscriber, keys } = options;
    subscriber.on('message', (channel: string, raw: string) => {
      if (channel === keys.channel) cache.#onMessage(raw);
    });
    // Messages sent while the subscription was down are lost: forget everything on reconnect.
    subscriber.on('ready', () => cache.#dropAll());
    await subscriber.subscribe(keys.channel);
    await cache.#pollStatus();
    cache.#timer = setInterval(() => void cache.#pollStatus(), options.statusPollMs ?? 500);
    cache.#timer.unref();
    return cache;
  }

  /**
   * Hears every follower message as the cache does: the subjects it invalidated (an empty list for
   * a heartbeat), or `*` whenever the cache dropped everything: a message said so, the
   * subscription came back (messages may have been lost), or the status read showed a message
   * missing.
   */
  onSync(listener: (subjects: readonly string[] | '*') => void): void {
    this.#listeners.push(listener);
  }

  get size(): number {
    return this.#entries.size;
  }

  clear(): void {
    this.#generation++;
    this.#entries.clear();
  }

  async get(subject: string): Promise<PermissionSnapshot> {
    const local = this.#entries.get(subject);
    if (local) {
      this.#o.onLookup?.('memory');
      return local.snapshot;
    }
    const generation = this.#generation;
    const { redis, keys } = this.#o;
    const [rawShared, rawVersion] = await redis.mget(keys.snapshot(subject), keys.subjectVersion(subject));
    const version = Number(rawVersion ?? 0);
    let cached: Cached | undefined;
    if (rawShared) {
      const shared = JSON.parse(rawShared) as Cached;
      if (shared.version === version) cached = shared;
    }
    if (cached) {
      this.#o.onLookup?.('redis');
    } else {
      cached = await buildSnapshot(redis, keys, subject);
      this.#o.onLookup?.('built');
      await redis.set(keys.snapshot(subject), JSON.stringify(cached));
    }
    if (generation === this.#generation) this.#remember(subject, cached);
    return cached.snapshot;
  }

  #remember(subject: string, cached: Cached): void {
    const max = this.#o.maxEntries ?? 10_000;
    if (this.#entries.size >= max) {
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
    this.#entries.set(subject, cached);
  }

  /**
   * Forgets everything and tells the listeners so (`*`): a message was lost or invalidated all,
   * and what any of them derived from earlier messages may be stale.
   */
  #dropAll(): void {
    this.clear();
    for (const listener of this.#listeners) listener('*');
  }

  #onMessage(raw: string): void {
    let message: SyncMessage;
    try {
      message = JSON.parse(raw) as SyncMessage;
    } catch {
      return;
    }
    const { subjects } = message;
    if (subjects === '*') {
      this.#dropAll();
    } else if (subjects.length > 0) {
      this.#generation++;
      for (const s of subjects) this.#entries.delete(s);
    }
    this.#invalidatedTo = Math.max(this.#invalidatedTo, message.cursor);
    this.#o.freshness.observe(message);
    if (subjects !== '*') for (const listener of this.#listeners) listener(subjects);
  }

  async #pollStatus(): Promise<void> {
    if (this.#closed) return;
    try {
      const status = await readSyncStatus(this.#o.redis, this.#o.keys);
      if (!status) return this.#o.freshness.redisOk();
      // The indexes moved past what the messages told us (one is late or was lost): the cache
      // may hold what those blocks revoked, and the freshness about to count them as applied.
      if (status.cursor > this.#invalidatedTo) {
        this.#dropAll();
        this.#invalidatedTo = status.cursor;
      }
      this.#o.freshness.observe(status);
    } catch {
      // Redis away: the freshness verdict turns after its bound; nothing else to do here.
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#entries.clear();
  }
}
