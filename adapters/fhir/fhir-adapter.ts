/**
 * The upstream FHIR adapter: any R4 server (Epic, OpenMRS FHIR2, HAPI, another MedRec node) as a
 * MedRec source. It discovers what the upstream answers from `/metadata`, sends our searches in
 * the form it accepts, follows its paging inside our opaque page tokens, and checks what comes
 * back: Bundle shape, resource types, and that every resource lies in the requested patients'
 * compartment.
 */
import { isOperationOutcome } from '@medplum/core';
import type { Bundle, BundleEntry, Resource } from '@medplum/fhirtypes';
import { Agent } from 'undici';
import { SourceCannotEvaluateError, SourceUnavailableError, type EhrAdapter, type SourceCapabilities, type SourceHealth, type SourcePage, type SourceQuery } from '../ehr-adapter.ts';
import type { SortRule } from '@medplum/core';
import { compareBySortRules, compareSortKeys, sortKeyOf, type SortKey } from '../embedded/sort-rules.ts';
import type { AdapterContext, AdapterFactory, SourceConfig } from '../source-config.ts';
import { BackendServicesClient } from './backend-services-client.ts';
import { discoverCapabilities, type DiscoveredCapabilities } from './capability-discovery.ts';
import { CircuitBreaker } from './circuit-breaker.ts';
import { resolveFhirSource, withSlash, type ResolvedFhirSource } from './fhir-source-options.ts';
import { loadNodeKey, type NodeSigningKey } from './node-keys.ts';
import { patientCompartmentTest } from './patient-compartment.ts';
import { TokenBucket } from './rate-limiter.ts';
import { buildSearchUrl, decodePageToken, encodePageToken, rebaseNextLink, type PagePosition } from './search-translation.ts';
import { basicAuth, noAuth, staticBearerAuth, type UpstreamAuth } from './upstream-auth.ts';
import { UpstreamHttpClient } from './upstream-http-client.ts';

/** Host-provided pieces the plain `AdapterContext` does not carry. */
export interface FhirAdapterDependencies {
  /**
   * FHIR base URL of a provider's node, from the provider registry on chain; needed by
   * `medrec-peer` sources configured without `baseUrl`.
   */
  readonly resolvePeerBaseUrl?: (provider: string, signal: AbortSignal) => Promise<string>;
  /** The node's Backend Services key; loaded from `MEDREC_NODE_KEY_FILE` or the data dir otherwise (the key the node JWKS publishes). */
  readonly nodeKey?: NodeSigningKey;
}

const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;
/** How many consecutive upstream pages with nothing usable are crossed in one search call. */
const MAX_EMPTY_HOPS = 4;

export class FhirUpstreamAdapter implements EhrAdapter {
  readonly sourceId: string;
  readonly baseUrl: string;
  readonly breaker: CircuitBreaker;
  readonly http: UpstreamHttpClient;
  readonly #source: ResolvedFhirSource;
  readonly #context: AdapterContext;
  readonly #agent: Agent;
  readonly #limiter: TokenBucket | undefined;
  readonly #auth: UpstreamAuth;
  #discovered: DiscoveredCapabilities | undefined;
  #discoveryError: string | undefined = 'not yet discovered';
  #discoveryTimer: NodeJS.Timeout | undefined;
  #discovering: Promise<void> | undefined;
  #closed = new AbortController();

  constructor(config: SourceConfig, source: ResolvedFhirSource, baseUrl: string, context: AdapterContext, nodeKey: NodeSigningKey | undefined) {
    this.sourceId = config.id;
    this.baseUrl = withSlash(baseUrl);
    this.#source = source;
    this.#context = context;
    this.#agent = new Agent({ connections: source.connections, keepAliveTimeout: 30_000, keepAliveMaxTimeout: 600_000, pipelining: 1 });
    this.breaker = new CircuitBreaker(source.breaker);
    this.breaker.onTransition(({ from, to }) => context.log.warn({ source: this.sourceId, from, to }, 'upstream FHIR circuit breaker changed state'));
    this.#limiter = source.rateLimit ? new TokenBucket(source.rateLimit) : undefined;
    this.#auth = this.#makeAuth(nodeKey);
    this.http = new UpstreamHttpClient({
      sourceId: this.sourceId,
      baseUrl: this.baseUrl,
      auth: this.#auth,
      dispatcher: this.#agent,
      breaker: this.breaker,
      limiter: this.#limiter,
      timeoutMs: source.timeoutMs,
      maxAttempts: source.maxAttempts,
      retryBaseMs: source.retryBaseMs,
      retryMaxMs: source.retryMaxMs,
      maxResponseBytes: source.maxResponseBytes,
      headers: source.headers,
    });
  }

