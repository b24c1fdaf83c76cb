/**
 * Clients' JWKS URLs (client-confidential-asymmetric and Backend Services): fetched without
 * credentials, https only (http on a loopback host for local tools), no redirects. A set is cached
 * as long as its response's Cache-Control allows and never longer (`no-store`/`no-cache`: not at
 * all; none given: 5 minutes; at most a day), and fetched again once when an assertion names a
 * kid the cached set lacks (the client rotated its keys); such refetches happen at most every 5 s
 * per URL. Failures are told in our own words: the URL may come from the chain, and what
 * fetching it revealed (addresses, connection errors) is not ours to repeat.
 */
import { createLocalJWKSet, errors, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import { OAuthError } from './oauth-error.ts';

const DEFAULT_TTL_MS = 300_000;
const MAX_TTL_MS = 86_400_000;
const ROTATION_REFETCH_MS = 5_000;
const FETCH_TIMEOUT_MS = 5_000;
const MAX_BYTES = 128 * 1024;
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** Whether a JWKS URL may be fetched: https, or http on a loopback host. */
export function jwksUrlAllowed(url: string): boolean {
  if (!URL.canParse(url)) return false;
  const parsed = new URL(url);
  return parsed.protocol === 'https:' || (parsed.protocol === 'http:' && LOOPBACK.has(parsed.hostname));
}

/** How long a response may be reused, from its Cache-Control (and Age). */
export function cacheLifetimeMs(cacheControl: string | null, age: string | null): number {
  if (!cacheControl) return DEFAULT_TTL_MS;
  const directives = cacheControl.toLowerCase().split(',').map((d) => d.trim());
  if (directives.includes('no-store') || directives.includes('no-cache')) return 0;
  const maxAge = directives.map((d) => /^max-age=(\d+)$/.exec(d)?.[1]).find((v) => v !== undefined);
  if (maxAge === undefined) return DEFAULT_TTL_MS;
  const seconds = Number(maxAge) - (Number(age) || 0);
  return Math.min(Math.max(0, seconds) * 1000, MAX_TTL_MS);
}

interface Entry {
  readonly keys: JWTVerifyGetKey;
  readonly expires: number;
}

export class ClientJwksCache {
  readonly #entries = new Map<string, Entry>();
  readonly #inFlight = new Map<string, Promise<Entry>>();
  /** When each URL was last fetched again for an unknown kid. */
  readonly #rotationFetches = new Map<string, number>();

  /** A key resolver for `jwtVerify` over the set at `url`. */
  keySet(url: string): JWTVerifyGetKey {
    return async (header, token) => {
      if (!jwksUrlAllowed(url)) throw new OAuthError('invalid_client', 'the client’s registered JWKS URL must be https (http only on a loopback host)');
      const cached = this.#entries.get(url);
      const entry = cached && cached.expires > Date.now() ? cached : await this.#fetch(url);
      try {
        return await entry.keys(header, token);
      } catch (error) {
        const fetchedNow = entry !== cached;
        const last = this.#rotationFetches.get(url) ?? 0;
        if (!(error instanceof errors.JWKSNoMatchingKey) || fetchedNow || Date.now() - last < ROTATION_REFETCH_MS) throw error;
        this.#rotationFetches.set(url, Date.now());
        return (await this.#fetch(url)).keys(header, token);
      }
    };
  }

  #fetch(url: string): Promise<Entry> {
    let pending = this.#inFlight.get(url);
    if (!pending) {
      pending = this.#load(url).finally(() => this.#inFlight.delete(url));
      this.#inFlight.set(url, pending);
    }
    return pending;
  }

  async #load(url: string): Promise<Entry> {
    const unavailable = () => new OAuthError('invalid_client', 'the client’s JWKS could not be fetched from its registered URL');
    let jwks: JSONWebKeySet;
    let res: Response;
    try {
      res = await fetch(url, { redirect: 'error', headers: { accept: 'application/json' }, signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
      if (!res.ok || Number(res.headers.get('content-length') ?? 0) > MAX_BYTES) throw unavailable();
      const text = await res.text();
      if (text.length > MAX_BYTES) throw unavailable();
      jwks = JSON.parse(text) as JSONWebKeySet;
    } catch {
      throw unavailable();
    }
    let keys: JWTVerifyGetKey;
    try {
      keys = createLocalJWKSet(jwks);
    } catch {
      throw new OAuthError('invalid_client', 'the client’s registered JWKS URL does not serve a JSON Web Key Set');
    }
    const entry: Entry = { keys, expires: Date.now() + cacheLifetimeMs(res.headers.get('cache-control'), res.headers.get('age')) };
    if (this.#entries.size >= 1000) this.#entries.clear();
    this.#entries.set(url, entry);
    return entry;
  }
}
