/**
 * "The inbox has new messages", across nodes, over Redis pub/sub: a node that accepts messages
 * into a shared PostgreSQL inbox wakes the converter, which may run on another node, at once
 * instead of at its next poll. Only a wake-up: the channel carries no message content, and
 * nothing depends on it being delivered (converters also poll every second). When Redis is down,
 * publishing is skipped immediately and subscribers reconnect by themselves, so a Redis outage
 * never delays or blocks an ACK.
 */
import { Redis } from 'ioredis';
import type { ErrorLog } from './conversion-worker.ts';

export class InboxSignal {
  readonly #publisher: Redis;
  readonly #subscriber: Redis;
  readonly #channel: string;
  #reported = false;

  constructor(redisUrl: string, channel: string, onSignal: () => void, log: ErrorLog) {
    this.#channel = channel;
    const options = {
      lazyConnect: false,
      enableOfflineQueue: false, // a publish while disconnected fails at once rather than queueing
      maxRetriesPerRequest: 0,
      retryStrategy: (attempt: number) => Math.min(100 * attempt, 2000),
    };
    this.#publisher = new Redis(redisUrl, options);
    this.#subscriber = new Redis(redisUrl, { ...options, enableOfflineQueue: true });
    const quiet = (): void => {
      if (!this.#reported) log.error({ channel }, 'hl7v2 inbox signal: Redis unavailable, converters fall back to polling');
      this.#reported = true;
    };
    this.#publisher.on('error', quiet);
    this.#subscriber.on('error', quiet);
    this.#subscriber.on('ready', () => (this.#reported = false));
    this.#subscriber.on('message', () => onSignal());
    void this.#subscriber.subscribe(channel).catch(quiet); // re-subscribed by ioredis after reconnects
  }

  publish(): void {
    if (this.#publisher.status !== 'ready') return;
    this.#publisher.publish(this.#channel, '1').catch(() => undefined);
  }

  async close(): Promise<void> {
    this.#publisher.disconnect();
    this.#subscriber.disconnect();
  }
}
