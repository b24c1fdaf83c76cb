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
