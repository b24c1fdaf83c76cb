/**
 * `_sort` evaluated in memory: one comparator used by in-memory sources to order their results,
 * by the federation merger to interleave several sources' already-sorted pages, and by the
 * upstream FHIR adapter to check an upstream's order. Using the same comparator everywhere is
 * what makes the k-way merge correct, and it follows FHIR's rules so that an upstream sorting as
 * FHIR says is in order by it: a resource with several values sorts by its lowest ascending and
 * its highest descending, a Period by its start ascending and its end descending, and a
 * resource without a value sorts last either way.
 */
import type { SortRule } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import { searchParamValues } from './element-paths.ts';

type SortValue = string | number;

/** A resource's values for each rule (`null`: none, sorts last): comparable without the resource. */
export type SortKey = ReadonlyArray<SortValue | null>;

const DATE_LIKE = /^\d{4}(-\d{2}(-\d{2}(T[\d:.]+(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

function scalar(value: unknown, descending: boolean): SortValue | undefined {
  if (typeof value === 'number') return value;
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'string') {
    if (DATE_LIKE.test(value)) {
      const padded = value.length === 4 ? `${value}-01-01` : value.length === 7 ? `${value}-01` : value;
      const ms = Date.parse(padded.length === 10 ? `${padded}T00:00:00Z` : padded);
      if (!Number.isNaN(ms)) return ms;
    }
    return value.toLowerCase();
  }
  if (value && typeof value === 'object') {
    const v = value as Record<string, unknown>;
    // Period: the bound the direction looks at (the other one when that one is open).
    if ('start' in v || 'end' in v) return scalar(descending ? (v.end ?? v.start) : (v.start ?? v.end), descending);
    if ('value' in v && (typeof v.value === 'number' || typeof v.value === 'string')) return scalar(v.value, descending); // Quantity, Identifier
    if (Array.isArray(v.coding)) return scalar((v.coding[0] as Record<string, unknown> | undefined)?.code ?? v.text, descending); // CodeableConcept
    if ('code' in v) return scalar(v.code, descending); // Coding
    if ('family' in v || 'given' in v) return scalar([v.family, ...((v.given as unknown[]) ?? [])].filter(Boolean).join(' '), descending); // HumanName
    if ('reference' in v) return scalar(v.reference, descending);
    if ('text' in v) return scalar(v.text, descending);
  }
  return undefined;
}

/**
 * The value a resource sorts by for one `_sort` code in one direction: of several values the one
 * that comes first (the lowest ascending, the highest descending); `undefined` sorts last.
 */
export function sortValue(resource: Resource, code: string, descending = false): SortValue | undefined {
  if (code === '_id') return resource.id;
  let cached = sortValueCache.get(resource);
  if (!cached) sortValueCache.set(resource, (cached = new Map()));
  const key = descending ? `-${code}` : code;
  if (cached.has(key)) return cached.get(key);
  let value: SortValue | undefined;
  if (code === '_lastUpdated') value = scalar(resource.meta?.lastUpdated, descending);
  else {
    for (const found of searchParamValues(resource, code)) {
      const v = scalar(found, descending);
      if (v !== undefined && (value === undefined || compareValues(v, value, descending) < 0)) value = v;
    }
  }
  cached.set(key, value);
  return value;
}

/**
 * Sort keys per resource object: comparisons run O(n log n) times per search. Keyed weakly on
 * the object, which adapters must not mutate after returning it (the merger never does).
 */
const sortValueCache = new WeakMap<Resource, Map<string, SortValue | undefined>>();

function compareValues(a: SortValue | undefined, b: SortValue | undefined, descending: boolean): number {
  if (a === b) return 0;
  if (a === undefined) return 1;
  if (b === undefined) return -1;
  let result: number;
  if (typeof a === 'number' && typeof b === 'number') result = a - b;
  else result = String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0;
  return descending ? -result : result;
}

/** Orders by the rules; equal keys compare 0 so callers keep a stable secondary order. */
export function compareBySortRules(a: Resource, b: Resource, rules: readonly SortRule[]): number {
  for (const rule of rules) {
    const descending = rule.descending === true;
    const c = compareValues(sortValue(a, rule.code, descending), sortValue(b, rule.code, descending), descending);
    if (c !== 0) return c;
  }
  return 0;
}

export function sortKeyOf(resource: Resource, rules: readonly SortRule[]): SortKey {
  return rules.map((rule) => sortValue(resource, rule.code, rule.descending === true) ?? null);
}

export function compareSortKeys(a: SortKey, b: SortKey, rules: readonly SortRule[]): number {
  for (let i = 0; i < rules.length; i++) {
    const c = compareValues(a[i] ?? undefined, b[i] ?? undefined, rules[i]?.descending === true);
    if (c !== 0) return c;
  }
  return 0;
}
