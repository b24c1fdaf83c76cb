/**
 * The scheduled reconcile on a queue of its own (`authz-reconcile`, global concurrency 1: one
 * run at a time across every process), so that a comparison of a large network never holds up
 * the chain follower's syncs and heartbeats on `authz-chain`.
 */
import { Queue, Worker, type ConnectionOptions } from 'bullmq';

export const RECONCILE_QUEUE = 'authz-reconcile';

export interface ReconcileScheduleOptions {
  readonly connection: ConnectionOptions;
  /** BullMQ key prefix (one per test). */
  readonly queuePrefix?: string;
  readonly everyMs: number;
  readonly run: () => Promise<unknown>;
  readonly onError?: (err: Error) => void;
}

export class ReconcileSchedule {
  readonly queue: Queue;
  readonly #worker: Worker;

  private constructor(queue: Queue, worker: Worker) {
    this.queue = queue;
    this.#worker = worker;
  }

  static async start(o: ReconcileScheduleOptions): Promise<ReconcileSchedule> {
    const prefix = o.queuePrefix ?? 'bull';
    const queue = new Queue(RECONCILE_QUEUE, { connection: o.connection, prefix, defaultJobOptions: { removeOnComplete: 20, removeOnFail: 20 } });
    const worker = new Worker(RECONCILE_QUEUE, () => o.run(), { connection: o.connection, prefix, concurrency: 1, autorun: false });
    worker.on('failed', (_job, err) => o.onError?.(err));
    worker.on('error', (err) => o.onError?.(err));
    queue.on('error', (err) => o.onError?.(err));
    await queue.setGlobalConcurrency(1);
    await queue.upsertJobScheduler('reconcile', { every: o.everyMs }, { name: 'reconcile' });
    void worker.run();
    return new ReconcileSchedule(queue, worker);
  }

  async close(): Promise<void> {
    await this.#worker.close();
    await this.queue.close();
  }
}
