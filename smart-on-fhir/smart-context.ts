/**
 * The pieces one authorization server instance is made of, handed to each route module, and the
 * options that shape it.
 */
import type { Redis } from 'ioredis';
import type { Resource } from '@medplum/fhirtypes';
import type { AccessContext } from '../server/access/access-context.ts';
import type { PermissionSnapshot } from '../server/access/permission-snapshot.ts';
import type { ClientAuthenticator } from './client-authentication.ts';
import type { ClientRegistry, ParticipantClient, ParticipantResolver, SmartClient } from './clients.ts';
import type { SmartEndpoints } from './discovery.ts';
import type { GrantStore } from './grant-store.ts';
import type { DemoIdentityChoice } from './pages.ts';
import type { SigningKeys } from './signing-keys.ts';
import type { SiweLogin } from './siwe-login.ts';
import type { TokenService } from './tokens.ts';

/**
 * Participant roles as the participant directory knows them; `provider` is a current member of
 * the provider registry, `organisation` a directory organisation that is not (or no longer) one.
 */
export type ParticipantRole = 'patient' | 'clinician' | 'proxy' | 'pharmacy' | 'researcher' | 'provider' | 'organisation';

export interface ParticipantInfo {
  readonly displayName?: string;
  readonly role?: ParticipantRole;
}

/** A demo identity that can sign in with one click: the server signs with its published dev key. */
export interface DemoSigner extends DemoIdentityChoice {
  signMessage(message: string): Promise<string>;
}

/** The FHIR layer's read (`FhirService.read`): the caller's access decides, as for any read. */
export interface FhirReads {
  read(resourceType: string, id: string, ctx: { readonly access?: AccessContext }): Promise<Resource>;
}

export interface SmartAuthOptions {
  /** The server's public origin (scheme://host[:port]); the OIDC issuer. */
  readonly publicUrl: string;
  /** Path of the FHIR base under the origin; default `/fhir`. */
  readonly fhirBasePath?: string;
  readonly redis: Redis;
  /** Redis key prefix; default `medrec:smart:`. */
  readonly prefix?: string;
  readonly clients: readonly SmartClient[];
  /** What a subject may see (issue 4's snapshots); default: only their own records. */
  readonly permissionSnapshot?: (subject: string) => Promise<PermissionSnapshot>;
  /** Names and roles of addresses (participant directory); default: unknown. */
  readonly describeParticipant?: (address: string) => Promise<ParticipantInfo | undefined>;
  /** Backend clients known only on chain (client_id = address, JWKS URL from the directory). */
  readonly resolveParticipantClient?: ParticipantResolver;
  /** Every backend client known only on chain, for the client list. */
  readonly listParticipantClients?: () => Promise<readonly ParticipantClient[]>;
  /** The FHIR layer, for reads made with a user's own access (an EHR launch's encounter). */
  readonly fhir?: FhirReads;
  /** One-click demo sign-in; never set in production. */
  readonly demoSigners?: readonly DemoSigner[];
  /** Chain id in SIWE messages; default 31337 (the embedded chain). */
  readonly chainId?: number;
  /** RFC 7591 registration of public apps; default true. */
  readonly dynamicRegistration?: boolean;
  /** Install the bearer-token hook on the FHIR base; default true. */
  readonly protectFhir?: boolean;
  /** Requests without a token: refused with 401 (default) or passed on without an access context. */
  readonly anonymous?: 'refuse' | 'pass';
  /** Paths under the FHIR base open without a token (besides metadata and .well-known). */
  readonly openFhirPaths?: readonly string[];
  /** Seals the private signing keys at rest in Redis (share it across replicas). */
  readonly keySealingSecret?: string | Buffer;
  /** Signing keys older than this are rotated (checked hourly); default 30 days, 0 = never. */
  readonly keyRotationSeconds?: number;
  readonly accessTokenSeconds?: number;
  readonly backendTokenSeconds?: number;
  readonly offlineGrantSeconds?: number;
  readonly onlineGrantSeconds?: number;
}

export interface SmartAuthServices {
  readonly endpoints: SmartEndpoints;
  readonly keys: SigningKeys;
  readonly store: GrantStore;
  readonly clients: ClientRegistry;
  readonly authenticator: ClientAuthenticator;
  readonly tokens: TokenService;
  readonly siwe: SiweLogin;
}

export interface SmartContext extends SmartAuthServices {
  readonly options: SmartAuthOptions;
  readonly lifetimes: { access: number; backend: number; offline: number; online: number; code: number };
  snapshot(subject: string): Promise<PermissionSnapshot>;
  describe(address: string): Promise<ParticipantInfo>;
  fhirUserOf(address: string): Promise<string>;
}
