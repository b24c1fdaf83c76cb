/**
 * FHIR search evaluated over resources held in memory: filters with @medplum/core's
 * `matchesSearchRequest`, Patient-compartment confinement by local patient ids, `_sort`,
 * offset paging and totals. Free of any embedded-source concern so that other adapters
 * (the HL7v2 store, SQL result sets) can evaluate searches the same way.
 *
 * What @medplum/core cannot evaluate is not declared (quantity, composite and special
 * parameters), so the federation layer never sends it: see `supportedSearchParams`.
 */
import { getSearchParameters, matchesSearchRequest, OperationOutcomeError, badRequest } from '@medplum/core';
import type { SearchRequest } from '@medplum/core';
import type { Resource, SearchParameter } from '@medplum/fhirtypes';
import { loadFhirDefinitions } from '../fhir-definitions.ts';
import type { ResourceCapability, SourceCapabilities, SourcePage, SourceQuery } from '../ehr-adapter.ts';
import { compartmentPatients } from './patient-compartment.ts';
import { compareBySortRules } from './sort-rules.ts';

/** Parameter types matchesSearchRequest evaluates correctly (quantity and composite it does not). */
const EVALUATED_TYPES = new Set(['string', 'token', 'reference', 'date', 'uri', 'number']);
/** Generic parameters that are either meaningless here or unsupported by the matcher. */
const NOT_EVALUATED = new Set(['_compartment', '_profile', '_security', '_source', '_tag', '_text', '_content', '_list', '_has', '_query', '_filter']);

export function supportedSearchParams(resourceType: string): SearchParameter[] {
  loadFhirDefinitions();
  return Object.values(getSearchParameters(resourceType) ?? {}).filter(
    (p) => p.code !== undefined && EVALUATED_TYPES.has(p.type as string) && !NOT_EVALUATED.has(p.code),
  );
}

/** The capability a fully in-memory source offers for these resource types. */
export function inMemoryCapabilities(resourceTypes: Iterable<string>): SourceCapabilities {
  const types = [...new Set(resourceTypes)].sort();
  const resources: Record<string, ResourceCapability> = {};
  for (const type of types) {
    const params = supportedSearchParams(type);
    const includes = params
      .filter((p) => p.type === 'reference')
      .map((p) => `${type}:${p.code}`);
    const revIncludes: string[] = [];
    for (const other of types) {
      for (const p of supportedSearchParams(other)) {
        if (p.type === 'reference' && (!p.target || p.target.length === 0 || p.target.includes(type as never) || p.target.includes('Resource' as never))) {
          revIncludes.push(`${other}:${p.code}`);
        }
      }
    }
    resources[type] = { searchParams: params.map((p) => p.code as string).sort(), includes, revIncludes };
  }
  return { resources };
}

/** Page tokens are plain offsets: `o<number>`. They only ever travel inside the sealed cursor. */
function parsePageToken(page: string | undefined): number {
  if (page === undefined) return 0;
  const m = /^o(\d{1,9})$/.exec(page);
  if (!m) throw new OperationOutcomeError(badRequest('Invalid page position'));
  return Number(m[1]);
}

/** An immutable set of resources indexed by type, id and patient compartment. */
export class InMemoryResourceStore {
  readonly #byType = new Map<string, Resource[]>();
  readonly #byKey = new Map<string, Resource>();
  readonly #patients = new Map<Resource, ReadonlySet<string>>();

  constructor(resources: Iterable<Resource>) {
    for (const resource of resources) {
      if (!resource.id) continue;
      const list = this.#byType.get(resource.resourceType) ?? [];
      list.push(resource);
      this.#byType.set(resource.resourceType, list);
      this.#byKey.set(`${resource.resourceType}/${resource.id}`, resource);
      this.#patients.set(resource, new Set(compartmentPatients(resource)));
    }
  }

  resourceTypes(): string[] {
    return [...this.#byType.keys()];
  }

  get size(): number {
    return this.#byKey.size;
  }

  read(resourceType: string, id: string): Resource | undefined {
    return this.#byKey.get(`${resourceType}/${id}`);
  }

  search(query: SourceQuery): SourcePage {
    const offset = parsePageToken(query.page);
    const patients = query.patients ? new Set(query.patients) : undefined;
    const request = { resourceType: query.resourceType, filters: [...query.filters] } as SearchRequest;
    let matches = (this.#byType.get(query.resourceType) ?? []).filter((resource) => {
      if (patients) {
        const members = this.#patients.get(resource);
        if (!members || ![...members].some((p) => patients.has(p))) return false;
      }
      return query.filters.length === 0 || matchesSearchRequest(resource, request);
    });
    if (query.sort && query.sort.length > 0) {
      const rules = query.sort;
      // Array.prototype.sort is stable: equal keys keep file order, a deterministic default.
      matches = [...matches].sort((a, b) => compareBySortRules(a, b, rules));
    }
    const count = Math.max(0, query.count);
    const resources = matches.slice(offset, offset + count);
    const end = offset + resources.length;
    return {
      resources,
      total: matches.length,
      next: count > 0 && end < matches.length ? `o${end}` : undefined,
    };
  }
}
