/**
 * SMART v2 scope constraints (`patient/Observation.rs?category=...|laboratory`) enforced on what
 * the FHIR layer answers: a resource is visible when some read/search scope for its type has no
 * constraint, or all of one scope's constraints match it (FHIR search semantics, evaluated with
 * @medplum/core's matcher over the R4 search parameters). Reads of a non-matching resource
 * become 403; search bundles lose non-matching entries, included ones too.
 */
import { matchesSearchRequest, parseSearchRequest, type SearchRequest } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import { loadFhirDefinitions } from '../adapters/fhir-definitions.ts';
import type { AccessContext, ResourceScope } from '../server/access/access-context.ts';

/** Per resource type: undefined = unconstrained; otherwise the alternatives (any may match). */
export type ConstraintPlan = (resourceType: string) => readonly SearchRequest[] | undefined;

const plans = new WeakMap<AccessContext, ConstraintPlan | null>();

/** The plan for a context, or null when none of its scopes carries a constraint (the common case). */
export function constraintPlan(context: AccessContext): ConstraintPlan | null {
  let plan = plans.get(context);
  if (plan === undefined) {
    plan = context.scopes.some((s) => s.constraints?.length) ? buildPlan(context.scopes) : null;
    plans.set(context, plan);
  }
  return plan;
}

function buildPlan(scopes: readonly ResourceScope[]): ConstraintPlan {
  loadFhirDefinitions();
  const readable = scopes.filter((s) => s.interactions.has('r') || s.interactions.has('s'));
  const cache = new Map<string, readonly SearchRequest[] | undefined>();
  return (resourceType) => {
    if (cache.has(resourceType)) return cache.get(resourceType);
    const applicable = readable.filter((s) => s.resourceType === '*' || s.resourceType === resourceType);
    const result =
      applicable.length === 0 || applicable.some((s) => !s.constraints?.length)
        ? undefined
        : applicable.map((s) => parseSearchRequest(`${resourceType}?${s.constraints!.map(([c, v]) => `${encodeURIComponent(c)}=${encodeURIComponent(v)}`).join('&')}`));
    cache.set(resourceType, result);
    return result;
  };
}

export function visible(plan: ConstraintPlan, resource: Resource): boolean {
  if (resource.resourceType === 'OperationOutcome' || resource.resourceType === 'Bundle') return true;
  const alternatives = plan(resource.resourceType);
  return alternatives === undefined || alternatives.some((request) => matchesSearchRequest(resource, request));
}

/**
 * Applies the plan to a serialized FHIR response. Returns the new body, or `forbidden` when a
 * single read resource is outside the scopes. `searchedType` is the type a search asked for: when
 * it is constrained, a `total` cannot be trusted (other pages, `_summary=count`) and is recounted
 * from this page when it is the only one, dropped otherwise.
 */
export function applyConstraints(plan: ConstraintPlan, body: string, searchedType?: string): { body: string; changed: boolean } | { forbidden: true } {
  let parsed: Resource;
  try {
    parsed = JSON.parse(body) as Resource;
  } catch {
    return { body, changed: false };
  }
  if (parsed.resourceType !== 'Bundle') return visible(plan, parsed) ? { body, changed: false } : { forbidden: true };
  const entries = parsed.entry ?? [];
  const kept = entries.filter((e) => !e.resource || visible(plan, e.resource));
  const constrainedSearch = searchedType !== undefined && plan(searchedType) !== undefined && typeof parsed.total === 'number';
  if (kept.length === entries.length && !constrainedSearch) return { body, changed: false };
  const next: Record<string, unknown> = { ...parsed, entry: kept };
  if (constrainedSearch) {
    const onlyPage = !(parsed.link ?? []).some((l) => l.relation === 'next' || l.relation === 'previous');
    const summaryOnly = entries.length === 0 && (parsed.total ?? 0) > 0;
    if (onlyPage && !summaryOnly) next.total = kept.filter((e) => e.search?.mode !== 'include').length;
    else delete next.total;
  }
  if (kept.length === 0) delete next.entry;
  return { body: JSON.stringify(next), changed: true };
}
