/**
 * Who is asking, with what token: filled by the SMART layer from a verified bearer token
 * (or built directly by tests and internal callers). The FHIR layer never looks at tokens.
 */

export type ScopeLevel = 'patient' | 'user' | 'system';

/** SMART v2 interaction letters; v1 `.read` maps to `rs`, `.write` to `cud`, `.*` to `cruds`. */
export type ScopeInteraction = 'c' | 'r' | 'u' | 'd' | 's';

/** One parsed SMART resource scope, v1 or v2, in one model. */
export interface ResourceScope {
  readonly level: ScopeLevel;
  /** A FHIR resource type or `*`. */
  readonly resourceType: string;
  readonly interactions: ReadonlySet<ScopeInteraction>;
  /** v2 query constraints (`?category=...`), as search parameters that results must match. */
  readonly constraints?: ReadonlyArray<readonly [code: string, value: string]>;
  /** The scope as it was granted, for echoing back. */
  readonly raw: string;
}

export interface AccessContext {
  /** The OAuth client the token was issued to. */
  readonly clientId: string;
  /** The caller's Ethereum address (lowercase 0x hex): patient, proxy, clinician, pharmacy, ... */
  readonly subject: string;
  readonly scopes: readonly ResourceScope[];
  /** `patient` launch context: the patient address the token is confined to, if any. */
  readonly patient?: string;
  readonly encounter?: string;
  /** Purpose of use asserted by the client (treatment, payment, operations, research, ...). */
  readonly purpose?: string;
  /** Token id (jti) for audit and revocation checks. */
  readonly tokenId?: string;
  /**
   * The user's own FHIR resource (`Patient/0x…`, `Practitioner/directory.0x…`) when the token was
   * granted `fhirUser`: readable with it whatever the resource scopes (SMART App Launch).
   */
  readonly fhirUser?: string;
}

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
 * The constraints as search parameters that one search ANDs to its own (`{ category: ['…|vital-signs'] }`),
 * so a constrained search is narrowed at the sources and its pages and totals stay exact.
 * Alternatives become one parameter's comma-separated values (FHIR OR) when each is a single
 * unmodified parameter, all the same; otherwise (or when unconstrained) undefined: such answers
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
