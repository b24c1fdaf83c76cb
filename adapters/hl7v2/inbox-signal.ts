/**
 * "The inbox has new messages" and "messages were converted", across nodes, over Redis pub/sub:
 * a node that accepts messages into a shared PostgreSQL inbox wakes the converter, which may run
 * on another node, and the converting node tells the listening node to read the outcomes its
 * senders await as application ACKs, both at once instead of at the next fallback look at the
 * store (`storePollMs`). Only wake-ups: a channel carries nothing but the publishing node's
 * random id (so a node ignores its own signals), and nothing depends on delivery (a node looks
 * once whenever its subscription is (re)established, for what it missed meanwhile). When Redis is
 * down, publishing is skipped immediately and subscribers reconnect by themselves, so a Redis
 * outage never delays or blocks an ACK.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { ErrorLog } from './conversion-worker.ts';

export type InboxSignalKind = 'accepted' | 'converted';

export class InboxSignal {
  readonly #publisher: Redis;
  readonly #subscriber: Redis;
  readonly #channels: Readonly<Record<InboxSignalKind, string>>;
  readonly #node = randomUUID();
  #reported = false;

  /** `prefix`: the store's name; one channel per kind under it. */
  constructor(redisUrl: string, prefix: string, handlers: Readonly<Record<InboxSignalKind, () => void>>, log: ErrorLog) {
    this.#channels = { accepted: `${prefix}:inbox`, converted: `${prefix}:converted` };
    const options = {
      lazyConnect: false,
      enableOfflineQueue: false, // a publish while disconnected fails at once rather than queueing
      maxRetriesPerRequest: 0,
      retryStrategy: (attempt: number) => Math.min(100 * attempt, 2000),
    };
    this.#publisher = new Redis(redisUrl, options);
    this.#subscriber = new Redis(redisUrl, { ...options, enableOfflineQueue: true });
    const quiet = (): void => {
      if (!this.#reported) log.error({ channel: prefix }, 'hl7v2 inbox signal: Redis unavailable, nodes fall back to looking in the store');
      this.#reported = true;
    };
    this.#publisher.on('error', quiet);
    this.#subscriber.on('error', quiet);
    this.#subscriber.on('ready', () => {
      this.#reported = false;
      // Signals sent while this node was not subscribed are lost: look once now, not at the fallback.
      handlers.accepted();
      handlers.converted();
    });
    this.#subscriber.on('message', (channel: string, node: string) => {
      if (node === this.#node) return; // this node acted on it already
      if (channel === this.#channels.accepted) handlers.accepted();
      else if (channel === this.#channels.converted) handlers.converted();
    });
    // Re-subscribed by ioredis after reconnects.
    void this.#subscriber.subscribe(this.#channels.accepted, this.#channels.converted).catch(quiet);
  }

  publish(kind: InboxSignalKind): void {
    if (this.#publisher.status !== 'ready') return;
    this.#publisher.publish(this.#channels[kind], this.#node).catch(() => undefined);
  }

  async close(): Promise<void> {
    this.#publisher.disconnect();
    this.#subscriber.disconnect();
  }
}
