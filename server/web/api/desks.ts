/**
 * What the web apps' routes ask of the rest of the server, one interface per app. The routes stay
 * thin (auth, schemas, errors); the desks do the work against the chain, the audit store, the
 * sources and the SMART server.
 */
import type {
  AccessLogEntry, NotificationView, PatientActionParams, PatientNetwork, PreparedAction, ProviderNetwork,
  ProviderPatients, RelayOutcome, SmartClientView, SourceStatusView, TypedData,
} from '../shared/src/api-types.ts';

/** A failure the user can act on: its message and `next` are shown as they are. */
export class DeskError extends Error {
  readonly statusCode: number;
  readonly next?: string;
  constructor(statusCode: number, message: string, next?: string) {
    super(message);
    this.statusCode = statusCode;
    this.next = next;
  }
}

/** A feature this node was started without (no chain, no SMART server, ...). */
export const unavailable = (what: string): DeskError => new DeskError(503, `${what} is not available on this server.`, 'Ask the node operator to enable it.');

export interface AccessLogFilter {
  readonly who?: string;
  readonly type?: string;
  readonly outcome?: 'allowed' | 'refused';
}

export interface PatientDesk {
  network(patient: string): Promise<PatientNetwork>;
  /** Builds the EIP-712 message for an action of `patient` (current nonce, short deadline). */
  prepare(patient: string, params: PatientActionParams): Promise<PreparedAction>;
  /** Submits a message `patient` signed through the relayer; the contract checks the signature. */
  relay(patient: string, typedData: TypedData, signature: string): Promise<RelayOutcome>;
}

export interface AccessLogSource {
  /** `bearer`: the patient's own token, so the audit store applies its own access rule. */
  accessLog(patient: string, filter: AccessLogFilter, bearer: string): Promise<AccessLogEntry[]>;
}

export interface NotificationHub {
  /** Calls `listener` for every notification addressed to `address` until the returned function runs. */
  subscribe(address: string, listener: (n: NotificationView) => void): () => void;
  /** Recent notifications for `address` (replayed to a new connection). */
  recent(address: string): NotificationView[];
}

export interface LinkRequest {
  readonly source: string;
  readonly localId: string;
  readonly address: string;
}

export interface ProposalRequest {
  readonly name?: string;
  readonly address?: string;
  readonly fhirBase?: string;
  readonly remove?: string;
}

export interface ProviderDesk {
  /** True when this node holds the provider's key and may act for it. */
  canActFor(provider: string): boolean;
  network(provider: string): Promise<ProviderNetwork>;
  propose(provider: string, request: ProposalRequest): Promise<RelayOutcome>;
  vote(provider: string, motionId: string): Promise<RelayOutcome>;
  rescind(provider: string, motionId: string): Promise<RelayOutcome>;
  patients(provider: string): Promise<ProviderPatients>;
  link(provider: string, request: LinkRequest): Promise<RelayOutcome>;
  endRelationship(provider: string, patient: string): Promise<RelayOutcome>;
}

export interface SourcesStatus {
  sources(provider: string): Promise<SourceStatusView[]>;
}

export interface SmartLauncher {
  clients(): Promise<SmartClientView[]>;
  /** Creates an EHR launch for `patient` by `user` and returns the app's launch URL with iss and launch. */
  launch(input: { clientId: string; patient: string; user: string }): Promise<{ url: string }>;
}
