/**
 * The HTTP client one upstream FHIR source gets: pooled keep-alive connections (undici), a timeout
 * per attempt, retries with exponential backoff and full jitter for idempotent requests on network
 * faults, timeouts and retryable statuses (429 honouring `Retry-After`, 502, 503, 504), a circuit
 * breaker and a rate limit per source, and one re-authentication after a 401.
 *
 * Error messages name the method and resource type only: query strings and ids can carry local
 * patient identifiers, which must not reach logs or warning entries.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Dispatcher } from 'undici';
import { SourceUnavailableError } from '../ehr-adapter.ts';
import type { CircuitBreaker } from './circuit-breaker.ts';
import type { TokenBucket } from './rate-limiter.ts';
import type { UpstreamAuth } from './upstream-auth.ts';

export interface UpstreamHttpOptions {
  readonly sourceId: string;
  /** FHIR base with a trailing slash; only URLs under it are requested. */
  readonly baseUrl: string;
  readonly auth: UpstreamAuth;
  readonly dispatcher: Dispatcher;
  readonly breaker: CircuitBreaker;
  readonly limiter?: TokenBucket;
  /** Per attempt: time to the response headers and between body chunks, and overall. */
  readonly timeoutMs: number;
  /** Attempts for an idempotent request (1 = no retry). */
  readonly maxAttempts: number;
  readonly retryBaseMs: number;
  /** Ceiling for a backoff delay and for an honoured `Retry-After`; a longer `Retry-After` fails the request. */
  readonly retryMaxMs: number;
  readonly maxResponseBytes: number;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface UpstreamResponse {
  readonly status: number;
  /** Parsed JSON body, or `undefined` for an empty body. */
  readonly body: unknown;
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);
const RETRYABLE_STATUS = new Set([429, 502, 503, 504]);

export class UpstreamHttpClient {
  readonly #o: UpstreamHttpOptions;
  /** Requests that went out on the wire (attempts, not logical requests). */
  attempts = 0;

  constructor(options: UpstreamHttpOptions) {
    this.#o = options;
  }

  /** GETs a URL under the source's base and parses its JSON body. Statuses other than 2xx/4xx throw. */
  async get(url: URL, signal: AbortSignal): Promise<UpstreamResponse> {
    return this.request('GET', url, signal);
  }

