/**
 * Snapshot rebuild jobs: after a window changes some subjects, their shared snapshots are rebuilt
 * off the hot path so the next request on any server finds one in Redis. One job per subject at
 * a time (job id `snapshot-<address>`, BullMQ ids may not hold `:`); correctness never depends
 * on them, since readers compare the stored version with the subject's current one.
 */
import { Queue, Worker, type ConnectionOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { AuthzKeys } from './authz-keys.ts';
import { buildSnapshot } from './snapshot-builder.ts';

export const SNAPSHOT_QUEUE = 'authz-snapshots';

export interface SnapshotRebuildJob {
  readonly subject: string;
}

export class SnapshotRebuilds {
  readonly queue: Queue<SnapshotRebuildJob>;
  readonly #worker: Worker<SnapshotRebuildJob> | undefined;

  constructor(options: {
    readonly connection: ConnectionOptions;
    readonly prefix?: string;
    readonly redis: Redis;
    readonly keys: AuthzKeys;
    /** Whether this process also runs the worker. */
    readonly work: boolean;
    readonly concurrency?: number;
    readonly onError?: (err: Error) => void;
  }) {
    const { connection, prefix, redis, keys } = options;
    this.queue = new Queue<SnapshotRebuildJob>(SNAPSHOT_QUEUE, {
      connection,
      prefix,
      defaultJobOptions: { removeOnComplete: true, removeOnFail: 100, attempts: 2 },
    });
    this.queue.on('error', (err) => options.onError?.(err));
    if (options.work) {
      this.#worker = new Worker<SnapshotRebuildJob>(
        SNAPSHOT_QUEUE,
        async (job) => {
          const built = await buildSnapshot(redis, keys, job.data.subject);
          await redis.set(keys.snapshot(job.data.subject), JSON.stringify(built));
          return { version: built.version, entries: built.snapshot.entries.length };
        },
        { connection, prefix, concurrency: options.concurrency ?? 4 },
      );
      this.#worker.on('error', (err) => options.onError?.(err));
    }
  }

  /** Queues one rebuild per subject; a subject already queued is not queued twice. */
  async request(subjects: readonly string[]): Promise<void> {
    if (subjects.length === 0) return;
    await this.queue.addBulk(subjects.map((subject) => ({ name: 'rebuild', data: { subject }, opts: { jobId: `snapshot-${subject}` } })));
  }

  async close(): Promise<void> {
    await this.#worker?.close();
    await this.queue.close();
  }
}
