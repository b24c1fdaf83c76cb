/**
 * SMART v2 scope constraints (`patient/Observation.rs?category=...|laboratory`) on what the FHIR
 * layer answers. Searches of a constrained type are narrowed by the planner itself
 * (`constraintSearch`), so their pages and totals are exact. This filter is the rest: a read of a
 * non-matching resource becomes 403, and search bundles lose non-matching entries (included ones,
 * and matches of searches whose alternatives one query cannot express). A resource matches with
 * FHIR search semantics, evaluated by @medplum/core's matcher over the R4 search parameters.
 */
import { matchesSearchRequest, parseSearchRequest, type SearchRequest } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import { loadFhirDefinitions } from '../adapters/fhir-definitions.ts';
import { scopeConstraints, type AccessContext } from '../server/access/access-context.ts';

/** Per resource type: undefined = unconstrained; otherwise the alternatives (any may match). */
export type ConstraintPlan = (resourceType: string) => readonly SearchRequest[] | undefined;

const plans = new WeakMap<AccessContext, ConstraintPlan | null>();

/** The plan for a context, or null when none of its scopes carries a constraint (the common case). */
export function constraintPlan(context: AccessContext): ConstraintPlan | null {
  let plan = plans.get(context);
  if (plan === undefined) {
    plan = context.scopes.some((s) => s.constraints?.length) ? buildPlan(context) : null;
    plans.set(context, plan);
  }
  return plan;
}

function buildPlan(context: AccessContext): ConstraintPlan {
  loadFhirDefinitions();
  const cache = new Map<string, readonly SearchRequest[] | undefined>();
  return (resourceType) => {
    if (cache.has(resourceType)) return cache.get(resourceType);
    const result = scopeConstraints(context.scopes, resourceType)?.map((pairs) =>
      parseSearchRequest(`${resourceType}?${pairs.map(([c, v]) => `${encodeURIComponent(c)}=${encodeURIComponent(v)}`).join('&')}`),
    );
    cache.set(resourceType, result);
    return result;
  };
}

export function visible(plan: ConstraintPlan, resource: Resource): boolean {
  if (resource.resourceType === 'OperationOutcome' || resource.resourceType === 'Bundle') return true;
  const alternatives = plan(resource.resourceType);
  return alternatives === undefined || alternatives.some((request) => matchesSearchRequest(resource, request));
}

/** The search a bundle answers: its type, and whether the planner already narrowed it. */
export interface SearchedType {
  readonly resourceType: string;
  readonly narrowed: boolean;
}

/**
 * Applies the plan to a serialized FHIR response. Returns the new body, or `forbidden` when a
 * single read resource is outside the scopes. Matches of a narrowed search are the sources'
 * answer to the constraint already (and `_elements` may have removed the constrained element), so
 * they stay. When matches were filtered here, a `total` cannot be trusted (other pages,
 * `_summary=count`): it is recounted from this page when it is the only one, dropped otherwise.
 */
export function applyConstraints(plan: ConstraintPlan, body: string, searched?: SearchedType): { body: string; changed: boolean } | { forbidden: true } {
  let parsed: Resource;
  try {
    parsed = JSON.parse(body) as Resource;
  } catch {
    return { body, changed: false };
  }
  if (parsed.resourceType !== 'Bundle') return visible(plan, parsed) ? { body, changed: false } : { forbidden: true };
  const entries = parsed.entry ?? [];
  const trusted = (e: (typeof entries)[number]): boolean =>
    searched?.narrowed === true && e.search?.mode === 'match' && e.resource?.resourceType === searched.resourceType;
  const kept = entries.filter((e) => !e.resource || trusted(e) || visible(plan, e.resource));
  const unnarrowed = searched !== undefined && !searched.narrowed && plan(searched.resourceType) !== undefined;
  const recount = typeof parsed.total === 'number' && (unnarrowed || kept.length !== entries.length);
  if (kept.length === entries.length && !recount) return { body, changed: false };
  const next: Record<string, unknown> = { ...parsed, entry: kept };
  if (recount) {
    const onlyPage = !(parsed.link ?? []).some((l) => l.relation === 'next' || l.relation === 'previous');
    const summaryOnly = entries.length === 0 && (parsed.total ?? 0) > 0;
    if (onlyPage && !summaryOnly) next.total = kept.filter((e) => e.search?.mode !== 'include' && e.search?.mode !== 'outcome').length;
    else delete next.total;
  }
  if (kept.length === 0) delete next.entry;
  return { body: JSON.stringify(next), changed: true };
}
