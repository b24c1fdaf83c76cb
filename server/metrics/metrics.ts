/**
 * The server's Prometheus metrics, in a registry of their own (no prom-client global state):
 * request latency by route, permission snapshot lookups by where they were found, chain lag in
 * blocks and seconds, queue depths, audit records held or lost. Gauges are read when scraped.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Queue } from 'bullmq';
import type { SyncFreshness } from '../authz/sync-freshness.ts';

export interface MedrecMetrics {
  readonly registry: Registry;
  readonly requestDuration: Histogram<'method' | 'route' | 'status_code'>;
  readonly snapshotLookups: Counter<'result'>;
  readonly accessDecisions: Counter<'outcome' | 'status'>;
  /** Audit records lost (held while Redis was away beyond the audit buffer's bound). */
  readonly auditDropped: Counter;
  /** Reports how many audit records wait to be queued. */
  watchAudit(audit: { readonly buffered: number }): void;
  /** Reports the chain lag of this process from its freshness tracker. */
  watchFreshness(freshness: SyncFreshness): void;
  /** Reports the depth of these queues by job state. */
  watchQueues(queues: readonly Queue[]): void;
}

export function createMetrics(options: { readonly defaultMetrics?: boolean } = {}): MedrecMetrics {
  const registry = new Registry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'medrec_' });
  const requestDuration = new Histogram({
    name: 'medrec_http_request_duration_seconds',
    help: 'HTTP request latency by route template',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const snapshotLookups = new Counter({
    name: 'medrec_permission_snapshot_lookups_total',
    help: 'Permission snapshot lookups by where the snapshot was found: memory (hit), redis (shared hit), built (miss)',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  const accessDecisions = new Counter({
    name: 'medrec_access_decisions_total',
    help: 'Access decisions by outcome and HTTP status',
    labelNames: ['outcome', 'status'] as const,
    registers: [registry],
  });
  const auditDropped = new Counter({
    name: 'medrec_audit_dropped_total',
    help: 'Audit records dropped: they could not be queued and the bounded buffer was full',
    registers: [registry],
  });
  const audits: Array<{ readonly buffered: number }> = [];
  new Gauge({
    name: 'medrec_audit_buffered_records',
    help: 'Audit records waiting to be queued (buffered, or held while Redis is away)',
    registers: [registry],
    collect() {
      this.set(audits.reduce((n, a) => n + a.buffered, 0));
    },
  });
  const freshnessSources: SyncFreshness[] = [];
  new Gauge({
    name: 'medrec_chain_lag_blocks',
    help: 'Blocks between the chain head last seen and the block the permission snapshots reflect',
    registers: [registry],
    collect() {
      const f = freshnessSources[0];
      if (f) this.set(f.lagBlocks());
    },
  });
  new Gauge({
    name: 'medrec_chain_lag_seconds',
    help: 'Seconds since the permission snapshots were last known to reflect the chain head',
    registers: [registry],
    collect() {
      const f = freshnessSources[0];
      if (f) this.set(f.lagSeconds());
    },
  });
  new Gauge({
    name: 'medrec_chain_block',
    help: 'Chain heights: the head last seen and the block the snapshots reflect',
    labelNames: ['kind'] as const,
    registers: [registry],
    collect() {
      const f = freshnessSources[0];
      if (!f) return;
      const s = f.state();
      this.set({ kind: 'head' }, s.head);
      this.set({ kind: 'synced' }, s.cursor);
    },
  });
  new Gauge({
    name: 'medrec_permissions_fresh',
    help: '1 when protected requests are answered, 0 while they fail closed (503)',
    registers: [registry],
    collect() {
      const f = freshnessSources[0];
      if (f) this.set(f.verdict().fresh ? 1 : 0);
    },
  });
  const queues: Queue[] = [];
  new Gauge({
    name: 'medrec_queue_jobs',
    help: 'Jobs per queue and state',
    labelNames: ['queue', 'state'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      await Promise.all(
        queues.map(async (q) => {
          try {
            const counts = await q.getJobCounts('waiting', 'active', 'delayed', 'failed', 'prioritized');
            for (const [state, n] of Object.entries(counts)) this.set({ queue: q.name, state }, n);
          } catch {
            // Redis away: the freshness gauge says so; leave the depths out of this scrape.
          }
        }),
      );
    },
  });
  return {
    registry,
    requestDuration,
    snapshotLookups,
    accessDecisions,
    auditDropped,
    watchAudit: (a) => void audits.push(a),
    watchFreshness: (f) => void freshnessSources.splice(0, freshnessSources.length, f),
    watchQueues: (qs) => void queues.push(...qs),
  };
}
