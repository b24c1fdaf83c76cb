/**
 * The chain's state changes as the authorization layer understands them: one normalized,
 * decoded event per contract log, independent of ABI details. `contract-events.ts` maps the
 * contracts' logs onto this union; everything downstream (Redis indexes, snapshots,
 * invalidations) is a function of these values only.
 */
import type { ConsentAction, Purpose } from '../access/permission-snapshot.ts';

/** Where a log sits on chain: folds are idempotent per position, windows are applied whole. */
export interface LogPosition {
  readonly blockNumber: number;
  readonly logIndex: number;
}

export interface GrantTerms {
  /** Provider addresses covered, or `*` for every provider. */
  readonly providers: readonly string[] | '*';
  /** FHIR resource types covered, or `*` for all. */
  readonly resourceTypes: readonly string[] | '*';
  readonly actions: readonly ConsentAction[];
  readonly purpose: Purpose;
  /** Unix seconds; 0 = no lower bound. */
  readonly notBefore: number;
  /** Unix seconds; 0 = never expires. */
  readonly expiresAt: number;
}

export type ChainEvent = LogPosition &
  (
    | { readonly kind: 'provider-added'; readonly provider: string }
    | { readonly kind: 'provider-removed'; readonly provider: string }
    | { readonly kind: 'participant-registered'; readonly account: string; readonly role: string }
    | { readonly kind: 'participant-removed'; readonly account: string }
    | {
        readonly kind: 'relationship-added';
        readonly provider: string;
        readonly patient: string;
        /** Salted hash of the provider's link (address → local patient id); hex. */
        readonly commitment: string;
      }
    | { readonly kind: 'relationship-ended'; readonly provider: string; readonly patient: string }
    | ({
        readonly kind: 'grant-created';
        readonly grantId: string;
        readonly patient: string;
        readonly grantee: string;
      } & GrantTerms)
    | { readonly kind: 'grant-revoked'; readonly grantId: string }
    | {
        readonly kind: 'delegation-set';
        readonly patient: string;
        readonly delegate: string;
        /** Unix seconds; 0 = never expires. */
        readonly expiresAt: number;
      }
    | { readonly kind: 'delegation-revoked'; readonly patient: string; readonly delegate: string }
    | { readonly kind: 'study-opened'; readonly studyId: string; readonly researcher: string }
    | { readonly kind: 'study-closed'; readonly studyId: string }
    /** Enrolment creates a research-purpose grant (its own grant-created event comes first). */
    | { readonly kind: 'study-enrolled'; readonly studyId: string; readonly patient: string; readonly grantId: string }
  );

export type ChainEventKind = ChainEvent['kind'];
