/**
 * Who is calling the token endpoint: a public client (client_id only), a symmetric confidential
 * client (`client_secret_basic` / `client_secret_post`), or an asymmetric one (`private_key_jwt`,
 * SMART client-confidential-asymmetric and Backend Services): an RS384/ES384 assertion signed by
 * a key from the client's inline JWKS or JWKS URL, `jku` only if it is that URL, `exp` at most
 * five minutes ahead, each `jti` once.
 */
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { ClientJwksCache } from './client-jwks.ts';
import { OAuthError } from './oauth-error.ts';
import { secretMatches, type ClientRegistry, type SmartClient } from './clients.ts';
import type { GrantStore } from './grant-store.ts';

export const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
export const ASSERTION_ALGS = ['RS384', 'ES384', 'RS256', 'ES256', 'RS512', 'ES512'];
const MAX_ASSERTION_LIFETIME = 300;
const CLOCK_SKEW = 30;

export interface TokenRequestCredentials {
  readonly authorization?: string | undefined;
  readonly clientId?: string | undefined;
  readonly clientSecret?: string | undefined;
  readonly clientAssertionType?: string | undefined;
  readonly clientAssertion?: string | undefined;
}

export interface AuthenticatedClient {
  readonly client: SmartClient;
  /** Whether the client proved possession of a credential (not just named itself). */
  readonly authenticated: boolean;
}

export class ClientAuthenticator {
  readonly #clients: ClientRegistry;
  readonly #store: GrantStore;
  readonly #tokenUrl: string;
  readonly #remoteJwks = new ClientJwksCache();

  constructor(clients: ClientRegistry, store: GrantStore, tokenUrl: string) {
    this.#clients = clients;
    this.#store = store;
    this.#tokenUrl = tokenUrl;
  }

  async authenticate(creds: TokenRequestCredentials): Promise<AuthenticatedClient> {
    if (creds.clientAssertion !== undefined || creds.clientAssertionType !== undefined) {
      return { client: await this.#assertion(creds), authenticated: true };
    }
    const basic = parseBasic(creds.authorization);
    if (basic) {
      if (creds.clientId !== undefined && creds.clientId !== basic.id) throw new OAuthError('invalid_request', 'client_id differs from the Basic credentials');
      const client = await this.#clients.get(basic.id);
      if (!client || client.type !== 'confidential-symmetric' || !secretMatches(client, basic.secret)) {
        throw new OAuthError('invalid_client', 'client authentication failed');
      }
      return { client, authenticated: true };
    }
    const client = await this.#clients.get(creds.clientId);
    if (!client) throw new OAuthError('invalid_client', 'unknown client');
    if (creds.clientSecret !== undefined) {
      if (client.type !== 'confidential-symmetric' || !secretMatches(client, creds.clientSecret)) {
        throw new OAuthError('invalid_client', 'client authentication failed');
      }
      return { client, authenticated: true };
    }
    return { client, authenticated: false };
  }

  async #assertion(creds: TokenRequestCredentials): Promise<SmartClient> {
    if (creds.clientAssertionType !== JWT_BEARER) throw new OAuthError('invalid_client', `client_assertion_type must be ${JWT_BEARER}`);
    const assertion = creds.clientAssertion;
    if (!assertion) throw new OAuthError('invalid_client', 'client_assertion is missing');
    let header: ReturnType<typeof decodeProtectedHeader>;
    let claims: ReturnType<typeof decodeJwt>;
    try {
      header = decodeProtectedHeader(assertion);
      claims = decodeJwt(assertion);
    } catch {
      throw new OAuthError('invalid_client', 'client_assertion is not a JWT');
    }
    if (!header.alg || !ASSERTION_ALGS.includes(header.alg)) throw new OAuthError('invalid_client', 'client_assertion alg must be RS384 or ES384');
    if (!header.kid) throw new OAuthError('invalid_client', 'client_assertion header needs a kid');
    const clientId = claims.iss;
    if (!clientId || claims.sub !== clientId) throw new OAuthError('invalid_client', 'client_assertion iss and sub must both be the client_id');
    if (creds.clientId !== undefined && creds.clientId !== clientId) throw new OAuthError('invalid_client', 'client_id differs from the assertion issuer');
    const client = await this.#clients.get(clientId);
    if (!client || (client.type !== 'confidential-asymmetric' && client.type !== 'backend')) {
      throw new OAuthError('invalid_client', 'unknown client or not registered for private_key_jwt');
    }
    if (header.jku !== undefined && header.jku !== client.jwksUri) throw new OAuthError('invalid_client', 'jku is not the registered JWKS URL');
    const keys = this.#keySet(client);
    if (!keys) throw new OAuthError('invalid_client', 'the client has no registered keys');
    let exp: number;
    try {
      const verified = await jwtVerify(assertion, keys, {
        issuer: clientId,
        subject: clientId,
        audience: this.#tokenUrl,
        algorithms: ASSERTION_ALGS,
        clockTolerance: CLOCK_SKEW,
        requiredClaims: ['exp', 'jti'],
      });
      exp = verified.payload.exp!;
    } catch (error) {
      // Our own words about the JWKS URL; jose's only about the assertion the client sent.
      if (error instanceof OAuthError) throw error;
      throw new OAuthError('invalid_client', `client_assertion rejected: ${(error as Error).message}`);
    }
    const now = Math.floor(Date.now() / 1000);
    if (exp - now > MAX_ASSERTION_LIFETIME + CLOCK_SKEW) throw new OAuthError('invalid_client', 'client_assertion exp is more than 5 minutes ahead');
    if (typeof claims.jti !== 'string' || claims.jti.length === 0) throw new OAuthError('invalid_client', 'client_assertion needs a jti');
    if (!(await this.#store.rememberJti(clientId, claims.jti, exp - now + CLOCK_SKEW))) {
      throw new OAuthError('invalid_client', 'client_assertion jti was already used');
    }
    return client;
  }

  #keySet(client: SmartClient): JWTVerifyGetKey | undefined {
    const local = client.jwks ? createLocalJWKSet(client.jwks) : undefined;
    const remote = client.jwksUri ? this.#remoteJwks.keySet(client.jwksUri) : undefined;
    if (local && remote) {
      const r = remote;
      return async (header, token) => {
        try {
          return await local(header, token);
        } catch {
          return r(header, token);
        }
      };
    }
    return local ?? remote;
  }
}

function parseBasic(header: string | undefined): { id: string; secret: string } | undefined {
  if (!header || !/^basic /i.test(header)) return undefined;
  const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) throw new OAuthError('invalid_client', 'malformed Basic credentials');
  // RFC 6749 §2.3.1: both parts are form-urlencoded before Base64.
  const unescape = (s: string): string => decodeURIComponent(s.replace(/\+/g, ' '));
  try {
    return { id: unescape(decoded.slice(0, colon)), secret: unescape(decoded.slice(colon + 1)) };
  } catch {
    throw new OAuthError('invalid_client', 'malformed Basic credentials');
  }
}
