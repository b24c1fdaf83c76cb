/**
 * The time as the queue's Redis sees it: this process's clock plus an offset measured with
 * Redis TIME. A call's deadline is set by a server and checked by a worker on another machine;
 * counted in Redis time at both ends, a skew between their own clocks neither expires calls
 * early nor keeps them alive past their deadline. The offset is re-measured on the capabilities
 * timer; a skew over a second is logged (clocks should still be NTP-synchronised).
 */
import type { FastifyBaseLogger } from 'fastify';
import type { Redis } from 'ioredis';

const SKEW_LOGGED_MS = 1_000;

export class RedisClock {
  readonly #redis: Redis;
  readonly #log: FastifyBaseLogger;
  readonly #sourceId: string;
  #offsetMs = 0;
  #skewed = false;

  constructor(redis: Redis, log: FastifyBaseLogger, sourceId: string) {
    this.#redis = redis;
    this.#log = log;
    this.#sourceId = sourceId;
  }

  /** Milliseconds since the epoch by Redis's clock (as of the last measure). */
  now(): number {
    return Date.now() + this.#offsetMs;
  }

  /** Measures the offset, taking Redis's answer as read halfway through the round trip. */
  async measure(): Promise<void> {
    const sent = Date.now();
    const [seconds, micros] = await this.#redis.time();
    const received = Date.now();
    this.#offsetMs = Math.round(Number(seconds) * 1000 + Number(micros) / 1000 - (sent + received) / 2);
    const skewed = Math.abs(this.#offsetMs) > SKEW_LOGGED_MS;
    if (skewed) {
      if (!this.#skewed) this.#log.warn({ source: this.#sourceId, offsetMs: this.#offsetMs }, 'this machine\'s clock is off the queue\'s Redis clock; call deadlines are counted in Redis time, but keep servers and workers NTP-synchronised');
    } else if (this.#skewed) {
      this.#log.info({ source: this.#sourceId, offsetMs: this.#offsetMs }, 'this machine\'s clock agrees with the queue\'s Redis clock again');
    }
    this.#skewed = skewed;
  }
}
