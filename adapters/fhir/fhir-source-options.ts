/**
 * The `options` of a `kind: 'fhir'` source, checked and merged with its preset. Secrets may be
 * given by environment variable name (`passwordEnv`, `tokenEnv`) so sources files hold none.
 *
 *   { "id": "epic", "kind": "fhir", "provider": "0x…", "name": "General Hospital",
 *     "options": { "preset": "epic", "auth": { "clientId": "…", "jwksUrl": "https://node/.well-known/medrec-node-jwks.json" } } } *
 * A `medrec-peer` source's `provider` is the peer's provider: without `baseUrl` its base comes
 * from that provider's registry record, and it authenticates as this node's own provider
 * (`auth.clientId`, else the node provider the host knows from `MEDREC_PROVIDER_KEY`).
 */
import type { SourceConfig } from '../source-config.ts';
import { FHIR_PRESETS, isPresetName, type PresetName } from './presets.ts';
import type { RateLimitOptions } from './rate-limiter.ts';
import type { RequiredParamRule } from './search-translation.ts';

export type ResolvedAuth =
  | { readonly type: 'none' }
  | { readonly type: 'bearer'; readonly token: string }
  | { readonly type: 'basic'; readonly username: string; readonly password: string }
  | {
    readonly type: 'backend-services';
    readonly clientId: string;
    readonly tokenUrl?: string;
    readonly scope: string;
    /** Our JWKS URL, sent as `jku` when set. */
    readonly jwksUrl?: string;
  };

export interface ResolvedFhirSource {
  readonly preset: PresetName;
  /** Absent only for `medrec-peer` sources whose base comes from the provider registry. */
  readonly baseUrl?: string;
  /** `medrec-peer` without `baseUrl`: the provider whose registry record names the base. */
  readonly peerProvider?: string;
  readonly auth: ResolvedAuth;
  readonly resourceTypes?: ReadonlySet<string>;
  readonly requiredParams: readonly RequiredParamRule[];
  readonly headers: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  readonly maxAttempts: number;
  readonly retryBaseMs: number;
  readonly retryMaxMs: number;
  readonly connections: number;
  readonly maxResponseBytes: number;
  readonly breaker: { readonly failureThreshold: number; readonly openMs: number };
  /** The adapter's own token bucket; absent when the source's adapter queue enforces the limit. */
  readonly rateLimit?: RateLimitOptions;
  /** How long to wait before asking `/metadata` again after discovery failed. */
  readonly discoveryRetryMs: number;
  /** How often capabilities are read again after a success (upstreams add types and params). */
  readonly capabilitiesRefreshMs: number;
}

export class FhirSourceConfigError extends Error {
  constructor(sourceId: string, message: string) {
    super(`source ${sourceId} (fhir): ${message}`);
    this.name = 'FhirSourceConfigError';
  }
}

type Options = Readonly<Record<string, unknown>>;

export interface ResolveOptions {
  readonly env?: NodeJS.ProcessEnv;
  /** This node's own provider address: the client id a `medrec-peer` source presents by default. */
  readonly nodeProvider?: string;
}

