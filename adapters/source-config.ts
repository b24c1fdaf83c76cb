/**
 * How a source is declared in configuration (`MEDREC_SOURCES` file or the embedded defaults)
 * and how an adapter kind turns that declaration into an `EhrAdapter`.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { EhrAdapter } from './ehr-adapter.ts';

export interface SourceConfig {
  /** `[a-z0-9-]{1,16}`: prefix of every id this source's resources get. */
  readonly id: string;
  /** Adapter kind: `embedded`, `fhir`, `hl7v2`, `sql`. */
  readonly kind: string;
  /** The provider (hospital, clinic, pharmacy) that holds these records: its address once on chain. */
  readonly provider: string;
  /** Human-readable provider name (not PHI). */
  readonly name: string;
  /** Kind-specific options, validated by the kind's factory. */
  readonly options: Readonly<Record<string, unknown>>;
  /**
   * `inline` (default): the adapter runs in the server process. `queue`: the server sends each
   * call as a BullMQ job on the source's `adapter-<id>` queue to an adapter worker that runs the
   * adapter (e.g. inside the hospital's network); see adapters/queue/queue-options.ts.
   */
  readonly via?: 'inline' | 'queue';
  /** Queue settings of a `via: "queue"` source (key, prefix, deadline), read by both ends. */
  readonly queue?: Readonly<Record<string, unknown>>;
}

/** What an adapter factory may use from the host process. */
export interface AdapterContext {
  readonly log: FastifyBaseLogger;
  /** Directory for file-backed state (HL7v2 store, demo databases). */
  readonly dataDir: string;
  /** Redis URL when the process has one (queues, dedup); adapters must work without it if they can. */
  readonly redisUrl?: string;
  /**
   * Called by feed-driven sources (HL7v2) when records of these local patients were created or
   * changed; the server batches it into record-change notifications. No clinical content.
   */
  readonly recordsChanged?: (sourceId: string, localPatientIds: readonly string[]) => void;
  /** A network provider's FHIR base URL from the on-chain provider registry (peer MedRec nodes). */
  readonly resolveProviderFhirBase?: (provider: string, signal: AbortSignal) => Promise<string>;
  /** This node's own provider address: who it is when it calls a peer MedRec node. */
  readonly nodeProvider?: string;
}

export type AdapterFactory = (config: SourceConfig, context: AdapterContext) => Promise<EhrAdapter>;
