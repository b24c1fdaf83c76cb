/**
 * A source reached through its adapter queue: the same `EhrAdapter` the planner calls inline,
 * but each call becomes one BullMQ job on `adapter-<source id>` for an adapter worker
 * (adapter-queue-worker.ts), awaited until the caller's deadline. The call and its result are
 * sealed; the job id is a random UUID. The result waits in the job's own key, which this node
 * takes (GETDEL) when the events stream says the job completed. A call that misses its deadline
 * (no worker, a slow one) rejects with the caller's abort reason, so the planner reports it like
 * any slow source.
 *
 * Capabilities are what the worker last published for its real adapter (kept when a refresh
 * finds nothing new), so `/metadata` declares what the worker's adapter answers.
 */
import { randomUUID } from 'node:crypto';
import type { Resource } from '@medplum/fhirtypes';
import { Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { SourceUnavailableError, type EhrAdapter, type SourceCapabilities, type SourceHealth, type SourcePage, type SourceQuery } from '../ehr-adapter.ts';
import type { AdapterContext, AdapterFactory, SourceConfig } from '../source-config.ts';
import { queueConnection } from './queue-connection.ts';
import { resolveQueueSource, type QueueSourceOptions } from './queue-options.ts';
import {
  callPlace, capabilitiesKey, capabilitiesPlace, errorOf, resultKey, resultPlace,
  type QueueCall, type QueueJobData, type QueueOp, type QueueResult,
} from './queue-protocol.ts';
import { RedisClock } from './redis-clock.ts';
import { openSealed, seal } from './sealed-payload.ts';

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

export class QueuedSource implements EhrAdapter {
  readonly sourceId: string;
  readonly queue: Queue<QueueJobData, void, QueueOp>;
  readonly #events: QueueEvents;
  readonly #redis: Redis;
  readonly #clock: RedisClock;
  readonly #options: QueueSourceOptions;
  readonly #context: AdapterContext;
  #capabilities: SourceCapabilities = { resources: {} };
  #publishedSealed: string | undefined;
  #capabilitiesProblem: string | undefined = 'no adapter worker has published capabilities yet';
  #refreshTimer: NodeJS.Timeout | undefined;
  /** Set first in close(): a refresh still in flight then arms no new timer. */
  #closed = false;
  /** Calls waiting for their job, by job id. */
  readonly #waiting = new Map<string, Waiting>();

  private constructor(sourceId: string, options: QueueSourceOptions, context: AdapterContext, redis: Redis, events: QueueEvents) {
    this.sourceId = sourceId;
    this.#options = options;
    this.#context = context;
    this.#redis = redis;
    this.#clock = new RedisClock(redis, context.log, sourceId);
    this.#events = events;
    this.queue = new Queue<QueueJobData, void, QueueOp>(options.queueName, {
      connection: queueConnection(context.redisUrl as string),
      prefix: options.prefix,
      // Nothing stays behind: results travel in their own keys and the events stream only says
      // which job completed (a few small entries per job), so it is kept short but with room
      // for a burst of a few hundred calls a slow reader has not caught up with.
      defaultJobOptions: { removeOnComplete: true, removeOnFail: true, attempts: 1 },
      streams: { events: { maxLen: 2000 } },
    });
    this.queue.on('error', (err) => context.log.warn({ source: sourceId, err: err.message }, 'adapter queue connection error'));
    this.#events.on('error', (err) => context.log.warn({ source: sourceId, err: err.message }, 'adapter queue events connection error'));
    this.#events.on('completed', ({ jobId }) => this.#waiting.get(jobId)?.completed());
    this.#events.on('failed', ({ jobId, failedReason }) => this.#waiting.get(jobId)?.failed(failedReason));
  }

  static async open(config: SourceConfig, context: AdapterContext): Promise<QueuedSource> {
    const options = resolveQueueSource(config);
    if (!context.redisUrl) throw new Error(`source ${config.id} (via queue): needs Redis (REDIS_URL) to reach its adapter worker`);
    const redis = new Redis(context.redisUrl, { maxRetriesPerRequest: 1 });
    redis.on('error', () => undefined); // reported through the calls that fail
    let source: QueuedSource | undefined;
    try {
      // Completions are read from the events stream from its current end, so a job completing
      // right after it is added cannot slip past before the reader's first XREAD.
      const last = await redis.xrevrange(`${options.prefix}:${options.queueName}:events`, '+', '-', 'COUNT', 1);
      const events = new QueueEvents(options.queueName, {
        connection: queueConnection(context.redisUrl),
        prefix: options.prefix,
        lastEventId: last[0]?.[0] ?? '0-0',
      });
      source = new QueuedSource(config.id, options, context, redis, events);
      await Promise.all([events.waitUntilReady(), source.queue.waitUntilReady()]);
      await source.refreshCapabilities();
      if (Object.keys(source.capabilities().resources).length === 0) {
        context.log.warn({ source: config.id, queue: options.queueName }, 'no adapter worker has published capabilities for this source yet; it is left out of searches until one does');
      }
      return source;
    } catch (err) {
      if (source) await source.close();
      else redis.disconnect();
      throw err;
    }
  }

  capabilities(): SourceCapabilities {
    return this.#capabilities;
  }

  /** Reads what the worker published; keeps the last good answer when there is nothing new to use. */
  async refreshCapabilities(): Promise<void> {
    clearTimeout(this.#refreshTimer);
    if (this.#closed) return;
    try {
      await this.#clock.measure();
      const sealed = await this.#redis.get(capabilitiesKey(this.#options.prefix, this.#options.queueName));
      // The worker republishes on a timer (a fresh nonce each time): only a new text is opened.
      if (sealed !== null && sealed !== this.#publishedSealed) {
        const published = openSealed<SourceCapabilities>(this.#options.key, capabilitiesPlace(this.sourceId), sealed);
        this.#publishedSealed = sealed;
        this.#capabilitiesProblem = undefined;
        if (JSON.stringify(published) !== JSON.stringify(this.#capabilities)) {
          this.#capabilities = published;
          this.#context.log.info({ source: this.sourceId, types: Object.keys(published.resources).length }, 'adapter worker capabilities read');
        }
      }
    } catch (err) {
      const problem = (err as Error).message;
      if (problem !== this.#capabilitiesProblem) this.#context.log.warn({ source: this.sourceId, err: problem }, 'adapter worker capabilities not readable; keeping the last ones');
      this.#capabilitiesProblem = problem;
    }
    if (!this.#closed) this.#refreshTimer = setTimeout(() => void this.refreshCapabilities(), this.#options.capabilitiesRefreshMs).unref();
  }

  async read(resourceType: string, id: string, signal: AbortSignal): Promise<Resource | undefined> {
    return (await this.#call({ op: 'read', resourceType, id }, signal)) as Resource | undefined;
  }

  async search(query: SourceQuery, signal: AbortSignal): Promise<SourcePage> {
    return (await this.#call({ op: 'search', query }, signal)) as SourcePage;
  }

  async health(signal: AbortSignal): Promise<SourceHealth> {
    const health = (await this.#call({ op: 'health' }, signal)) as SourceHealth;
    if (this.#capabilitiesProblem && health.status === 'up') return { ...health, status: 'degraded', detail: this.#capabilitiesProblem };
    return health;
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#refreshTimer);
    for (const waiting of this.#waiting.values()) waiting.closed(new SourceUnavailableError(this.sourceId, 'source closed'));
    await Promise.allSettled([this.#events.close(), this.queue.close()]);
    await this.#redis.quit().catch(() => this.#redis.disconnect());
  }

  /** One job for one call; settles on its completion, its failure, or the caller's abort. */
  #call(call: DistributiveOmit<QueueCall, 'expiresAt'>, signal: AbortSignal): Promise<unknown> {
    signal.throwIfAborted();
    const jobId = randomUUID();
    const sealed = seal(this.#options.key, callPlace(this.sourceId, jobId), { ...call, expiresAt: this.#clock.now() + this.#options.deadlineMs });
    return new Promise((resolve, reject) => {
      let settled = false;
      const settle = (finish: () => void) => {
        if (settled) return; // an abort while the result is being fetched
        settled = true;
        this.#waiting.delete(jobId);
        signal.removeEventListener('abort', onAbort);
        finish();
      };
      const onAbort = () => settle(() => {
        reject(signal.reason);
        // Not started yet: nobody should run it (an active job is locked and stays).
        void this.queue.remove(jobId).catch(() => undefined);
      });
      this.#waiting.set(jobId, {
        completed: () => void this.#redis.getdel(resultKey(this.#options.prefix, this.#options.queueName, jobId)).then(
          (sealedResult) => settle(() => {
            if (sealedResult === null) return reject(new SourceUnavailableError(this.sourceId, 'the adapter worker\'s result expired before this node read it'));
            try {
              const result = openSealed<QueueResult>(this.#options.key, resultPlace(this.sourceId, jobId), sealedResult);
              if (result.ok) resolve(result.value);
              else reject(errorOf(this.sourceId, result.failure));
            } catch (err) {
              reject(new SourceUnavailableError(this.sourceId, 'the adapter worker answered with a result this node cannot open (queue key mismatch?)', { cause: err }));
            }
          }),
          (err: unknown) => settle(() => reject(new SourceUnavailableError(this.sourceId, 'the adapter worker\'s result could not be read', { cause: err })))),
        // A worker fails a job only when it cannot open it; the reason is the worker's fixed text.
        failed: (reason) => settle(() => reject(new SourceUnavailableError(this.sourceId, `the adapter worker refused the call: ${reason}`))),
        closed: (error) => settle(() => reject(error)),
      });
      signal.addEventListener('abort', onAbort, { once: true });
      this.queue.add(call.op, { sealed }, { jobId }).catch((err: unknown) =>
        settle(() => reject(new SourceUnavailableError(this.sourceId, 'the call could not be queued', { cause: err }))));
    });
  }
}

interface Waiting {
  completed(): void;
  failed(reason: string): void;
  closed(error: Error): void;
}

/** Opens a `via: "queue"` source of any kind: the kind's own factory runs at the adapter worker. */
export const createQueuedSource: AdapterFactory = (config, context) => QueuedSource.open(config, context);