export function resolveFhirSource(config: SourceConfig, options: ResolveOptions = {}): ResolvedFhirSource {
  const env = options.env ?? process.env;
  const fail = (message: string): never => {
    throw new FhirSourceConfigError(config.id, message);
  };
  const o = config.options;
  const presetName = o.preset ?? 'generic-r4';
  if (!isPresetName(presetName)) return fail(`unknown preset ${JSON.stringify(presetName)} (epic, openmrs-fhir2, generic-r4, medrec-peer)`);
  const preset = FHIR_PRESETS[presetName];

  let baseUrl = optionalString(o, 'baseUrl', fail) ?? preset.baseUrl;
  const serverUrl = optionalString(o, 'serverUrl', fail);
  if (!baseUrl && serverUrl && preset.basePath) baseUrl = new URL(preset.basePath.replace(/^\//, ''), withSlash(serverUrl)).href;
  if (baseUrl) baseUrl = httpUrl(baseUrl, 'baseUrl', fail);
  if (o.peerProvider !== undefined) fail('peerProvider is no longer read: set the source\'s provider to the peer\'s provider address');
  const isPeer = presetName === 'medrec-peer';
  const peerProvider = isPeer && !baseUrl ? config.provider : undefined;
  if (peerProvider !== undefined && !/^0x[0-9a-fA-F]{40}$/.test(peerProvider)) {
    fail('a medrec-peer source without baseUrl needs provider = the peer\'s provider address (its base URL comes from the provider registry)');
  }
  if (!isPeer && !baseUrl) fail(presetName === 'openmrs-fhir2' ? 'give serverUrl (e.g. http://openmrs:8080) or baseUrl' : 'baseUrl is required');

  const authOptions = (o.auth ?? {}) as Options;
  if (typeof authOptions !== 'object' || authOptions === null) fail('auth must be an object');
  const authType = (authOptions.type as string | undefined) ?? preset.authType;
  let auth: ResolvedAuth;
  switch (authType) {
    case 'none':
      auth = { type: 'none' };
      break;
    case 'bearer': {
      const token = secret(authOptions, 'token', env, fail);
      if (!token) fail('auth.token or auth.tokenEnv is required for bearer auth');
      auth = { type: 'bearer', token: token as string };
      break;
    }
    case 'basic': {
      const username = optionalString(authOptions, 'username', fail) ?? preset.username;
      const password = secret(authOptions, 'password', env, fail);
      if (!username || password === undefined) fail('auth.username and auth.password (or auth.passwordEnv) are required for basic auth');
      auth = { type: 'basic', username: username as string, password: password as string };
      break;
    }
    case 'backend-services': {
      const clientId = optionalString(authOptions, 'clientId', fail) ?? (isPeer ? options.nodeProvider : undefined);
      if (!clientId) {
        fail(isPeer
          ? 'auth.clientId is required: the provider address this node acts as at the peer (or set MEDREC_PROVIDER_KEY)'
          : 'auth.clientId is required for backend-services auth (the client id the upstream registered)');
      }
      // One key per node: what the node publishes in its JWKS is what every upstream verifies.
      if (authOptions.keyFile !== undefined || authOptions.alg !== undefined) {
        fail('auth.keyFile and auth.alg are not set per source: the node signs with its one Backend Services key (MEDREC_NODE_KEY_FILE; RSA gives RS384, P-384 gives ES384), published at /.well-known/medrec-node-jwks.json');
      }
      const tokenUrl = optionalString(authOptions, 'tokenUrl', fail) ?? (baseUrl === preset.baseUrl ? preset.tokenUrl : undefined);
      const jwksUrl = optionalString(authOptions, 'jwksUrl', fail);
      auth = {
        type: 'backend-services',
        clientId: clientId as string,
        tokenUrl: tokenUrl ? httpUrl(tokenUrl, 'auth.tokenUrl', fail) : undefined,
        scope: optionalString(authOptions, 'scope', fail) ?? preset.scope ?? 'system/*.read',
        jwksUrl: jwksUrl ? httpUrl(jwksUrl, 'auth.jwksUrl', fail) : undefined,
      };
      break;
    }
    default:
      return fail(`unknown auth.type ${JSON.stringify(authType)} (none, bearer, basic, backend-services)`);
  }

  const resourceTypes = o.resourceTypes;
  if (resourceTypes !== undefined && (!Array.isArray(resourceTypes) || !resourceTypes.every((t) => typeof t === 'string'))) {
    fail('resourceTypes must be an array of FHIR resource type names');
  }
  const extraRules = (o.requiredParams ?? []) as RequiredParamRule[];
  if (!Array.isArray(extraRules) || !extraRules.every(isRule)) fail('requiredParams must be [{ resourceType, unlessAnyOf: [..], add: { param: value } }]');
  const headers = (o.headers ?? {}) as Record<string, string>;
  if (typeof headers !== 'object' || !Object.values(headers).every((v) => typeof v === 'string')) fail('headers must map names to strings');
  const breaker = (o.breaker ?? {}) as Options;
  const rateLimit = rateLimitOption(o.rateLimit, config.via === 'queue', fail);

  return {
    preset: presetName,
    baseUrl,
    peerProvider,
    auth,
    resourceTypes: resourceTypes ? new Set(resourceTypes as string[]) : undefined,
    requiredParams: [...preset.requiredParams, ...extraRules],
    // Epic answers `/metadata` with the endpoints registered for this client when it names itself.
    headers: { ...preset.headers, ...(presetName === 'epic' && auth.type === 'backend-services' ? { 'Epic-Client-ID': auth.clientId } : {}), ...headers },
    timeoutMs: positive(o, 'timeoutMs', 10_000, fail),
    maxAttempts: positive(o, 'maxAttempts', 3, fail),
    retryBaseMs: positive(o, 'retryBaseMs', 200, fail),
    retryMaxMs: positive(o, 'retryMaxMs', 5_000, fail),
    connections: positive(o, 'connections', 16, fail),
    maxResponseBytes: positive(o, 'maxResponseBytes', 32 * 1024 * 1024, fail),
    breaker: { failureThreshold: positive(breaker, 'failureThreshold', 5, fail), openMs: positive(breaker, 'openMs', 30_000, fail) },
    rateLimit,
    discoveryRetryMs: positive(o, 'discoveryRetryMs', 30_000, fail),
    capabilitiesRefreshMs: positive(o, 'capabilitiesRefreshMs', 6 * 3600_000, fail),
  };
}

export function withSlash(url: string): string {
  return url.endsWith('/') ? url : `${url}/`;
}

/**
 * `rateLimit: { perSecond, burst?, enforcedBy? }`. `enforcedBy: "inline"` (the default) is the
 * adapter's own token bucket. `enforcedBy: "queue"` is the BullMQ limiter of the source's adapter
 * queue (adapters/queue/queue-rate-limit.ts), shared by all its workers: only for a `via: "queue"`
 * source (elsewhere nothing would enforce it), and the bucket then stays off.
 */
function rateLimitOption(value: unknown, viaQueue: boolean, fail: (m: string) => never): RateLimitOptions | undefined {
  if (value === undefined) return undefined;
  const usage = 'rateLimit must be { perSecond: number > 0, burst?: whole number >= 1, enforcedBy?: "inline" | "queue" }';
  if (typeof value !== 'object' || value === null) return fail(usage);
  const { perSecond, burst, enforcedBy, ...rest } = value as Record<string, unknown>;
  if (enforcedBy !== undefined && enforcedBy !== 'inline' && enforcedBy !== 'queue') return fail('rateLimit.enforcedBy must be "inline" or "queue" (or left out)');
  if (enforcedBy === 'queue' && !viaQueue) return fail('rateLimit.enforcedBy "queue" needs the source to run through its adapter queue ("via": "queue"); leave enforcedBy out to limit inline');
  if (typeof perSecond !== 'number' || !(perSecond > 0)) return fail(usage);
  if (burst !== undefined && !(typeof burst === 'number' && Number.isInteger(burst) && burst >= 1)) return fail(usage);
  if (Object.keys(rest).length > 0) return fail(`${usage}; unknown ${Object.keys(rest).join(', ')}`);
  if (enforcedBy === 'queue') return undefined;
  return { perSecond, ...(burst !== undefined ? { burst } : {}) };
}

function isRule(value: unknown): value is RequiredParamRule {
  const rule = value as RequiredParamRule;
  return typeof rule === 'object' && rule !== null && typeof rule.resourceType === 'string' && Array.isArray(rule.unlessAnyOf)
    && typeof rule.add === 'object' && rule.add !== null && Object.values(rule.add).every((v) => typeof v === 'string');
}

function optionalString(o: Options, key: string, fail: (m: string) => never): string | undefined {
  const value = o[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') return fail(`${key} must be a non-empty string`);
  return value;
}

function secret(o: Options, key: string, env: NodeJS.ProcessEnv, fail: (m: string) => never): string | undefined {
  const direct = o[key];
  if (typeof direct === 'string') return direct;
  const name = o[`${key}Env`];
  if (name === undefined) return undefined;
  if (typeof name !== 'string') return fail(`auth.${key}Env must name an environment variable`);
  const value = env[name];
  if (value === undefined) return fail(`environment variable ${name} (auth.${key}Env) is not set`);
  return value;
}

function positive(o: Options, key: string, fallback: number, fail: (m: string) => never): number {
  const value = o[key];
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value > 0)) return fail(`${key} must be a positive number`);
  return value;
}

function httpUrl(value: string, key: string, fail: (m: string) => never): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return fail(`${key} is not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') fail(`${key} must be http(s)`);
  if (url.search || url.hash) fail(`${key} must not carry a query or fragment`);
  return key === 'baseUrl' ? withSlash(url.href) : url.href;
}
