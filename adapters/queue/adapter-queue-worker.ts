/**
 * The far end of a `via: "queue"` source: builds the source's real adapter from the same source
 * configuration, publishes its capabilities, and answers the calls on `adapter-<source id>`,
 * e.g. inside the hospital's network next to the EHR. Calls are opened with the shared queue
 * key; one that does not open (another key, tampering) is refused before the source sees
 * anything, with a logged error that carries no content. `rateLimit.enforcedBy: "queue"` is the
 * worker's BullMQ limiter.
 */
import { UnrecoverableError, Worker, type Job, type RateLimiterOptions } from 'bullmq';
import { Redis } from 'ioredis';
import { SourceUnavailableError, type EhrAdapter } from '../ehr-adapter.ts';
import { adapterKinds } from '../registry.ts';
import type { AdapterContext, SourceConfig } from '../source-config.ts';
import { queueConnection } from './queue-connection.ts';
import { resolveQueueSource, type QueueSourceOptions } from './queue-options.ts';
import {
  callPlace, capabilitiesKey, capabilitiesPlace, failureOf, RESULT_GRACE_MS, resultKey, resultPlace,
  type QueueCall, type QueueJobData, type QueueOp, type QueueResult,
} from './queue-protocol.ts';
import { queueLimiter } from './queue-rate-limit.ts';
import { RedisClock } from './redis-clock.ts';
import { openSealed, seal, SealedPayloadError } from './sealed-payload.ts';

export class AdapterQueueWorker {
  readonly sourceId: string;
  readonly #adapter: EhrAdapter;
  readonly #options: QueueSourceOptions;
  readonly #context: AdapterContext;
  readonly #redis: Redis;
  readonly #clock: RedisClock;
  readonly #worker: Worker<QueueJobData, void, QueueOp>;
  #publishTimer: NodeJS.Timeout | undefined;
  /** Set first in close(): a publish still in flight then arms no new timer. */
  #closed = false;

  private constructor(config: SourceConfig, adapter: EhrAdapter, options: QueueSourceOptions, limiter: RateLimiterOptions | undefined, context: AdapterContext, redisUrl: string) {
    this.sourceId = config.id;
    this.#adapter = adapter;
    this.#options = options;
    this.#context = context;
    this.#redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
    this.#redis.on('error', () => undefined); // the next publish logs it
    this.#clock = new RedisClock(this.#redis, context.log, config.id);
    this.#worker = new Worker<QueueJobData, void, QueueOp>(options.queueName, (job) => this.#answer(job), {
      connection: queueConnection(redisUrl),
      prefix: options.prefix,
      concurrency: options.concurrency,
      ...(limiter ? { limiter } : {}),
      autorun: false,
    });
    this.#worker.on('error', (err) => context.log.warn({ source: this.sourceId, err: err.message }, 'adapter queue worker connection error'));
  }

  /** Checks the queue settings, opens the real adapter, publishes its capabilities, starts consuming. */
  static async start(config: SourceConfig, context: AdapterContext): Promise<AdapterQueueWorker> {
    const options = resolveQueueSource(config);
    if (!context.redisUrl) throw new Error(`source ${config.id} (via queue): the adapter worker needs Redis`);
    const limiter = queueLimiter(config); // a bad rateLimit fails here, before the adapter opens
    const load = adapterKinds[config.kind];
    if (!load) throw new Error(`source ${config.id}: unknown kind ${config.kind}`);
    const adapter = await (await load())(config, context);
    const worker = new AdapterQueueWorker(config, adapter, options, limiter, context, context.redisUrl);
    try {
      await worker.#publishCapabilities();
      await worker.#worker.waitUntilReady();
      void worker.#worker.run().catch((err: unknown) => context.log.error({ source: config.id, err: (err as Error).message }, 'adapter queue worker stopped'));
      return worker;
    } catch (err) {
      await worker.close();
      throw err;
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#publishTimer);
    await this.#worker.close();
    await this.#adapter.close();
    await this.#redis.quit().catch(() => this.#redis.disconnect());
  }

  /** Republished on a timer: adapters rediscover what their source answers (an upstream's /metadata). */
  async #publishCapabilities(): Promise<void> {
    clearTimeout(this.#publishTimer);
    try {
      await this.#clock.measure();
      const sealed = seal(this.#options.key, capabilitiesPlace(this.sourceId), this.#adapter.capabilities());
      await this.#redis.set(capabilitiesKey(this.#options.prefix, this.#options.queueName), sealed);
    } finally {
      if (!this.#closed) this.#publishTimer = setTimeout(() => {
        this.#publishCapabilities().catch((err: unknown) => this.#context.log.warn({ source: this.sourceId, err: (err as Error).message }, 'adapter capabilities not published; will retry'));
      }, this.#options.capabilitiesRefreshMs).unref();
    }
  }

  async #answer(job: Job<QueueJobData, void, QueueOp>): Promise<void> {
    const jobId = job.id as string;
    let call: QueueCall;
    try {
      call = openSealed<QueueCall>(this.#options.key, callPlace(this.sourceId, jobId), job.data.sealed);
    } catch (err) {
      if (!(err instanceof SealedPayloadError)) throw err;
      this.#context.log.error(
        { source: this.sourceId, job: jobId },
        'adapter queue call refused: it does not open with this worker\'s queue key (the server and the worker must share the same key); nothing was sent to the source',
      );
      // The job's failure reason is stored in clear: a fixed text only.
      throw new UnrecoverableError('call sealed with another queue key');
    }
    // expiresAt is in Redis time (the server's clock may be off this one).
    const remainingMs = call.expiresAt - this.#clock.now();
    const result = remainingMs <= 0 ? { ok: false, failure: { kind: 'expired' } } as const : await this.#run(call, AbortSignal.timeout(remainingMs));
    // Nobody reads a result once its server stopped waiting: it expires soon after the deadline.
    const ttlMs = Math.max(0, call.expiresAt - this.#clock.now()) + RESULT_GRACE_MS;
    await this.#redis.set(resultKey(this.#options.prefix, this.#options.queueName, jobId), seal(this.#options.key, resultPlace(this.sourceId, jobId), result), 'PX', ttlMs);
  }

  async #run(call: QueueCall, signal: AbortSignal): Promise<QueueResult> {
    try {
      switch (call.op) {
        case 'search':
          return { ok: true, value: await this.#adapter.search(call.query, signal) };
        case 'read':
          return { ok: true, value: await this.#adapter.read(call.resourceType, call.id, signal) };
        case 'health':
          return { ok: true, value: await this.#adapter.health(signal) };
      }
    } catch (err) {
      const failure = failureOf(err);
      this.#context.log.warn({ source: this.sourceId, op: call.op, failure: failure.kind, error: failureDetail(err) }, 'adapter call failed at the worker');
      return { ok: false, failure };
    }
  }
}

/**
 * What the worker's own log says of a failed call: the class and code, and the message only of
 * a SourceUnavailableError (adapters word those without values, as an inline node logs them);
 * any other error's message (a driver's, a library's) can quote patient ids.
 */
function failureDetail(err: unknown): { type: string; code?: string; message?: string } {
  if (!(err instanceof Error)) return { type: typeof err };
  const code = (err as { code?: unknown }).code;
  return {
    type: err.name,
    ...(typeof code === 'string' ? { code } : {}),
    ...(err instanceof SourceUnavailableError ? { message: err.message } : {}),
  };
}
