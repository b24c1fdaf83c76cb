/**
 * Each source's state for the provider console: the adapter's own health check (bounded in
 * time), how the FHIR layer's calls to it ended, and a feed's dead letters and inbox depth.
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
  /** Calls the FHIR layer made since start, and how many failed or missed the deadline. */
  readonly calls?: number;
  readonly errors?: number;
  readonly timeouts?: number;
  readonly deadLetters?: number;
  readonly queue?: SourceStatusView['queue'];
}

export interface SourceStatusOptions {
  readonly sources: () => readonly StatusSource[];
  /** Counters per source kept by the server (the FHIR layer's calls: see source-calls.ts). */
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
      const counters = { ...(await storeCounters(s.adapter)), ...(await this.#o.counters?.(s.sourceId).catch(() => undefined)) };
      return {
        id: s.sourceId,
        kind: s.kind ?? 'source',
        provider: s.name,
        healthy,
        ...(detail ? { detail } : {}),
        ...(lagSeconds !== undefined ? { lagSeconds } : {}),
        ...(counters.calls !== undefined ? { calls: counters.calls } : {}),
        ...(counters.errors !== undefined ? { errors: counters.errors } : {}),
        ...(counters.timeouts !== undefined ? { timeouts: counters.timeouts } : {}),
        ...(counters.deadLetters !== undefined ? { deadLetters: counters.deadLetters } : {}),
        ...(counters.queue ? { queue: counters.queue } : {}),
      };
    }));
  }
}

/**
 * Feed sources with a durable inbox (the HL7v2 adapter's `store.stats()`) report their dead letters
 * and the messages waiting for conversion, which is their queue (nothing else of it is known).
 */
async function storeCounters(adapter: EhrAdapter): Promise<SourceCounters | undefined> {
  const store = (adapter as { store?: { stats?: () => Promise<{ pending: number; deadLetters: number }> } }).store;
  if (typeof store?.stats !== 'function') return undefined;
  try {
    const stats = await store.stats();
    return { deadLetters: stats.deadLetters, queue: { waiting: stats.pending } };
  } catch {
    return undefined;
  }
}