  async request(method: string, url: URL, signal: AbortSignal): Promise<UpstreamResponse> {
    const o = this.#o;
    if (!url.href.startsWith(o.baseUrl)) throw new Error(`refusing to send a request outside the source's base URL`);
    const what = `${method} ${describe(url, o.baseUrl)}`;
    const maxAttempts = IDEMPOTENT.has(method) ? o.maxAttempts : 1;
    let reauthenticated = false;
    let lastFault = 'no attempt made';
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      signal.throwIfAborted();
      if (o.limiter) await o.limiter.acquire(signal);
      if (!o.breaker.tryAcquire()) {
        throw this.#unavailable(`circuit open after repeated failures (${what}; next probe in ${Math.ceil(o.breaker.retryInMs / 1000)} s)`);
      }
      let authorization: string | undefined;
      try {
        authorization = await o.auth.authorization(signal);
      } catch (error) {
        if (signal.aborted) this.#abandoned(signal);
        // A failing token endpoint is a failing source: the breaker also spares the token endpoint.
        o.breaker.recordFailure();
        throw this.#unavailable(`authentication failed: ${(error as Error).message}`, error);
      }
      let response: Dispatcher.ResponseData;
      const attemptSignal = AbortSignal.any([signal, AbortSignal.timeout(o.timeoutMs)]);
      try {
        this.attempts += 1;
        response = await o.dispatcher.request({
          origin: url.origin,
          path: url.pathname + url.search,
          method,
          headers: {
            accept: 'application/fhir+json, application/json;q=0.9',
            ...o.headers,
            ...(authorization ? { authorization } : {}),
          },
          signal: attemptSignal,
          headersTimeout: o.timeoutMs,
          bodyTimeout: o.timeoutMs,
        });
      } catch (error) {
        if (signal.aborted) this.#abandoned(signal);
        o.breaker.recordFailure();
        lastFault = attemptSignal.aborted || isTimeout(error) ? `timed out after ${o.timeoutMs} ms` : `connection failed (${errorCode(error)})`;
        if (attempt < maxAttempts) await this.#backoff(attempt, undefined, signal);
        continue;
      }

      const status = response.statusCode;
      if (status === 401) {
        o.breaker.recordSuccess();
        await response.body.dump();
        if (!reauthenticated && o.auth.rejected(authorization)) {
          // A fresh token is not a retry of a fault: it does not use up an attempt.
          reauthenticated = true;
          attempt -= 1;
          continue;
        }
        throw this.#unavailable(`upstream refused our credentials (401 on ${what})`);
      }
      if (RETRYABLE_STATUS.has(status)) {
        const retryAfterMs = parseRetryAfter(response.headers['retry-after']);
        await response.body.dump();
        if (status === 429) o.breaker.release();
        else o.breaker.recordFailure();
        lastFault = `HTTP ${status}`;
        if (retryAfterMs !== undefined && retryAfterMs > o.retryMaxMs) {
          throw this.#unavailable(`upstream asked us to wait ${Math.ceil(retryAfterMs / 1000)} s (HTTP ${status} on ${what})`);
        }
        if (attempt < maxAttempts) await this.#backoff(attempt, retryAfterMs, signal);
        continue;
      }
      if (status >= 500) {
        o.breaker.recordFailure();
        await response.body.dump();
        throw this.#unavailable(`upstream failed (HTTP ${status} on ${what})`);
      }

      let text: string;
      try {
        text = await readLimited(response, o.maxResponseBytes);
      } catch (error) {
        if (signal.aborted) this.#abandoned(signal);
        o.breaker.recordFailure();
        if (error instanceof ResponseTooLarge) throw this.#unavailable(`response larger than ${o.maxResponseBytes} bytes (${what})`);
        lastFault = attemptSignal.aborted || isTimeout(error) ? `timed out reading the body after ${o.timeoutMs} ms` : `body read failed (${errorCode(error)})`;
        if (attempt < maxAttempts) await this.#backoff(attempt, undefined, signal);
        continue;
      }
      let body: unknown;
      try {
        body = text === '' ? undefined : JSON.parse(text);
      } catch {
        o.breaker.recordFailure();
        throw this.#unavailable(`upstream answered malformed JSON (HTTP ${status} on ${what})`);
      }
      o.breaker.recordSuccess();
      return { status, body };
    }
    throw this.#unavailable(`${what} failed after ${maxAttempts} attempt(s): ${lastFault}`);
  }

  /**
   * The caller's signal ended a call that went out. A missed deadline (a `TimeoutError`) is the
   * upstream's fault: it did not answer in time, and a hanging upstream must open the breaker.
   * Only a caller that went away (client disconnect, shutdown) leaves no verdict.
   */
  #abandoned(signal: AbortSignal): never {
    if (isTimeout(signal.reason)) this.#o.breaker.recordFailure();
    else this.#o.breaker.release();
    throw signal.reason;
  }

  async #backoff(attempt: number, retryAfterMs: number | undefined, signal: AbortSignal): Promise<void> {
    const o = this.#o;
    // Full jitter (uniform in [0, base·2^(n-1)], capped) spreads retries of many nodes apart;
    // a Retry-After is a floor the upstream asked for, with a little jitter on top.
    const exponential = Math.random() * Math.min(o.retryMaxMs, o.retryBaseMs * 2 ** (attempt - 1));
    const delay = retryAfterMs !== undefined ? retryAfterMs + Math.random() * o.retryBaseMs : exponential;
    await sleep(delay, undefined, { signal });
  }

  #unavailable(message: string, cause?: unknown): SourceUnavailableError {
    return new SourceUnavailableError(this.#o.sourceId, message, cause === undefined ? undefined : { cause });
  }
}

class ResponseTooLarge extends Error {}

async function readLimited(response: Dispatcher.ResponseData, maxBytes: number): Promise<string> {
  const declared = Number(response.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    response.body.destroy();
    throw new ResponseTooLarge();
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response.body) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) {
      response.body.destroy();
      throw new ResponseTooLarge();
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** `Retry-After` as milliseconds: delta-seconds or an HTTP-date (RFC 9110 §10.2.3). */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined || text.trim() === '') return undefined;
  if (/^\d+$/.test(text.trim())) return Number(text.trim()) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** `GET Observation` — the interaction and type, never ids or query values. */
function describe(url: URL, baseUrl: string): string {
  const rest = url.href.slice(baseUrl.length).split(/[/?#]/)[0];
  return rest === '' || rest === undefined ? 'base' : rest;
}

function isTimeout(error: unknown): boolean {
  const name = (error as Error | undefined)?.name;
  const code = (error as { code?: string } | undefined)?.code;
  return name === 'TimeoutError' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT';
}

function errorCode(error: unknown): string {
  const e = error as { code?: unknown; name?: unknown } | undefined;
  return typeof e?.code === 'string' ? e.code : typeof e?.name === 'string' ? e.name : 'error';
}
