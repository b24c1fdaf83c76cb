/**
 * The registered SMART clients: from configuration, from RFC 7591 dynamic registration (public
 * apps only; forgotten after 90 days without use), and backend clients resolved from their on-chain participant record (client_id =
 * the participant's address, keys at its registered JWKS URL).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { JSONWebKeySet } from 'jose';
import type { GrantStore } from './grant-store.ts';
import { parseScopes, scopeCovers } from './scopes.ts';

export type ClientType = 'public' | 'confidential-symmetric' | 'confidential-asymmetric' | 'backend';

export interface SmartClient {
  readonly clientId: string;
  readonly name: string;
  readonly type: ClientType;
  /** Exact redirect URIs; for public clients a loopback URI matches on any port (RFC 8252 §7.3). */
  readonly redirectUris: readonly string[];
  /** Where the EHR launch sends the browser (`?iss=&launch=`). */
  readonly launchUrl?: string;
  /** `confidential-symmetric`: the secret (config) ... */
  readonly secret?: string;
  /** ... or its SHA-256 hex, so configs need not hold the secret itself. */
  readonly secretSha256?: string;
  /** `confidential-asymmetric` and `backend`: inline keys and/or a JWKS URL. */
  readonly jwks?: JSONWebKeySet;
  readonly jwksUri?: string;
  /** The scopes the client may ever get (space separated); omitted = any supported scope. */
  readonly allowedScope?: string;
  /** Legacy apps that cannot do PKCE (SMART v1): opt out explicitly. Default: PKCE S256 required. */
  readonly pkceOptional?: boolean;
  /** Backend clients: the participant address the client acts as. */
  readonly address?: string;
  readonly origin?: 'config' | 'registration' | 'chain';
}

/** A backend participant read from the chain's participant directory. */
export interface ParticipantClient {
  readonly address: string;
  readonly displayName: string;
  readonly jwksUri: string;
}

export type ParticipantResolver = (clientId: string) => Promise<ParticipantClient | undefined>;

/** Backend clients known on chain: one by address, and all of them (for the client list). */
export interface ParticipantClients {
  readonly resolve?: ParticipantResolver;
  readonly list?: () => Promise<readonly ParticipantClient[]>;
}

/** A self-registered app unused this long is forgotten (each use renews it). */
export const REGISTRATION_TTL_SECONDS = 90 * 86400;

/** What a backend client known only on chain may ask for. */
const PARTICIPANT_CLIENT_SCOPE = 'system/*.rs system/*.read';

function participantClient(clientId: string, participant: ParticipantClient): SmartClient {
  return {
    clientId,
    name: participant.displayName,
    type: 'backend',
    redirectUris: [],
    jwksUri: participant.jwksUri,
    allowedScope: PARTICIPANT_CLIENT_SCOPE,
    address: participant.address.toLowerCase(),
    origin: 'chain',
  };
}

export class ClientRegistry {
  readonly #configured: Map<string, SmartClient>;
  readonly #store: GrantStore;
  readonly #participants: ParticipantClients;

  constructor(clients: readonly SmartClient[], store: GrantStore, participants: ParticipantClients = {}) {
    this.#configured = new Map(clients.map((c) => [c.clientId, { ...c, origin: c.origin ?? 'config' }]));
    this.#store = store;
    this.#participants = participants;
  }

  configured(): SmartClient[] {
    return [...this.#configured.values()];
  }

  /** Every client known now: configured, self-registered, and backend systems on chain. */
  async all(): Promise<SmartClient[]> {
    const registered = (await this.#store.registeredClients()).map((json) => JSON.parse(json) as SmartClient);
    const onChain = (await this.#participants.list?.()) ?? [];
    const known = new Set([...this.#configured.keys(), ...registered.map((c) => c.clientId)]);
    return [...this.configured(), ...registered, ...onChain.filter((p) => !known.has(p.address)).map((p) => participantClient(p.address, p))];
  }

  async get(clientId: string | undefined): Promise<SmartClient | undefined> {
    if (!clientId || clientId.length > 200) return undefined;
    const configured = this.#configured.get(clientId);
    if (configured) return configured;
    const json = await this.#store.loadClient(clientId, REGISTRATION_TTL_SECONDS);
    if (json) return JSON.parse(json) as SmartClient;
    if (this.#participants.resolve && /^0x[0-9a-fA-F]{40}$/.test(clientId)) {
      const participant = await this.#participants.resolve(clientId.toLowerCase());
      if (participant) return participantClient(clientId, participant);
    }
    return undefined;
  }

  /** RFC 7591 for public apps: no secret, no keys, only redirect URIs and a name. */
  async register(input: { name: string; redirectUris: string[]; launchUrl?: string; allowedScope?: string }): Promise<SmartClient> {
    const client: SmartClient = {
      clientId: `dyn-${createHash('sha256').update(crypto.randomUUID()).digest('hex').slice(0, 24)}`,
      name: input.name,
      type: 'public',
      redirectUris: input.redirectUris,
      ...(input.launchUrl ? { launchUrl: input.launchUrl } : {}),
      ...(input.allowedScope ? { allowedScope: input.allowedScope } : {}),
      origin: 'registration',
    };
    await this.#store.saveClient(client.clientId, JSON.stringify(client), REGISTRATION_TTL_SECONDS);
    return client;
  }
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

export function redirectUriAllowed(client: SmartClient, redirectUri: string): boolean {
  if (client.redirectUris.includes(redirectUri)) return true;
  if (client.type !== 'public') return false;
  let asked: URL;
  try {
    asked = new URL(redirectUri);
  } catch {
    return false;
  }
  if (asked.protocol !== 'http:' || !LOOPBACK.has(asked.hostname)) return false;
  return client.redirectUris.some((r) => {
    const reg = URL.canParse(r) ? new URL(r) : undefined;
    return (
      reg !== undefined &&
      reg.protocol === 'http:' &&
      reg.hostname === asked.hostname &&
      reg.pathname === asked.pathname &&
      reg.search === asked.search
    );
  });
}

export function secretMatches(client: SmartClient, secret: string): boolean {
  const want = client.secretSha256 ?? (client.secret ? createHash('sha256').update(client.secret).digest('hex') : undefined);
  if (!want) return false;
  const got = createHash('sha256').update(secret).digest('hex');
  return timingSafeEqual(Buffer.from(want, 'hex'), Buffer.from(got, 'hex'));
}

/** The asked scopes a client may have: everything supported unless it registered a limit. */
export function allowedForClient(client: SmartClient, asked: readonly string[]): string[] {
  if (!client.allowedScope) return [...asked];
  const allowed = parseScopes(client.allowedScope);
  const out: string[] = [];
  for (const raw of asked) {
    const one = parseScopes(raw);
    if (one.context.size > 0) {
      if ([...one.context].every((c) => allowed.context.has(c))) out.push(raw);
    } else if (one.resources[0] && allowed.resources.some((a) => scopeCovers(a, one.resources[0]!))) {
      out.push(raw);
    }
  }
  return out;
}
