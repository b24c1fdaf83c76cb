/**
 * SMART v2 scope constraints (`patient/Observation.rs?category=…|laboratory`). The planner ANDs
 * them to a search (`constraintSearch`) so the sources narrow it and pages stay full;
 * the FHIR layer still checks every resource it hands out (`withinScopeConstraints`), since a
 * source may not apply them (merged Patients, an upstream that ignores a parameter) and some
 * alternatives cannot be expressed as one query. A resource matches with FHIR search semantics,
 * evaluated by @medplum/core's matcher over the R4 search parameters.
 */
import { matchesSearchRequest, parseSearchRequest, type SearchRequest } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import { loadFhirDefinitions } from '../../adapters/fhir-definitions.ts';
import type { AccessContext, ResourceScope } from './access-context.ts';

/** One scope's v2 query constraints: search parameters a resource must all match. */
export type ScopeConstraint = ReadonlyArray<readonly [code: string, value: string]>;

/**
 * What the read/search scopes for a type allow, as constraint alternatives (a resource is visible
 * when it matches any one). Undefined when the type is unconstrained: some scope for it (or `*`)
 * carries no constraint, or none applies at all (the policy refuses those).
 */
export function scopeConstraints(scopes: readonly ResourceScope[], resourceType: string): readonly ScopeConstraint[] | undefined {
  const applicable = scopes.filter((s) => (s.resourceType === '*' || s.resourceType === resourceType) && (s.interactions.has('r') || s.interactions.has('s')));
  if (applicable.length === 0 || applicable.some((s) => !s.constraints?.length)) return undefined;
  return applicable.map((s) => s.constraints!);
}

/**
 * The constraints as search parameters that one search ANDs to its own (`{ category: ['…|vital-signs'] }`).
 * Alternatives become one parameter's comma-separated values (FHIR OR) when each is a single
 * unmodified parameter, all the same; otherwise (or when unconstrained) undefined: such searches
 * are only filtered after the fact.
 */
export function constraintSearch(context: AccessContext | undefined, resourceType: string): Record<string, string[]> | undefined {
  const alternatives = context ? scopeConstraints(context.scopes, resourceType) : undefined;
  if (!alternatives) return undefined;
  if (alternatives.length === 1) {
    const query: Record<string, string[]> = {};
    for (const [code, value] of alternatives[0]!) (query[code] ??= []).push(value);
    return query;
  }
  const code = alternatives[0]![0]?.[0];
  if (!code || code.includes(':') || !alternatives.every((a) => a.length === 1 && a[0]![0] === code)) return undefined;
  return { [code]: [alternatives.map((a) => a[0]![1]).join(',')] };
}

/** Whether the token constrains what it may see of a type (then no source's count of that type is trusted). */
export function hasScopeConstraints(context: AccessContext | undefined, resourceType: string): boolean {
  return context !== undefined && scopeConstraints(context.scopes, resourceType) !== undefined;
}

/** Per resource type: undefined = unconstrained; otherwise the alternatives (any may match). */
type ConstraintPlan = (resourceType: string) => readonly SearchRequest[] | undefined;

const plans = new WeakMap<AccessContext, ConstraintPlan | null>();

/** The plan for a context, or null when none of its scopes carries a constraint (the common case). */
function constraintPlan(context: AccessContext): ConstraintPlan | null {
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

/**
 * Whether a resource, as the client would see it (ids and references rewritten, before
 * `_elements`/`_summary`), lies within the token's constraints for its type.
 */
export function withinScopeConstraints(context: AccessContext | undefined, resource: Resource): boolean {
  const plan = context ? constraintPlan(context) : null;
  const alternatives = plan?.(resource.resourceType);
  return alternatives === undefined || alternatives.some((request) => matchesSearchRequest(resource, request));
}
