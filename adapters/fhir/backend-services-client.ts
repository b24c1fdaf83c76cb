/**
 * SMART Backend Services client (client_credentials with a signed JWT assertion, RFC 7523) for
 * calling an upstream EHR or a peer MedRec node as this node. The access token is cached until
 * shortly before it expires; concurrent requests that find no valid token share ONE token request.
 */
import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import type { Dispatcher } from 'undici';
import type { NodeSigningKey } from './node-keys.ts';
import type { UpstreamAuth } from './upstream-auth.ts';

export interface BackendServicesOptions {
  readonly sourceId: string;
  readonly clientId: string;
  /** Token endpoint; when absent it is read from `{fhirBase}/.well-known/smart-configuration`. */
  readonly tokenUrl?: string;
  readonly fhirBaseUrl: string;
  readonly scope: string;
  readonly key: NodeSigningKey;
  /** Registered JWKS URL, sent as the `jku` header (Epic accepts it; SMART servers SHALL match it). */
  readonly jku?: string;
  readonly dispatcher: Dispatcher;
  readonly timeoutMs: number;
  /** Refresh this long before `expires_in` runs out (default: 60 s, at most a tenth of the lifetime). */
  readonly refreshBeforeMs?: number;
  readonly now?: () => number;
}

interface CachedToken {
  readonly header: string;
  readonly refreshAt: number;
  readonly expiresAt: number;
}

export class BackendServicesError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BackendServicesError';
  }
}

export class BackendServicesClient implements UpstreamAuth {
  #options: BackendServicesOptions;
  #now: () => number;
  #token: CachedToken | undefined;
  #pending: Promise<CachedToken> | undefined;
  #tokenUrl: string | undefined;
  /** Token requests sent so far (exposed for health detail and tests). */
  tokenRequests = 0;

  constructor(options: BackendServicesOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#tokenUrl = options.tokenUrl;
  }

  async authorization(signal: AbortSignal): Promise<string> {
    const cached = this.#token;
    if (cached && this.#now() < cached.refreshAt) return cached.header;
    // One token request in flight for every caller; a caller's abort must not cancel it for others.
    this.#pending ??= this.#fetchToken().finally(() => {
      this.#pending = undefined;
    });
    try {
      const token = await raceAbort(this.#pending, signal);
      return token.header;
    } catch (error) {
      // A failed early refresh is no reason to stop using a token that is still valid.
      if (!signal.aborted && cached && this.#token === cached && this.#now() < cached.expiresAt - 5_000) return cached.header;
      throw error;
    }
  }

  rejected(authorization: string | undefined): boolean {
    if (authorization === undefined) return true;
    // Only the first 401 for a token drops it; requests sent with an older token just retry.
    if (this.#token?.header === authorization) this.#token = undefined;
    return true;
  }

  async #fetchToken(): Promise<CachedToken> {
    const options = this.#options;
    const tokenUrl = this.#tokenUrl ?? (this.#tokenUrl = await this.#discoverTokenUrl());
    const nowSeconds = Math.floor(this.#now() / 1000);
    const header: { alg: string; kid: string; typ: string; jku?: string } = { alg: options.key.alg, kid: options.key.kid, typ: 'JWT' };
    if (options.jku) header.jku = options.jku;
    const assertion = await new SignJWT({})
      .setProtectedHeader(header)
      .setIssuer(options.clientId)
      .setSubject(options.clientId)
      .setAudience(tokenUrl)
      .setJti(randomUUID())
      .setIssuedAt(nowSeconds)
      .setExpirationTime(nowSeconds + 240)
      .sign(options.key.privateKey);
    const form = new URLSearchParams({
      grant_type: 'client_credentials',
      scope: options.scope,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
    });
    this.tokenRequests += 1;
    const sentAt = this.#now();
    const { status, body } = await this.#request(tokenUrl, 'POST', form.toString());
    if (status !== 200) {
      const error = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
      const code = typeof error.error === 'string' ? error.error : `HTTP ${status}`;
      const description = typeof error.error_description === 'string' ? `: ${error.error_description.slice(0, 200)}` : '';
      throw new BackendServicesError(`token endpoint refused the client assertion (${code}${description})`);
    }
    const token = body as Record<string, unknown>;
    if (typeof token.access_token !== 'string' || token.access_token === '' || !/^bearer$/i.test(String(token.token_type))) {
      throw new BackendServicesError('token endpoint answered without a bearer access_token');
    }
    const lifetimeMs = (typeof token.expires_in === 'number' && token.expires_in > 0 ? token.expires_in : 300) * 1000;
    const before = Math.min(options.refreshBeforeMs ?? 60_000, lifetimeMs / 10);
    const cached = { header: `Bearer ${token.access_token}`, refreshAt: sentAt + lifetimeMs - before, expiresAt: sentAt + lifetimeMs };
    this.#token = cached;
    return cached;
  }

  async #discoverTokenUrl(): Promise<string> {
    const url = new URL('.well-known/smart-configuration', withSlash(this.#options.fhirBaseUrl)).href;
    const { status, body } = await this.#request(url, 'GET');
    const endpoint = status === 200 && typeof body === 'object' && body !== null ? (body as Record<string, unknown>).token_endpoint : undefined;
    if (typeof endpoint !== 'string') throw new BackendServicesError(`no token_endpoint in ${url} (HTTP ${status})`);
    return endpoint;
  }

  async #request(url: string, method: 'GET' | 'POST', form?: string): Promise<{ status: number; body: unknown }> {
    const target = new URL(url);
    const response = await this.#options.dispatcher.request({
      origin: target.origin,
      path: target.pathname + target.search,
      method,
      headers: form
        ? { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' }
        : { accept: 'application/json' },
      body: form,
      signal: AbortSignal.timeout(this.#options.timeoutMs),
      headersTimeout: this.#options.timeoutMs,
      bodyTimeout: this.#options.timeoutMs,
    }).catch((cause: unknown) => {
      throw new BackendServicesError(`token request to ${target.origin} failed: ${(cause as Error).message}`, { cause });
    });
    const text = await response.body.text();
    try {
      return { status: response.statusCode, body: text ? JSON.parse(text) : undefined };
    } catch {
      return { status: response.statusCode, body: undefined };
    }
  }
}

function withSlash(url: string): string {
  return url.endsWith('/') ? url : `${url}/`;
}

function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => { signal.removeEventListener('abort', onAbort); resolve(value); },
      (error: unknown) => { signal.removeEventListener('abort', onAbort); reject(error); },
    );
  });
}
