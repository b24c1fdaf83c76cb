/**
 * Our search, as the upstream accepts it: filters in FHIR query syntax, the patient restriction
 * through the parameter the upstream supports for that type, paging and sorting parameters, and
 * the source's required parameters (Epic's Observation needs `code` or `category`).
 *
 * Paging: the upstream's own `next` link (plus how many entries of that page we already handed
 * out, for upstreams that send more than `_count`) travels inside our opaque `page` token, which
 * the server seals before any client sees it. Tokens hold URLs relative to the source's base and
 * are refused if they resolve anywhere else.
 */
import { formatSearchQuery, OperationOutcomeError, badRequest } from '@medplum/core';
import type { ResourceType } from '@medplum/fhirtypes';
import type { SourceQuery } from '../ehr-adapter.ts';
import type { SortKey } from '../embedded/sort-rules.ts';
import type { UpstreamResourcePlan } from './capability-discovery.ts';

/** When a search of `resourceType` has none of `unlessAnyOf`, the `add` parameters are sent. */
export interface RequiredParamRule {
  readonly resourceType: string;
  readonly unlessAnyOf: readonly string[];
  readonly add: Readonly<Record<string, string>>;
}

export function buildSearchUrl(baseUrl: string, query: SourceQuery, plan: UpstreamResourcePlan, rules: readonly RequiredParamRule[]): URL {
  const url = new URL(query.resourceType, baseUrl);
  const formatted = formatSearchQuery({ resourceType: query.resourceType as ResourceType, filters: [...query.filters] });
  url.search = formatted.startsWith('?') ? formatted.slice(1) : formatted;
  const params = url.searchParams;
  if (query.patients) {
    if (!plan.patientParam) throw new Error(`${query.resourceType} is not in the patient compartment; it cannot be searched per patient`);
    const ids = plan.patientParam === '_id' ? query.patients : query.patients.map((id) => `Patient/${id}`);
    params.append(plan.patientParam, ids.join(','));
  }
  for (const rule of rules) {
    if (rule.resourceType !== query.resourceType) continue;
    const present = query.filters.some((f) => rule.unlessAnyOf.includes(f.code));
    if (!present) for (const [name, value] of Object.entries(rule.add)) params.append(name, value);
  }
  if (query.sort && query.sort.length > 0) {
    params.set('_sort', query.sort.map((rule) => `${rule.descending ? '-' : ''}${rule.code}`).join(','));
  }
  params.set('_count', String(query.count));
  // An exact count costs the upstream a second query: asked for only when the client asked.
  if (query.total && query.accurateTotal) params.set('_total', 'accurate');
  return url;
}

export interface PagePosition {
  /** Upstream URL, relative to the source's base. */
  readonly url: URL;
  /** Entries of that upstream page already returned. */
  readonly skip: number;
  /** Sorted searches: the sort key of the previous upstream page's last entry, to check the next page continues the order. */
  readonly after?: SortKey;
}

export function encodePageToken(baseUrl: string, position: PagePosition): string {
  const relative = position.url.href.slice(baseUrl.length);
  return Buffer.from(JSON.stringify({ u: relative, s: position.skip, ...(position.after ? { k: position.after } : {}) }), 'utf8').toString('base64url');
}

export function decodePageToken(baseUrl: string, token: string): PagePosition {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw invalidPage();
  }
  const { u, s, k } = (parsed ?? {}) as { u?: unknown; s?: unknown; k?: unknown };
  if (typeof u !== 'string' || typeof s !== 'number' || !Number.isSafeInteger(s) || s < 0) throw invalidPage();
  if (k !== undefined && !(Array.isArray(k) && k.every((v) => v === null || typeof v === 'string' || typeof v === 'number'))) throw invalidPage();
  const url = new URL(u, baseUrl);
  if (!url.href.startsWith(baseUrl) || /^[a-z][a-z0-9+.-]*:|^\/\//i.test(u)) throw invalidPage();
  return { url, skip: s, ...(k ? { after: k as SortKey } : {}) };
}

/**
 * The upstream's `next` link as a URL under the source's base. Servers behind proxies often
 * announce links with their internal origin (HAPI's `serverAddress`); a link whose path lies under
 * the base path is taken onto our configured base. Anything else is refused.
 */
export function rebaseNextLink(baseUrl: string, link: string): URL | undefined {
  let url: URL;
  try {
    url = new URL(link, baseUrl);
  } catch {
    return undefined;
  }
  if (url.href.startsWith(baseUrl)) return url;
  const base = new URL(baseUrl);
  if ((url.protocol === 'http:' || url.protocol === 'https:') && url.pathname.startsWith(base.pathname)) {
    const rebased = new URL(url.pathname.slice(base.pathname.length) + url.search, baseUrl);
    return rebased.href.startsWith(baseUrl) ? rebased : undefined;
  }
  return undefined;
}

function invalidPage(): OperationOutcomeError {
  return new OperationOutcomeError(badRequest('Invalid or expired page position'));
}
