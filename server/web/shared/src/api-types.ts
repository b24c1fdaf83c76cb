/**
 * The backend-for-frontend contract between the web apps and `server/web/api/*`: types only, shared
 * by the browser bundles and the Fastify routes (whose JSON schemas describe the same shapes).
 */

export type Address = string;

export type ParticipantRole =
  | 'patient' | 'provider' | 'pharmacy' | 'proxy' | 'researcher' | 'clinician' | 'organisation' | 'operator';

export interface DemoIdentityView {
  readonly handle: string;
  readonly role: string;
  readonly displayName: string;
  readonly address: Address;
}

/** `GET /web/api/config`: what a signed-out app needs to start. */
export interface WebConfig {
  readonly fhirBase: string;
  /** The SMART client id each app signs in with (public clients, PKCE). */
  readonly clients: { readonly patient: string; readonly provider: string };
  /** Present only in the embedded demo: the published dev identities, for one-click sign-in. */
  readonly demo?: {
    readonly identities: readonly DemoIdentityView[];
    /** The SMART client the demo SMART app (`/demo-app/`) signs in as, when one is registered for it. */
    readonly smartAppClientId?: string;
  };
  /** Which parts this node can serve; a missing part is shown as such, never faked. */
  readonly features: Readonly<Record<string, boolean>>;
  /** The chain patients' signatures are for: a browser wallet must be on it to sign. */
  readonly wallet?: WalletChainView;
}

export interface WalletChainView {
  readonly chainId: number;
  readonly chainName: string;
  /** The chain's RPC URL as browsers reach it, when the operator published one (for wallet_addEthereumChain). */
  readonly rpcUrl?: string;
}

export interface ParticipantView {
  readonly address: Address;
  readonly name: string;
  readonly role: ParticipantRole | string;
}

export interface ProviderView extends ParticipantView {
  readonly fhirBase?: string;
}

export type GrantKind = 'grant' | 'delegation' | 'study';

export interface GrantView {
  /** On-chain id (grant id, or `delegation:<proxy>`, or `study:<id>`). */
  readonly id: string;
  readonly kind: GrantKind;
  readonly grantee: ParticipantView;
  /** Provider addresses covered, or `*` for every provider. */
  readonly providers: readonly Address[] | '*';
  readonly resourceTypes: readonly string[] | '*';
  readonly actions: readonly string[];
  readonly purpose: string;
  readonly notBefore: number;
  /** Unix seconds; 0 = no expiry. */
  readonly expiresAt: number;
  readonly active: boolean;
}

export interface AccessRequestView {
  readonly id: string;
  readonly requester: ParticipantView;
  readonly providers: readonly Address[] | '*';
  readonly resourceTypes: readonly string[] | '*';
  readonly purpose: string;
  readonly expiresAt: number;
  readonly status: 'pending' | 'approved' | 'declined';
}

export interface StudyView {
  readonly id: string;
  readonly title: string;
  readonly researcher: ParticipantView;
  readonly resourceTypes: readonly string[] | '*';
  readonly status: 'invited' | 'enrolled' | 'withdrawn';
}

/** `GET /web/api/patient/network`. */
export interface PatientNetwork {
  readonly me: ParticipantView;
  readonly providers: readonly ProviderView[];
  readonly grants: readonly GrantView[];
  readonly requests: readonly AccessRequestView[];
  readonly studies: readonly StudyView[];
  /** People and organisations the patient may grant to (the participant directory). */
  readonly directory: readonly ParticipantView[];
  readonly blockNumber: number;
}

export type PatientActionName = 'grant' | 'revoke' | 'delegate' | 'undelegate' | 'approve' | 'decline' | 'enroll' | 'withdraw';

export interface GrantParams {
  readonly grantee: Address;
  readonly providers: readonly Address[] | '*';
  readonly resourceTypes: readonly string[] | '*';
  readonly purpose: string;
  /** Unix seconds; 0 = no expiry. */
  readonly expiresAt: number;
}

export type PatientActionParams =
  | { readonly action: 'grant'; readonly grant: GrantParams }
  | { readonly action: 'delegate'; readonly proxy: Address; readonly expiresAt: number }
  | { readonly action: 'revoke' | 'undelegate'; readonly id: string }
  | { readonly action: 'approve' | 'decline'; readonly id: string }
  | { readonly action: 'enroll' | 'withdraw'; readonly id: string };

/** EIP-712 typed data as `eth_signTypedData_v4` takes it. */
export interface TypedData {
  readonly domain: Record<string, unknown>;
  readonly types: Record<string, ReadonlyArray<{ readonly name: string; readonly type: string }>>;
  readonly primaryType: string;
  readonly message: Record<string, unknown>;
}

/** `POST /web/api/patient/actions/prepare` → what the patient signs. */
export interface PreparedAction {
  readonly summary: string;
  readonly typedData: TypedData;
}

/** `POST /web/api/patient/actions/relay` → the relayed transaction's outcome. */
export interface RelayOutcome {
  readonly txHash: string;
  readonly blockNumber: number;
  readonly summary: string;
}

export interface AccessLogEntry {
  readonly id: string;
  readonly recorded: string;
  readonly who: ParticipantView;
  readonly client?: string;
  readonly resourceType: string;
  readonly action: string;
  readonly outcome: 'allowed' | 'refused';
  readonly purpose?: string;
  readonly sources: readonly string[];
}

export interface NotificationView {
  readonly id: string;
  readonly kind: 'record-change' | 'study-invitation' | 'access-request' | 'grant-expiring' | 'grant-change' | 'access';
  readonly at: string;
  readonly text: string;
}

/** Provider console. */
export interface ProposalView {
  readonly id: string;
  readonly kind: 'admit' | 'remove';
  readonly candidate: ProviderView;
  readonly proposer: Address;
  readonly votes: readonly Address[];
  readonly needed: number;
  readonly open: boolean;
}

export interface ProviderNetwork {
  readonly me: ProviderView;
  readonly providers: readonly ProviderView[];
  readonly proposals: readonly ProposalView[];
  readonly blockNumber: number;
}

export interface LinkedPatientView {
  readonly address: Address;
  readonly name: string;
  readonly active: boolean;
  /** Grants from this patient that cover this provider's records. */
  readonly grants: readonly GrantView[];
}

export interface ProviderPatients {
  readonly patients: readonly LinkedPatientView[];
  /** Local patients known to this provider's sources that are not linked yet (opaque ids only). */
  readonly sources: readonly string[];
}

export interface SourceStatusView {
  readonly id: string;
  readonly kind: string;
  readonly provider: string;
  readonly healthy: boolean;
  readonly detail?: string;
  readonly lagSeconds?: number;
  /** The FHIR layer's calls to this source since the server started, failed ones, deadline misses. */
  readonly calls?: number;
  /** Absent when this source does not report it (shown as such, never as a made-up zero). */
  readonly errors?: number;
  readonly timeouts?: number;
  readonly deadLetters?: number;
  /** Work waiting for the source: a feed's messages awaiting conversion (all its inbox reports). */
  readonly queue?: { readonly waiting: number };
}

export interface SmartClientView {
  readonly clientId: string;
  readonly name: string;
  readonly type: 'public' | 'confidential';
  readonly launchUrl?: string;
  readonly redirectUris: readonly string[];
  readonly scopes: string;
}

export interface ApiProblem {
  readonly error: string;
  /** What the user can do about it. */
  readonly next?: string;
}
