/**
 * The permission slot of the FHIR layer. Before the planner fans a request out, it asks the
 * policy what the caller may see for this request; only allowed sources are asked and searches
 * are narrowed to allowed patients. The open policy below allows everything (the embedded
 * default before authorization is configured); the chain-backed policy implements the same
 * interface from the caller's PermissionSnapshot ∩ token scopes ∩ launch context.
 */
import type { AccessContext } from './access-context.ts';

export type AccessAction = 'read' | 'search';

/** A source as the policy sees it: grants name providers, the FHIR layer asks per source. */
export interface SourceRef {
  readonly sourceId: string;
  /** The provider holding the source's records (its address once on chain). */
  readonly provider: string;
}

export interface AccessRequest {
  readonly resourceType: string;
  readonly action: AccessAction;
  /**
   * Patient keys (addresses) the request names: the compartment, a `patient`/`subject` search
   * value, a read of `Patient/<key>`, or the patient a read resource belongs to. Empty when the
   * request names none (e.g. `GET /fhir/MedicationRequest?status=active`).
   */
  readonly patients: readonly string[];
  /** Resource types `_include`/`_revinclude` would add. */
  readonly includeTypes: readonly string[];
  /**
   * A read whose audit record waits for its answer (a record not known yet has `patients` empty):
   * the one decision of the read. An allowed one is audited when the caller settles it
   * (`AccessDecision.settle`) with the record's patients and the status answered.
   */
  readonly awaitsRecord?: boolean;
  /** A read's logical id (the one resource asked for): the caller's own fhirUser record is readable. */
  readonly id?: string;
}

/** What a caller may see for one request. */
export interface AccessGrant {
  /** Patient keys whose records may be returned, or `*` for any patient (open access). */
  readonly patients: readonly string[] | '*';
  /**
   * Whether records of this type held by this source may be returned for this patient.
   * `patient` is undefined for resources outside any patient compartment (Medication,
   * Organization, Practitioner) and for records of patients without a known key.
   */
  allows(patient: string | undefined, source: SourceRef, resourceType: string): boolean;
}

/** How an `awaitsRecord` read ended (what its audit record says). */
export interface ReadSettlement {
  /** The HTTP status the caller was answered (200: served; 400, 403, 404, 500, 503, 504…). */
  readonly status: number;
  readonly reason?: string;
  /** The patients of the record read (none when it was not read). */
  readonly patients: readonly string[];
  /** The source asked, if any; absent: the sources the decision opened. */
  readonly sources?: readonly string[];
}

export type AccessDecision =
  | {
      readonly allowed: true;
      readonly grant: AccessGrant;
      /** For `awaitsRecord` requests: called once when the read has ended. */
      readonly settle?: (outcome: ReadSettlement) => void;
    }
  /**
   * 403 when the caller may know the record exists; 404 where existence itself would leak;
   * 503 when the permissions cannot be known fresh enough (fail closed: chain or store away).
   */
  | { readonly allowed: false; readonly status: 403 | 404 | 503; readonly reason: string };

export interface AccessPolicy {
  decide(context: AccessContext | undefined, request: AccessRequest): Promise<AccessDecision>;
}

const everything: AccessGrant = { patients: '*', allows: () => true };

/** Allows every request: the embedded default until the chain-backed policy is plugged in. */
export const openAccessPolicy: AccessPolicy = {
  async decide() {
    return { allowed: true, grant: everything };
  },
};
