/**
 * Fail-closed freshness: what block height this process's snapshots reflect, the chain head it
 * last heard of, and whether that is still good enough to answer protected requests. Fed by the
 * follower's messages (pub/sub) and by a periodic read of the sync status, which doubles as the
 * Redis liveness probe.
 */
import type { SyncMessage } from './redis-indexes.ts';

export interface FreshnessBounds {
  /** Most blocks the indexes may trail the head by. */
  readonly maxLagBlocks: number;
  /** Longest time without the follower reaching the chain (ms): a stopped node shows here. */
  readonly maxHeadAgeMs: number;
  /** Longest time without a successful Redis round trip (ms). */
  readonly maxRedisSilenceMs: number;
}

export const DEFAULT_FRESHNESS: FreshnessBounds = { maxLagBlocks: 2, maxHeadAgeMs: 5_000, maxRedisSilenceMs: 3_000 };

export type FreshnessVerdict =
  | { readonly fresh: true }
  | { readonly fresh: false; readonly reason: 'no-sync-yet' | 'chain-unreachable' | 'lagging' | 'redis-unreachable'; readonly detail: string };

export interface FreshnessState {
  readonly cursor: number;
  readonly head: number;
  readonly headSeenAt: number;
  readonly redisOkAt: number;
  /** When the indexes last were at the head (ms); lag in seconds is measured from it. */
  readonly caughtUpAt: number;
}

export class SyncFreshness {
  readonly bounds: FreshnessBounds;
  #cursor = -1;
  #head = -1;
  #headSeenAt = 0;
  #redisOkAt = 0;
  #caughtUpAt = 0;

  constructor(bounds: Partial<FreshnessBounds> = {}) {
    // An absent bound (left out or undefined) is the default. A bound that is not a number (NaN
    // from a bad setting) would make every comparison false, i.e. always fresh: it counts as 0,
    // the strictest bound, instead.
    const bound = (name: keyof FreshnessBounds) => {
      const n = bounds[name];
      if (n === undefined) return DEFAULT_FRESHNESS[name];
      return Number.isFinite(n) && n > 0 ? n : 0;
    };
    this.bounds = { maxLagBlocks: bound('maxLagBlocks'), maxHeadAgeMs: bound('maxHeadAgeMs'), maxRedisSilenceMs: bound('maxRedisSilenceMs') };
  }

  /** A follower message or a status read: newer information only ever moves forward. */
  observe(message: Pick<SyncMessage, 'cursor' | 'head' | 'headSeenAt'>, now = Date.now()): void {
    this.#redisOkAt = now;
    if (message.cursor >= this.#cursor) this.#cursor = message.cursor;
    if (message.headSeenAt >= this.#headSeenAt) {
      this.#headSeenAt = message.headSeenAt;
      this.#head = Math.max(this.#head, message.head);
    }
    if (this.#cursor >= this.#head) this.#caughtUpAt = Math.max(this.#caughtUpAt, message.headSeenAt);
  }

  /** A successful Redis round trip that carried no sync status (none written yet). */
  redisOk(now = Date.now()): void {
    this.#redisOkAt = now;
  }

  state(): FreshnessState {
    return { cursor: this.#cursor, head: this.#head, headSeenAt: this.#headSeenAt, redisOkAt: this.#redisOkAt, caughtUpAt: this.#caughtUpAt };
  }

  lagBlocks(): number {
    return this.#cursor < 0 ? 0 : Math.max(0, this.#head - this.#cursor);
  }

  lagSeconds(now = Date.now()): number {
    if (this.#cursor < 0) return 0;
    return Math.max(0, (now - this.#caughtUpAt) / 1000);
  }

  verdict(now = Date.now()): FreshnessVerdict {
    const b = this.bounds;
    if (now - this.#redisOkAt > b.maxRedisSilenceMs) {
      return { fresh: false, reason: 'redis-unreachable', detail: 'the permission store has not answered recently' };
    }
    if (this.#cursor < 0) return { fresh: false, reason: 'no-sync-yet', detail: 'permissions have not been synchronized from the chain yet' };
    if (now - this.#headSeenAt > b.maxHeadAgeMs) {
      return { fresh: false, reason: 'chain-unreachable', detail: 'the consent chain has not been reached recently' };
    }
    const lag = this.#head - this.#cursor;
    if (lag > b.maxLagBlocks) return { fresh: false, reason: 'lagging', detail: `permissions trail the chain by ${lag} blocks` };
    return { fresh: true };
  }
}
