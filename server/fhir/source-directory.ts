/**
 * The configured sources as the FHIR layer uses them: adapter plus the provider it speaks for,
 * in configuration order (which is also the tie-break order of merged results).
 */
import type { EhrAdapter } from '../../adapters/ehr-adapter.ts';
import type { SourceRef } from '../access/access-policy.ts';

/** How one call of the FHIR layer to a source ended (a client that went away is not counted). */
export type SourceCallOutcome = 'ok' | 'timeout' | 'error';

export interface FederatedSource extends SourceRef {
  readonly name: string;
  readonly adapter: EhrAdapter;
  /** Told how every call to this source ended (the provider console counts errors and timeouts). */
  readonly onCall?: (outcome: SourceCallOutcome) => void;
}

export class SourceDirectory {
  readonly #sources: readonly FederatedSource[];
  readonly #byId: ReadonlyMap<string, FederatedSource>;

  constructor(sources: readonly FederatedSource[]) {
    const ids = new Set<string>();
    for (const s of sources) {
      if (ids.has(s.sourceId)) throw new Error(`duplicate source id ${s.sourceId}`);
      ids.add(s.sourceId);
    }
    this.#sources = sources;
    this.#byId = new Map(sources.map((s) => [s.sourceId, s]));
  }

  all(): readonly FederatedSource[] {
    return this.#sources;
  }

  get(sourceId: string): FederatedSource | undefined {
    return this.#byId.get(sourceId);
  }

  /** Sources that declare this resource type, in order. */
  serving(resourceType: string): FederatedSource[] {
    return this.#sources.filter((s) => s.adapter.capabilities().resources[resourceType] !== undefined);
  }

  resourceTypes(): string[] {
    return [...new Set(this.#sources.flatMap((s) => Object.keys(s.adapter.capabilities().resources)))].sort();
  }
}
