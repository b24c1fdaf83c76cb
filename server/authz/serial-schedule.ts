/**
 * A job run on a schedule, one run at a time across every process: a BullMQ queue of its own
 * (global concurrency 1) per job, so that one job's long run (a reconcile of a large network)
 * never holds up another's (the chain follower's syncs and heartbeats).
 */
import { Queue, Worker, type ConnectionOptions } from 'bullmq';

export interface SerialScheduleOptions {
  readonly connection: ConnectionOptions;
  /** BullMQ key prefix (one per test). */
  readonly queuePrefix?: string;
  readonly queueName: string;
  /** The job scheduler's id and the name of the jobs it produces (kept stable: Redis holds them). */
  readonly schedulerId: string;
  readonly jobName: string;
  readonly everyMs: number;
  /** Finished jobs kept on the queue (completed and failed each). */
  readonly keep: number;
  /** A shorter worker lock than BullMQ's 30 s, for jobs that must resume soon after a crash. */
  readonly lock?: { readonly durationMs: number; readonly stalledIntervalMs: number };
  readonly run: () => Promise<unknown>;
  readonly onError?: (err: Error) => void;
}

export class SerialSchedule {
  readonly queue: Queue;
  readonly #worker: Worker;

  private constructor(queue: Queue, worker: Worker) {
    this.queue = queue;
    this.#worker = worker;
  }

  static async start(o: SerialScheduleOptions): Promise<SerialSchedule> {
    const prefix = o.queuePrefix ?? 'bull';
    const queue = new Queue(o.queueName, { connection: o.connection, prefix, defaultJobOptions: { removeOnComplete: o.keep, removeOnFail: o.keep } });
    const worker = new Worker(o.queueName, () => o.run(), {
      connection: o.connection,
      prefix,
      concurrency: 1,
      autorun: false,
      ...(o.lock ? { lockDuration: o.lock.durationMs, stalledInterval: o.lock.stalledIntervalMs } : {}),
    });
    worker.on('failed', (_job, err) => o.onError?.(err));
    worker.on('error', (err) => o.onError?.(err));
    queue.on('error', (err) => o.onError?.(err));
    await queue.setGlobalConcurrency(1);
    await queue.upsertJobScheduler(o.schedulerId, { every: o.everyMs }, { name: o.jobName });
    void worker.run();
    return new SerialSchedule(queue, worker);
  }

  async close(): Promise<void> {
    await this.#worker.close();
    await this.queue.close();
  }
}
