/**
 * What one subject may see, derived from the chain (grants, delegations, relationships, studies)
 * and kept in Redis + in-process caches. Effective access = token scopes ∩ snapshot ∩ compartment.
 */

export type ConsentAction = 'read' | 'search';

export type Purpose = 'treatment' | 'payment' | 'operations' | 'research' | 'public-health' | 'any';

/** How the subject came to have this permission. */
export type PermissionBasis =
  | 'self' // the subject is the patient
  | 'delegation' // the subject is the patient's healthcare proxy
  | 'grant' // a consent grant from the patient (or the patient's proxy)
  | 'study' // enrolment in a research study (research-purpose grant)
  | 'relationship'; // the subject is a provider that holds this patient's records

export interface PermissionEntry {
  /** Patient address. */
  readonly patient: string;
  /** Provider addresses whose records are covered, or `*` for any provider. */
  readonly providers: readonly string[] | '*';
  /** FHIR resource types covered, or `*` for all. */
  readonly resourceTypes: readonly string[] | '*';
  readonly actions: readonly ConsentAction[];
  readonly purpose: Purpose;
  /** Unix seconds; 0 = no lower bound. */
  readonly notBefore: number;
  /** Unix seconds; 0 = never expires. */
  readonly expiresAt: number;
  readonly basis: PermissionBasis;
  /** On-chain id of the grant, delegation or study behind this entry. */
  readonly ref?: string;
}

export interface PermissionSnapshot {
  readonly subject: string;
  /** The chain height whose state this snapshot reflects. */
  readonly blockNumber: number;
  readonly entries: readonly PermissionEntry[];
}