  /** The Backend Services client when the source uses it (token cache inspection in health/tests). */
  get backendServices(): BackendServicesClient | undefined {
    return this.#auth instanceof BackendServicesClient ? this.#auth : undefined;
  }

  /**
   * What the upstream answers, from its last successful `/metadata`. Until discovery succeeds
   * this is empty, so the planner sends nothing here (and health says why).
   */
  capabilities(): SourceCapabilities {
    return this.#discovered?.capabilities ?? { resources: {} };
  }

  /** Reads `/metadata`; on failure keeps the previous answer and tries again later. */
  discover(): Promise<void> {
    this.#discovering ??= this.#discover().finally(() => {
      this.#discovering = undefined;
    });
    return this.#discovering;
  }

  async #discover(): Promise<void> {
    clearTimeout(this.#discoveryTimer);
    try {
      const { status, body } = await this.http.get(new URL('metadata', this.baseUrl), this.#closed.signal);
      if (status !== 200) throw new Error(`metadata answered HTTP ${status}`);
      this.#discovered = discoverCapabilities(body, this.#source.resourceTypes);
      this.#discoveryError = undefined;
      this.#context.log.info({ source: this.sourceId, types: Object.keys(this.#discovered.capabilities.resources).length, software: this.#discovered.software }, 'upstream FHIR capabilities discovered');
      this.#scheduleDiscovery(this.#source.capabilitiesRefreshMs);
    } catch (error) {
      if (this.#closed.signal.aborted) return;
      // Keep the last good capabilities: a blip during a refresh must not empty the source.
      this.#discoveryError = (error as Error).message;
      this.#context.log.warn({ source: this.sourceId, err: this.#discoveryError }, 'upstream FHIR capability discovery failed; will retry');
      this.#scheduleDiscovery(this.#source.discoveryRetryMs);
    }
  }

  #scheduleDiscovery(delayMs: number): void {
    if (this.#closed.signal.aborted) return;
    this.#discoveryTimer = setTimeout(() => void this.discover(), Math.min(delayMs, 2 ** 31 - 1));
    this.#discoveryTimer.unref();
  }

  async read(resourceType: string, id: string, signal: AbortSignal): Promise<Resource | undefined> {
    if (!/^[A-Z][A-Za-z]{1,63}$/.test(resourceType) || !FHIR_ID.test(id)) return undefined;
    const { status, body } = await this.http.get(new URL(`${resourceType}/${id}`, this.baseUrl), signal);
    if (status === 404 || status === 410) return undefined;
    if (status !== 200) throw this.#unavailable(`read of ${resourceType} answered HTTP ${status}${outcomeSummary(body)}`);
    const resource = body as Resource | undefined;
    if (!resource || typeof resource !== 'object' || resource.resourceType !== resourceType) {
      throw this.#unavailable(`read of ${resourceType} answered ${describeBody(body)}`);
    }
    if (resource.id !== id) throw this.#unavailable(`read of ${resourceType} answered a resource with another id`);
    return resource;
  }

  async search(query: SourceQuery, signal: AbortSignal): Promise<SourcePage> {
    const plan = this.#discovered?.plans.get(query.resourceType);
    if (!plan) throw this.#unavailable(`upstream does not search ${query.resourceType}${this.#discoveryError ? ` (${this.#discoveryError})` : ''}`);
    let position: PagePosition = query.page
      ? decodePageToken(this.baseUrl, query.page)
      : { url: buildSearchUrl(this.baseUrl, query, plan, this.#source.requiredParams), skip: 0 };
    for (let hop = 0; ; hop++) {
      const { status, body } = await this.http.get(position.url, signal);
      if (status !== 200) {
        throw this.#unavailable(`search of ${query.resourceType} answered HTTP ${status}${outcomeSummary(body)}`);
      }
      const bundle = body as Bundle | undefined;
      if (!bundle || typeof bundle !== 'object' || bundle.resourceType !== 'Bundle' || (bundle.entry !== undefined && !Array.isArray(bundle.entry))) {
        throw this.#unavailable(`search of ${query.resourceType} answered ${describeBody(body)}`);
      }
      const matches = this.#acceptedMatches(bundle.entry ?? [], query);
      const sort = query.sort ?? [];
      // The merger interleaves sources by our comparator: an upstream that ignores `_sort` (many
      // do) or sorts otherwise would scramble the merged order across pages, so it is left out.
      if (sort.length > 0 && !inOrder(matches, position.after, sort)) {
        throw new SourceCannotEvaluateError(this.sourceId, `_sort=${sort.map((r) => `${r.descending ? '-' : ''}${r.code}`).join(',')}`);
      }
      const window = matches.slice(position.skip, position.skip + query.count);
      let next: PagePosition | undefined;
      if (position.skip + query.count < matches.length) {
        // The upstream sent more than we asked for: hand the rest out from the same upstream page.
        next = { ...position, skip: position.skip + query.count };
      } else {
        const link = bundle.link?.find((l) => l.relation === 'next')?.url;
        if (link) {
          const url = rebaseNextLink(this.baseUrl, link);
          if (!url) throw this.#unavailable(`search of ${query.resourceType} answered a next link outside the source's base URL`);
          const last = matches.at(-1);
          next = { url, skip: 0, ...(sort.length > 0 ? { after: last ? sortKeyOf(last, sort) : position.after } : {}) };
        }
      }
      if (window.length === 0 && next && hop < MAX_EMPTY_HOPS) {
        position = next;
        continue;
      }
      return {
        resources: window,
        total: query.total && typeof bundle.total === 'number' ? bundle.total : undefined,
        next: next ? encodePageToken(this.baseUrl, next) : undefined,
      };
    }
  }

  /**
   * The entries we pass on: search matches of the asked type with an id, inside the requested
   * patients' compartment. Included resources and OperationOutcome entries are dropped (we do not
   * declare includes), and so is anything else, with a count in the log.
   */
  #acceptedMatches(entries: readonly BundleEntry[], query: SourceQuery): Resource[] {
    const accepted: Resource[] = [];
    let wrongType = 0;
    let badId = 0;
    let outsideCompartment = 0;
    const inCompartment = query.patients ? patientCompartmentTest(query.patients, this.baseUrl) : undefined;
    for (const entry of entries) {
      const resource = entry?.resource;
      const mode = entry?.search?.mode;
      if (mode === 'include' || mode === 'outcome' || !resource || resource.resourceType === 'OperationOutcome') continue;
      if (resource.resourceType !== query.resourceType) {
        wrongType += 1;
        continue;
      }
      // Ids end up inside our own ids and references: only valid FHIR ids pass.
      if (typeof resource.id !== 'string' || !FHIR_ID.test(resource.id)) {
        badId += 1;
        continue;
      }
      if (inCompartment && !inCompartment(resource)) {
        outsideCompartment += 1;
        continue;
      }
      accepted.push(resource);
    }
    if (wrongType > 0 || badId > 0 || outsideCompartment > 0) {
      this.#context.log.warn({ source: this.sourceId, resourceType: query.resourceType, wrongType, badId, outsideCompartment }, 'upstream FHIR search returned entries that were dropped');
    }
    return accepted;
  }

  async health(signal: AbortSignal): Promise<SourceHealth> {
    const checkedAt = new Date().toISOString();
    if (this.breaker.state === 'open') {
      return { status: 'down', detail: `circuit open; next probe in ${Math.ceil(this.breaker.retryInMs / 1000)} s`, checkedAt };
    }
    try {
      const { status } = await this.http.get(new URL('metadata?_summary=true', this.baseUrl), signal);
      if (status !== 200) return { status: 'degraded', detail: `metadata answered HTTP ${status}`, checkedAt };
    } catch (error) {
      if (signal.aborted) throw error;
      return { status: 'down', detail: (error as Error).message, checkedAt };
    }
    if (!this.#discovered) {
      void this.discover();
      return { status: 'degraded', detail: `reachable, capabilities not discovered (${this.#discoveryError})`, checkedAt };
    }
    return { status: 'up', detail: this.#discovered.software, checkedAt: new Date().toISOString() };
  }

  async close(): Promise<void> {
    this.#closed.abort(new Error('adapter closed'));
    clearTimeout(this.#discoveryTimer);
    this.#limiter?.close();
    await this.#discovering?.catch(() => undefined);
    await this.#agent.close();
  }

  #makeAuth(nodeKey: NodeSigningKey | undefined): UpstreamAuth {
    const auth = this.#source.auth;
    switch (auth.type) {
      case 'none':
        return noAuth;
      case 'bearer':
        return staticBearerAuth(auth.token);
      case 'basic':
        return basicAuth(auth.username, auth.password);
      case 'backend-services':
        if (!nodeKey) throw new Error('backend-services auth without a node key');
        return new BackendServicesClient({
          sourceId: this.sourceId,
          clientId: auth.clientId,
          tokenUrl: auth.tokenUrl,
          fhirBaseUrl: this.baseUrl,
          scope: auth.scope,
          key: nodeKey,
          jku: auth.jwksUrl,
          dispatcher: this.#agent,
          timeoutMs: this.#source.timeoutMs,
        });
    }
  }

  #unavailable(message: string): SourceUnavailableError {
    return new SourceUnavailableError(this.sourceId, message);
  }
}

/** `kind: 'fhir'` factory with host dependencies (the chain's provider registry, a shared node key). */
export function createFhirAdapterFactory(dependencies: FhirAdapterDependencies = {}): AdapterFactory {
  return async (config, context) => {
    const source = resolveFhirSource(config, { nodeProvider: context.nodeProvider });
    let baseUrl = source.baseUrl;
    if (!baseUrl) {
      const resolvePeerBaseUrl = dependencies.resolvePeerBaseUrl ?? context.resolveProviderFhirBase;
      if (!resolvePeerBaseUrl || !source.peerProvider) {
        throw new Error(`source ${config.id} (fhir): the peer's base URL comes from the provider registry, but this process has no resolver for it`);
      }
      baseUrl = withSlash(await resolvePeerBaseUrl(source.peerProvider, AbortSignal.timeout(source.timeoutMs)));
    }
    let nodeKey: NodeSigningKey | undefined;
    if (source.auth.type === 'backend-services') {
      nodeKey = dependencies.nodeKey ?? (await loadNodeKey({ dataDir: context.dataDir }));
    }
    const adapter = new FhirUpstreamAdapter(config, source, baseUrl, context, nodeKey);
    // Discovery failing does not fail the node's start: the source stays empty and retries. A
    // hanging upstream holds the start for one timeout at most; discovery goes on behind it.
    const discovery = adapter.discover();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([discovery, new Promise<void>((resolve) => { timer = setTimeout(resolve, source.timeoutMs); })]);
    clearTimeout(timer);
    return adapter;
  };
}

/** The `fhir` adapter kind for `adapters/registry.ts`. */
export const createFhirAdapter: AdapterFactory = createFhirAdapterFactory();

/** Whether a page is in `_sort` order and continues the previous page's (`after`: its last key). */
function inOrder(matches: readonly Resource[], after: SortKey | undefined, sort: readonly SortRule[]): boolean {
  const first = matches[0];
  if (after && first && compareSortKeys(after, sortKeyOf(first, sort), sort) > 0) return false;
  for (let i = 1; i < matches.length; i++) if (compareBySortRules(matches[i - 1] as Resource, matches[i] as Resource, sort) > 0) return false;
  return true;
}

function describeBody(body: unknown): string {
  if (body === undefined) return 'an empty body';
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'JSON that is not a FHIR resource';
  const type = (body as { resourceType?: unknown }).resourceType;
  return typeof type === 'string' ? `a ${type.slice(0, 64)} instead` : 'JSON that is not a FHIR resource';
}

/** The upstream's issue codes only: diagnostics text may echo identifiers from the query. */
function outcomeSummary(body: unknown): string {
  if (!isOperationOutcome(body)) return '';
  const codes = [...new Set((body.issue ?? []).map((issue) => issue.code).filter(Boolean))].slice(0, 3);
  return codes.length > 0 ? ` (${codes.join(', ')})` : '';
}
