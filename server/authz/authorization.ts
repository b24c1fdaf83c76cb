/**
 * Authorization from the chain, assembled for one server process: Redis connections, freshness
 * tracking, the snapshot cache with its invalidation subscription, the chain-backed policy, and
 * (when this process works the queues) the follower, reconcile, snapshot rebuilds and the audit
 * writer. `close()` releases every connection, worker and timer it opened.
 */
import { JsonRpcProvider } from 'ethers';
import { Redis } from 'ioredis';
import { queueConnection } from '../../adapters/queue/queue-connection.ts';
import type { SourceRef } from '../access/access-policy.ts';
import { AuditTrail } from '../audit/audit-trail.ts';
import type { MedrecMetrics } from '../metrics/metrics.ts';
import { authzKeys, type AuthzKeys } from './authz-keys.ts';
import { ChainAccessPolicy } from './chain-access-policy.ts';
import { ChainFollower, type SyncRun } from './chain-follower.ts';
import { MedrecEventSource, type MedrecContracts } from './contract-events.ts';
import { reconcile, type ReconcileReport } from './reconcile.ts';
import { SerialSchedule } from './serial-schedule.ts';
import { SnapshotCache } from './snapshot-cache.ts';
import { SnapshotRebuilds } from './snapshot-rebuilds.ts';
import { SyncFreshness, type FreshnessBounds } from './sync-freshness.ts';
import { watchNewHeads, type NewHeadsHint } from './new-heads-hint.ts';
import { ChainVouchedLinks, type VouchedLinksOptions } from './vouched-links.ts';
import type { PatientLinks } from '../fhir/patient-links.ts';

/** Minimal logger shape (pino / Fastify's logger fit). */
export interface AuthzLog {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface AuthorizationOptions {
  readonly redisUrl: string;
  readonly chain: {
    /** JSON-RPC over HTTP: the follower polls it; it never relies on a live subscription. */
    readonly rpcUrl: string;
    readonly chainId?: number;
    readonly contracts: MedrecContracts;
    /** Deployment block: where a fresh follower starts. */
    readonly fromBlock: number;
    /** 0 on QBFT and anvil (immediate finality). */
    readonly confirmations?: number;
    /** WebSocket JSON-RPC: new-block announcements wake the follower early (a hint only). */
    readonly wsUrl?: string;
  };
  /** Redis key prefix of the indexes (one per network/test). */
  readonly keyPrefix?: string;
  /** BullMQ prefix (one per test). */
  readonly queuePrefix?: string;
  /** Whether this process runs the follower, reconcile, rebuild and audit workers. */
  readonly workers?: boolean;
  readonly syncEveryMs?: number;
  readonly reconcileEveryMs?: number;
  /** Records compared per kind per reconcile run (rolling offsets carry on). */
  readonly reconcileBatch?: number;
  readonly freshness?: Partial<FreshnessBounds>;
  /** The configured sources (source id → provider address), for the audit trail. */
  readonly sources?: () => readonly SourceRef[];
  readonly metrics?: MedrecMetrics;
  readonly log?: AuthzLog;
}

export interface Authorization {
  readonly policy: ChainAccessPolicy;
  readonly snapshots: SnapshotCache;
  readonly freshness: SyncFreshness;
  readonly audit: AuditTrail;
  readonly keys: AuthzKeys;
  readonly follower: ChainFollower | undefined;
  /**
   * The link table as the FHIR layer must use it: only links whose relationship the chain still
   * vouches for (re-read whenever the follower names the patient).
   */
  vouchLinks(links: PatientLinks, options: Omit<VouchedLinksOptions, 'redis' | 'keys'>): ChainVouchedLinks;
  /** One reconcile run now (tests, CLI). */
  reconcileNow(): Promise<ReconcileReport>;
  /** The reconcile's own queue (when this process works the queues). */
  readonly reconciles: SerialSchedule | undefined;
  close(): Promise<void>;
}

export async function startAuthorization(o: AuthorizationOptions): Promise<Authorization> {
  const keys = authzKeys(o.keyPrefix);
  const connection = queueConnection(o.redisUrl);
  const log = o.log;
  const onError = (what: string) => (err: Error) => log?.warn({ err: err.message }, what);
  // Hot-path commands fail fast while Redis is away (the freshness bound then turns requests 503),
  // and reconnect often: ioredis's default backoff reaches 2 s, which a 503 would last for.
  const retryStrategy = (attempt: number) => Math.min(50 * attempt, 250);
  const redis = new Redis(o.redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: true, retryStrategy });
  const subscriber = new Redis(o.redisUrl, { lazyConnect: true, maxRetriesPerRequest: null, retryStrategy });
  // The follower's and the reconcile's WATCH each need a connection nobody else EXECs on (an
  // EXEC from anyone on the same connection would drop the WATCH): they run on separate queues.
  const followerRedis = new Redis(o.redisUrl, { maxRetriesPerRequest: 1 });
  const reconcileRedis = new Redis(o.redisUrl, { maxRetriesPerRequest: 1 });
  // Rebuild and audit writers.
  const workerRedis = new Redis(o.redisUrl, { maxRetriesPerRequest: 1 });
  for (const c of [redis, subscriber, followerRedis, reconcileRedis, workerRedis]) c.on('error', () => undefined);
  await Promise.all([redis.connect(), subscriber.connect()]);

