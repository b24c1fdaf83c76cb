/**
 * Each source's state for the provider console: the adapter's own health check (bounded in
 * time), the error and dead-letter counts and queue depths the server keeps for it, if any.
 */
import type { EhrAdapter } from '../../../adapters/ehr-adapter.ts';
import type { SourceStatusView } from '../shared/src/api-types.ts';
import type { SourcesStatus } from '../api/desks.ts';

export interface StatusSource {
  readonly sourceId: string;
  readonly provider: string;
  readonly name: string;
  readonly kind?: string;
  readonly adapter: EhrAdapter;
}

export interface SourceCounters {
  readonly errors?: number;
  readonly deadLetters?: number;
  readonly queue?: { readonly waiting: number; readonly active: number; readonly failed: number; readonly delayed: number };
}

export interface SourceStatusOptions {
  readonly sources: () => readonly StatusSource[];
  /** Extra counters per source (adapter metrics, dead letters, BullMQ queue counts). */
  readonly counters?: (sourceId: string) => Promise<SourceCounters | undefined>;
  readonly healthTimeoutMs?: number;
}

export class AdapterSourceStatus implements SourcesStatus {
  readonly #o: SourceStatusOptions;

  constructor(options: SourceStatusOptions) {
    this.#o = options;
  }

  async sources(provider: string): Promise<SourceStatusView[]> {
    const mine = this.#o.sources().filter((s) => s.provider.toLowerCase() === provider);
    return Promise.all(mine.map(async (s): Promise<SourceStatusView> => {
      const timeout = this.#o.healthTimeoutMs ?? 3000;
      let healthy = false;
      let detail: string | undefined;
      let lagSeconds: number | undefined;
      try {
        const h = await s.adapter.health(AbortSignal.timeout(timeout));
        healthy = h.status === 'up';
        detail = h.status === 'up' ? h.detail : `${h.status}${h.detail ? `: ${h.detail}` : ''}`;
        lagSeconds = h.lagSeconds;
      } catch (error) {
        detail = `health check failed: ${(error as Error).message}`;
      }
      const counters = (await this.#o.counters?.(s.sourceId).catch(() => undefined)) ?? (await storeCounters(s.adapter));
      return {
        id: s.sourceId,
        kind: s.kind ?? 'source',
        provider: s.name,
        healthy,
        ...(detail ? { detail } : {}),
        ...(lagSeconds !== undefined ? { lagSeconds } : {}),
        ...(counters?.errors !== undefined ? { errors: counters.errors } : {}),
        ...(counters?.deadLetters !== undefined ? { deadLetters: counters.deadLetters } : {}),
        ...(counters?.queue ? { queue: counters.queue } : {}),
      };
    }));
  }
}

/**
 * Feed sources with a durable inbox (the HL7v2 adapter's `store.stats()`) report their dead letters
 * and the messages waiting for conversion, which is their queue.
 */
async function storeCounters(adapter: EhrAdapter): Promise<SourceCounters | undefined> {
  const store = (adapter as { store?: { stats?: () => Promise<{ pending: number; deadLetters: number }> } }).store;
  if (typeof store?.stats !== 'function') return undefined;
  try {
    const stats = await store.stats();
    return { deadLetters: stats.deadLetters, queue: { waiting: stats.pending, active: 0, failed: 0, delayed: 0 } };
  } catch {
    return undefined;
  }
}
