/**
 * How the FHIR layer's calls to each source ended since this process started, for the provider
 * console's Sources screen: the sources handed to the FHIR layer report every call through their
 * `onCall` hook (server/fhir/source-call.ts) into one of these.
 */
import type { FederatedSource, SourceCallOutcome } from '../../fhir/source-directory.ts';
import type { SourceCounters } from './source-status.ts';

export class SourceCallCounts {
  readonly #counts = new Map<string, Record<SourceCallOutcome, number>>();

  /** The same sources, each reporting its calls here. */
  instrument<S extends FederatedSource>(sources: readonly S[]): S[] {
    return sources.map((s) => ({ ...s, onCall: (outcome: SourceCallOutcome) => this.record(s.sourceId, outcome) }));
  }

  record(sourceId: string, outcome: SourceCallOutcome): void {
    const counts = this.#counts.get(sourceId) ?? { ok: 0, timeout: 0, error: 0 };
    counts[outcome] += 1;
    this.#counts.set(sourceId, counts);
  }

  counters(sourceId: string): SourceCounters {
    const c = this.#counts.get(sourceId) ?? { ok: 0, timeout: 0, error: 0 };
    return { calls: c.ok + c.timeout + c.error, errors: c.error, timeouts: c.timeout };
  }
}
