/**
 * Cheap value extraction for search parameters whose FHIRPath expression is a plain path
 * (`MedicationRequest.subject`, `Observation.effective`, `(X.value as Quantity)`,
 * `Condition.subject.where(resolve() is Patient)`): most of what compartments and `_sort` need.
 * Evaluating full FHIRPath per resource per request would cost far more on every search.
 */
import { getSearchParameter } from '@medplum/core';
import { loadFhirDefinitions } from '../fhir-definitions.ts';

type Path = readonly string[];
const pathCache = new Map<string, readonly Path[]>();

/** Property paths (below the resource) a search parameter reads for one resource type. */
export function searchParamPaths(resourceType: string, code: string): readonly Path[] {
  const key = `${resourceType}.${code}`;
  const cached = pathCache.get(key);
  if (cached) return cached;
  loadFhirDefinitions();
  const expression = getSearchParameter(resourceType, code)?.expression ?? '';
  const paths: Path[] = [];
  for (const raw of expression.split('|')) {
    let part = raw.trim().replace(/^\((.*)\)$/, '$1').trim();
    part = part.replace(/\.where\(.*\)$/, '');
    let asType: string | undefined;
    const as = /^(.*?)\s+as\s+([A-Za-z]+)$/.exec(part) ?? /^(.*?)\.as\(([A-Za-z]+)\)$/.exec(part);
    if (as) {
      part = as[1] as string;
      asType = as[2];
    }
    const segments = part.split('.');
    if (segments[0] !== resourceType || segments.length < 2) continue;
    if (segments.slice(1).some((s) => !/^[a-zA-Z][a-zA-Z0-9]*$/.test(s))) continue;
    const path = segments.slice(1);
    if (asType) path[path.length - 1] += asType.charAt(0).toUpperCase() + asType.slice(1);
    paths.push(path);
  }
  pathCache.set(key, paths);
  return paths;
}

/** Every value found at a path; arrays are flattened; a choice element `effective` matches `effectiveDateTime` etc. */
export function valuesAtPath(root: unknown, path: Path): unknown[] {
  let current: unknown[] = [root];
  for (const segment of path) {
    const next: unknown[] = [];
    for (const node of current) {
      if (!node || typeof node !== 'object') continue;
      const record = node as Record<string, unknown>;
      let value = record[segment];
      if (value === undefined) value = choiceValue(record, segment);
      if (Array.isArray(value)) next.push(...value);
      else if (value !== undefined && value !== null) next.push(value);
    }
    current = next;
  }
  return current;
}

/** A choice element's value (`effective` → `effectiveDateTime`). Hot path: no regex, no key array. */
function choiceValue(record: Record<string, unknown>, segment: string): unknown {
  for (const key in record) {
    if (key.length <= segment.length || !key.startsWith(segment)) continue;
    const next = key.charCodeAt(segment.length);
    if (next >= 65 && next <= 90) return record[key];
  }
  return undefined;
}

export function searchParamValues(resource: { resourceType: string }, code: string): unknown[] {
  return searchParamPaths(resource.resourceType, code).flatMap((path) => valuesAtPath(resource, path));
}
