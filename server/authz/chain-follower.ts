/**
 * The chain follower: a BullMQ job scheduler runs one sync at a time (`serial-schedule.ts`);
 * each sync reads contract logs from the cursor stored in Redis towards the head, in windows of
 * at most 5,000 blocks (Besu's getLogs bound), folds each window into the indexes and moves the
 * cursor in the same transaction. It never relies on a live subscription: a WebSocket, when
 * configured, only wakes it early (ethers' WebSocketProvider does not reconnect).
 */
import type { ConnectionOptions, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { JsonRpcProvider } from 'ethers';
import type { ChainEvent } from './chain-events.ts';
import type { AuthzKeys } from './authz-keys.ts';
import { applyWindow, publishHeartbeat, readCursor } from './redis-indexes.ts';
import { rpcEndpoint } from '../../contracts/connection.ts';
import { fetchLogs, type ChainLog } from './raw-logs.ts';
import { SerialSchedule } from './serial-schedule.ts';

/** Turns the contracts' logs into chain events; implemented over the contracts' ABIs. */
export interface ChainEventSource {
  /** Contract addresses whose logs matter. */
  readonly addresses: readonly string[];
  /** The decoded event, or undefined for logs the authorization layer does not use. */
  decode(log: ChainLog): ChainEvent | undefined;
  /** First block worth reading (the deployment block). */
  readonly fromBlock: number;
}

export interface SyncOptions {
  readonly provider: JsonRpcProvider;
  readonly source: ChainEventSource;
  readonly redis: Redis;
  readonly keys: AuthzKeys;
  /** Blocks to stay behind the head (0 on QBFT and anvil: immediate finality). */
  readonly confirmations?: number;
  /** Blocks per getLogs call; at most 5,000. */
  readonly windowSize?: number;
  /** Windows per run, so one run never holds the queue for long. */
  readonly maxWindows?: number;
  /** Longest wait for one JSON-RPC answer (ms). */
  readonly rpcTimeoutMs?: number;
}

export interface SyncRun {
  /** The confirmed head: the chain head − confirmations, the most the follower may reach. */
  readonly head: number;
  readonly cursor: number;
  readonly windows: number;
  readonly events: number;
  /** Events naming records the indexes did not know (see reconcile). */
  readonly orphans: number;
}

const MAX_WINDOW = 5_000;

/**
 * One sync: from the stored cursor towards head − confirmations. That confirmed head is what
 * it publishes as the head, so lag and freshness compare the cursor with what it may reach.
 */
export async function syncOnce(o: SyncOptions): Promise<SyncRun> {
  const windowSize = Math.min(o.windowSize ?? MAX_WINDOW, MAX_WINDOW);
  const timeout = o.rpcTimeoutMs ?? 3_000;
  const chainHead = await withTimeout(o.provider.getBlockNumber(), timeout, 'eth_blockNumber');
  // Windows are read without ethers (see raw-logs.ts), with the provider's own URL and credentials.
  const endpoint = rpcEndpoint(o.provider._getConnection());
  const head = chainHead - (o.confirmations ?? 0);
  let cursor = await readCursor(o.redis, o.keys);
  let windows = 0;
  let events = 0;
  let orphans = 0;
  if (cursor === undefined && head < o.source.fromBlock) {
    cursor = o.source.fromBlock - 1;
  }
  while ((cursor ?? o.source.fromBlock - 1) < head && windows < (o.maxWindows ?? 20)) {
    const from = (cursor ?? o.source.fromBlock - 1) + 1;
    const to = Math.min(head, from + windowSize - 1);
    const logs = await fetchLogs(endpoint, { address: o.source.addresses, fromBlock: from, toBlock: to }, timeout * 3);
    const decoded: ChainEvent[] = [];
    for (const log of [...logs].sort((a, b) => a.blockNumber - b.blockNumber || a.index - b.index)) {
      if (log.removed) continue;
      const event = o.source.decode(log);
      if (event) decoded.push(event);
    }
    const result = await applyWindow(o.redis, o.keys, { expectedCursor: cursor, toBlock: to, head }, decoded);
    if (!result.applied) break; // someone else moved the cursor: the next run starts from there
    cursor = to;
    windows++;
    events += decoded.length;
    orphans += result.orphans;
  }
  const final = cursor ?? o.source.fromBlock - 1;
  if (windows === 0) await publishHeartbeat(o.redis, o.keys, final, head);
  return { head, cursor: final, windows, events, orphans };
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export interface ChainFollowerOptions extends SyncOptions {
  /** BullMQ connection for the queue and worker (a separate one from `redis`). */
  readonly connection: ConnectionOptions;
  /** BullMQ key prefix (one per test). */
  readonly queuePrefix?: string;
  /** How often a sync job is produced (ms). */
  readonly everyMs?: number;
  readonly onRun?: (run: SyncRun) => void;
  readonly onError?: (err: Error) => void;
}

export const CHAIN_QUEUE = 'authz-chain';

/**
 * Runs the follower in this process. Several processes may run it: the queue's global
 * concurrency of 1 and the WATCHed cursor keep syncs one at a time and windows applied once.
 */
export class ChainFollower {
  readonly #schedule: SerialSchedule;

  private constructor(schedule: SerialSchedule) {
    this.#schedule = schedule;
  }

  static async start(o: ChainFollowerOptions): Promise<ChainFollower> {
    const schedule = await SerialSchedule.start({
      connection: o.connection,
      queuePrefix: o.queuePrefix,
      queueName: CHAIN_QUEUE,
      schedulerId: 'chain-sync',
      jobName: 'sync',
      everyMs: o.everyMs ?? 250,
      keep: 100,
      // A sync caught active by a Redis restart stays "active", and with global concurrency 1
      // it holds every later sync back until its lock lapses: keep the lock short (the worker
      // renews it while a long window runs) so the follower resumes within seconds, not 30 s.
      // A sync run twice is harmless: the WATCHed cursor applies a window once.
      lock: { durationMs: 4_000, stalledIntervalMs: 1_000 },
      run: async () => {
        const run = await syncOnce(o);
        o.onRun?.(run);
        return run;
      },
      onError: o.onError,
    });
    return new ChainFollower(schedule);
  }

  get queue(): Queue {
    return this.#schedule.queue;
  }

  /** Asks for a sync now (a new block was announced); duplicates collapse into one job. */
  async wake(): Promise<void> {
    // While a sync runs, one more is kept (the last): a block announced mid-run is not lost.
    await this.queue.add('sync', {}, { deduplication: { id: 'chain-wake', keepLastIfActive: true }, removeOnComplete: true, removeOnFail: true });
  }

  close(): Promise<void> {
    return this.#schedule.close();
  }
}
