/**
 * The one interface every EHR source implements (upstream FHIR, HL7v2 store, SQL, embedded
 * bundles). Adapters speak in the source's own ids: the server resolves a patient's address to
 * local patient ids before calling them and rewrites ids and references afterwards.
 * Adapters never see tokens, grants or patient addresses.
 */
import type { Filter, SortRule } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';

/** What a source can answer, per FHIR resource type. The CapabilityStatement is built from this. */
export interface SourceCapabilities {
  readonly resources: Readonly<Record<string, ResourceCapability>>;
}

export interface ResourceCapability {
  /** Search parameter codes the source evaluates itself (e.g. `code`, `date`, `status`). */
  readonly searchParams: readonly string[];
  /** `_include` targets it supports, as `Type:param` (e.g. `MedicationRequest:medication`). */
  readonly includes?: readonly string[];
  readonly revIncludes?: readonly string[];
}

/** One search sent to one source. */
export interface SourceQuery {
  readonly resourceType: string;
  /**
   * Filters still to apply, parsed by @medplum/core. Patient-compartment filters
   * (`patient`, `subject` pointing at a patient) are removed and expressed through `patients`.
   */
  readonly filters: readonly Filter[];
  /**
   * Local patient ids at this source whose compartment the results must lie in.
   * `undefined` means the query is not restricted to patients (e.g. Medication, Organization);
   * an empty array never reaches an adapter (the planner skips the source instead).
   */
  readonly patients?: readonly string[];
  readonly sort?: readonly SortRule[];
  /** Page size wanted; adapters may return fewer. */
  readonly count: number;
  /** Opaque position previously returned as `SourcePage.next` by this same adapter. */
  readonly page?: string;
  /** Whether the caller wants `total`; adapters may compute it cheaply or leave it out. */
  readonly total?: boolean;
  /**
   * The client asked for an exact total (`_total=accurate`, `_summary=count`): only then is a
   * costly count worth asking a source for (e.g. an upstream's `_total=accurate`).
   */
  readonly accurateTotal?: boolean;
}

export interface SourcePage {
  /** Resources in the source's own ids and references, in `SourceQuery.sort` order. */
  readonly resources: readonly Resource[];
  readonly total?: number;
  /** Opaque position of the next page; absent on the last page. Never sent to clients in clear. */
  readonly next?: string;
}

export type SourceStatus = 'up' | 'degraded' | 'down';

export interface SourceHealth {
  readonly status: SourceStatus;
  readonly detail?: string;
  /** For feeds (HL7v2): seconds between the newest accepted message and now. */
  readonly lagSeconds?: number;
  readonly checkedAt: string;
}

export interface EhrAdapter {
  /** The source id from configuration: `[a-z0-9-]{1,16}`, used as the id prefix of its resources. */
  readonly sourceId: string;
  /**
   * True when this node's own code evaluates every filter the adapter is sent (embedded, SQL,
   * HL7v2 store), so its pages and totals hold matches only; a remote server may ignore a
   * parameter it declared, so its totals are not taken on trust where that matters.
   */
  readonly evaluatesSearchItself?: boolean;
  capabilities(): SourceCapabilities;
  /** A resource by its local id, or `undefined` when the source does not have it. */
  read(resourceType: string, id: string, signal: AbortSignal): Promise<Resource | undefined>;
  search(query: SourceQuery, signal: AbortSignal): Promise<SourcePage>;
  health(signal: AbortSignal): Promise<SourceHealth>;
  /** Releases connections, listeners and timers. */
  close(): Promise<void>;
}

/**
 * Thrown by adapters for failures of the source itself (unreachable, timed out, answered
 * garbage). The federation layer turns it into a warning entry instead of failing the search.
 * Bad client input is an `OperationOutcomeError` (400) instead.
 */
export class SourceUnavailableError extends Error {
  readonly sourceId: string;
  constructor(sourceId: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SourceUnavailableError';
    this.sourceId = sourceId;
  }
}

/**
 * Thrown by adapters when the source answers, but not the query as asked (an upstream that
 * ignores `_sort`). The source is left out with a `not-supported` warning naming `what`
 * (a parameter, never a value).
 */
export class SourceCannotEvaluateError extends Error {
  readonly sourceId: string;
  readonly what: string;
  constructor(sourceId: string, what: string) {
    super(`source ${sourceId} cannot evaluate ${what}`);
    this.name = 'SourceCannotEvaluateError';
    this.sourceId = sourceId;
    this.what = what;
  }
}
