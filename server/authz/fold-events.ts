/**
 * Folding chain events into Redis index writes: a pure function of the events and of the few
 * records they refer to (a revocation names only its grant id). The follower applies the writes
 * of a whole block window in one MULTI/EXEC together with the cursor, so a window is applied
 * exactly once; every write is also idempotent on its own (sets and hash fields, no counters),
 * which keeps reconciliation simple.
 */
import type { ChainEvent, GrantTerms } from './chain-events.ts';
import type { AuthzKeys } from './authz-keys.ts';

/** A grant as the indexes keep it. */
export interface StoredGrant extends GrantTerms {
  readonly id: string;
  readonly patient: string;
  readonly grantee: string;
  readonly revoked: boolean;
  /** Set when the grant is a research study's enrolment. */
  readonly studyId?: string;
}

export interface StoredStudy {
  readonly id: string;
  readonly researcher: string;
  readonly open: boolean;
}

/** One Redis write. Only commands whose repetition is harmless. */
export type IndexWrite =
  | readonly ['hset', key: string, field: string, value: string]
  | readonly ['hdel', key: string, field: string]
  | readonly ['sadd', key: string, member: string]
  | readonly ['srem', key: string, member: string]
  | readonly ['del', key: string];

/** Records the events of a window refer to, read before folding (and updated by the fold). */
export interface FoldLookup {
  readonly grants: Map<string, StoredGrant | undefined>;
  readonly studies: Map<string, StoredStudy | undefined>;
  /** Proxies of patients whose relationships change: what they see follows the patient's providers. */
  readonly proxiesOf: Map<string, readonly string[]>;
}

export interface FoldResult {
  readonly writes: IndexWrite[];
  /** Subjects whose snapshots these events change. */
  readonly subjects: Set<string>;
  /** Events that referred to something the indexes do not know (logged, not fatal). */
  readonly orphans: number;
}

/** Grants and studies whose stored records, and patients whose proxies, a fold of these events needs. */
export function referencedRecords(events: readonly ChainEvent[]): { grants: string[]; studies: string[]; patients: string[] } {
  const grants = new Set<string>();
  const studies = new Set<string>();
  const patients = new Set<string>();
  for (const e of events) {
    if (e.kind === 'grant-revoked' || e.kind === 'study-enrolled') grants.add(e.grantId);
    if (e.kind === 'study-closed') studies.add(e.studyId);
    if (e.kind === 'relationship-added' || e.kind === 'relationship-ended') patients.add(e.patient);
  }
  return { grants: [...grants], studies: [...studies], patients: [...patients] };
}

export function foldEvents(events: readonly ChainEvent[], keys: AuthzKeys, lookup: FoldLookup): FoldResult {
  const writes: IndexWrite[] = [];
  const subjects = new Set<string>();
  let orphans = 0;
  const putGrant = (g: StoredGrant) => {
    lookup.grants.set(g.id, g);
    writes.push(['hset', keys.grant(g.id), 'record', JSON.stringify(g)]);
  };
  const putStudy = (s: StoredStudy) => {
    lookup.studies.set(s.id, s);
    writes.push(['hset', keys.study(s.id), 'record', JSON.stringify(s)]);
  };

  for (const e of events) {
    switch (e.kind) {
      case 'provider-added':
        writes.push(['hset', keys.providers, e.provider, '1']);
        subjects.add(e.provider);
        break;
      case 'provider-removed':
        writes.push(['hdel', keys.providers, e.provider]);
        subjects.add(e.provider);
        break;
      case 'participant-registered':
        writes.push(['hset', keys.participants, e.account, e.role]);
        break;
      case 'participant-removed':
        writes.push(['hdel', keys.participants, e.account]);
        break;
      case 'relationship-added':
        writes.push(['hset', keys.patientsOfProvider(e.provider), e.patient, e.commitment]);
        writes.push(['hset', keys.providersOfPatient(e.patient), e.provider, e.commitment]);
        subjects.add(e.provider).add(e.patient);
        for (const proxy of lookup.proxiesOf.get(e.patient) ?? []) subjects.add(proxy);
        break;
      case 'relationship-ended':
        writes.push(['hdel', keys.patientsOfProvider(e.provider), e.patient]);
        writes.push(['hdel', keys.providersOfPatient(e.patient), e.provider]);
        subjects.add(e.provider).add(e.patient);
        for (const proxy of lookup.proxiesOf.get(e.patient) ?? []) subjects.add(proxy);
        break;
      case 'grant-created': {
        const { kind: _k, blockNumber: _b, logIndex: _l, grantId, ...rest } = e;
        putGrant({ id: grantId, ...rest, revoked: false });
        writes.push(['sadd', keys.grantsByGrantee(e.grantee), grantId]);
        writes.push(['sadd', keys.grantsByPatient(e.patient), grantId]);
        writes.push(['sadd', keys.grantIds, grantId]);
        subjects.add(e.grantee);
        break;
      }
      case 'grant-revoked': {
        const g = lookup.grants.get(e.grantId);
        if (!g) {
          orphans++;
          break;
        }
        // The record stays (marked) so a late duplicate create cannot resurrect it; the
        // grantee index drops it so snapshots stop reading it.
        putGrant({ ...g, revoked: true });
        writes.push(['srem', keys.grantsByGrantee(g.grantee), g.id]);
        writes.push(['srem', keys.grantsByPatient(g.patient), g.id]);
        subjects.add(g.grantee);
        break;
      }
      case 'delegation-set':
        writes.push(['hset', keys.delegatesOf(e.patient), e.delegate, String(e.expiresAt)]);
        writes.push(['hset', keys.delegatorsOf(e.delegate), e.patient, String(e.expiresAt)]);
        writes.push(['sadd', keys.delegates, e.delegate]);
        subjects.add(e.delegate);
        break;
      case 'delegation-revoked':
        writes.push(['hdel', keys.delegatesOf(e.patient), e.delegate]);
        writes.push(['hdel', keys.delegatorsOf(e.delegate), e.patient]);
        subjects.add(e.delegate);
        break;
      case 'study-opened':
        putStudy({ id: e.studyId, researcher: e.researcher, open: true });
        writes.push(['sadd', keys.studiesOfResearcher(e.researcher), e.studyId]);
        writes.push(['sadd', keys.studyIds, e.studyId]);
        break;
      case 'study-closed': {
        // Closing stops new enrolments; the enrolled patients' grants stand until withdrawn.
        const s = lookup.studies.get(e.studyId);
        if (!s) {
          orphans++;
          break;
        }
        putStudy({ ...s, open: false });
        break;
      }
      case 'study-enrolled': {
        const g = lookup.grants.get(e.grantId);
        if (!g) {
          orphans++;
          break;
        }
        putGrant({ ...g, studyId: e.studyId });
        writes.push(['sadd', keys.studyMembers(e.studyId), e.patient]);
        subjects.add(g.grantee);
        break;
      }
    }
  }
  return { writes, subjects, orphans };
}