  const freshness = new SyncFreshness(o.freshness);
  const workers = o.workers ?? true;
  const rebuilds = new SnapshotRebuilds({ connection, prefix: o.queuePrefix, redis: workerRedis, keys, work: workers, onError: onError('snapshot rebuild') });
  const snapshots = await SnapshotCache.start({
    redis,
    subscriber,
    keys,
    freshness,
    onLookup: (result) => o.metrics?.snapshotLookups.inc({ result }),
  });
  if (workers) {
    // Warm the shared copies of changed subjects off the hot path (one job per subject).
    snapshots.onSync((subjects) => {
      if (subjects !== '*' && subjects.length > 0) void rebuilds.request(subjects).catch(onError('snapshot rebuild'));
    });
  }
  const audit = new AuditTrail({
    connection,
    prefix: o.queuePrefix,
    redis: workerRedis,
    work: workers,
    onDropped: (count) => o.metrics?.auditDropped.inc(count),
    onError: onError('audit'),
  });
  o.metrics?.watchAudit(audit);
  const policy = new ChainAccessPolicy({
    snapshots,
    freshness,
    sources: o.sources,
    onDecision: (record) => {
      audit.record(record);
      o.metrics?.accessDecisions.inc({ outcome: record.outcome, status: String(record.status) });
    },
  });

  const provider = new JsonRpcProvider(o.chain.rpcUrl, o.chain.chainId, {
    staticNetwork: true,
    batchStallTime: 0,
    pollingInterval: 250,
    cacheTimeout: -1,
  });
  const runReconcile = async () => {
    const report = await reconcile({ provider, contracts: o.chain.contracts, redis: reconcileRedis, keys, batch: o.reconcileBatch });
    if (report.repairs.length > 0) {
      log?.warn({ block: report.block, repairs: report.repairs, checked: report.checked }, 'authorization indexes repaired from the contracts');
    }
    if (report.left.length > 0) {
      log?.warn({ block: report.block, left: report.left }, 'authorization index drift found but not repaired (the follower kept moving); the next run compares the batch again');
    }
    return report;
  };
  let follower: ChainFollower | undefined;
  if (workers) {
    let lastError = '';
    follower = await ChainFollower.start({
      provider,
      source: new MedrecEventSource(o.chain.contracts, o.chain.fromBlock),
      redis: followerRedis,
      keys,
      confirmations: o.chain.confirmations ?? 0,
      connection,
      queuePrefix: o.queuePrefix,
      everyMs: o.syncEveryMs ?? 250,
      onRun: (run: SyncRun) => {
        lastError = '';
        if (run.events > 0) log?.info({ events: run.events, cursor: run.cursor, head: run.head }, 'chain events folded');
        if (run.orphans > 0) log?.warn({ orphans: run.orphans }, 'chain events referred to unknown records');
      },
      onError: (err) => {
        // A stopped chain fails every run: log the first failure, not one per second.
        if (err.message !== lastError) log?.warn({ err: err.message }, 'chain sync failed');
        lastError = err.message;
      },
    });
  }
  const reconciles = workers
    ? await SerialSchedule.start({
        connection,
        queuePrefix: o.queuePrefix,
        // Its own queue: comparing a large network never holds up the follower's syncs.
        queueName: 'authz-reconcile',
        schedulerId: 'reconcile',
        jobName: 'reconcile',
        keep: 20,
        everyMs: o.reconcileEveryMs ?? 300_000,
        run: runReconcile,
        onError: onError('reconcile failed'),
      })
    : undefined;
  let hint: NewHeadsHint | undefined;
  if (follower && o.chain.wsUrl) {
    const f = follower;
    const wake = () => void f.wake().catch(onError('follower wake-up'));
    // On every (re)connection too: blocks announced while the socket was down were not heard.
    hint = watchNewHeads(o.chain.wsUrl, wake, (connected) => connected && wake());
  }
  o.metrics?.watchFreshness(freshness);
  o.metrics?.watchQueues([rebuilds.queue, audit.queue, ...(follower ? [follower.queue] : []), ...(reconciles ? [reconciles.queue] : [])]);

  return {
    policy,
    snapshots,
    freshness,
    audit,
    keys,
    follower,
    reconcileNow: runReconcile,
    reconciles,
    vouchLinks(links, options) {
      const vouched = new ChainVouchedLinks(links, { ...options, redis, keys });
      snapshots.onSync((subjects) => void vouched.refresh(subjects));
      void vouched.refresh([]);
      return vouched;
    },
    async close() {
      hint?.close();
      await follower?.close();
      await reconciles?.close();
      await audit.close();
      await rebuilds.close();
      await snapshots.close();
      provider.destroy();
      redis.disconnect();
      subscriber.disconnect();
      followerRedis.disconnect();
      reconcileRedis.disconnect();
      workerRedis.disconnect();
    },
  };
}
