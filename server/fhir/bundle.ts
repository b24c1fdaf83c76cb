/** Searchset Bundles: entries with fullUrl and search mode, total, and RFC 5005 paging links. */
import type { Bundle, BundleEntry, BundleLink, OperationOutcome, Resource } from '@medplum/fhirtypes';

export interface SearchsetEntry {
  readonly resource: Resource;
  readonly mode: 'match' | 'include' | 'outcome';
}

export interface SearchsetInput {
  /** Absolute FHIR base, e.g. `http://localhost:8080/fhir`. */
  readonly base: string;
  readonly self: string;
  readonly next?: string;
  readonly previous?: string;
  readonly total?: number;
  readonly entries: readonly SearchsetEntry[];
  readonly outcome?: OperationOutcome;
}

export function buildSearchset(input: SearchsetInput): Bundle {
  const link: BundleLink[] = [{ relation: 'self', url: input.self }];
  if (input.next) link.push({ relation: 'next', url: input.next });
  if (input.previous) link.push({ relation: 'previous', url: input.previous });
  const entry: BundleEntry[] = input.entries.map(({ resource, mode }) => ({
    fullUrl: `${input.base}/${resource.resourceType}/${resource.id}`,
    resource,
    search: { mode },
  }));
  if (input.outcome && (input.outcome.issue?.length ?? 0) > 0) {
    entry.push({ resource: input.outcome, search: { mode: 'outcome' } });
  }
  const bundle: Bundle = { resourceType: 'Bundle', type: 'searchset', link };
  if (input.total !== undefined) bundle.total = input.total;
  if (entry.length > 0) bundle.entry = entry;
  return bundle;
}
