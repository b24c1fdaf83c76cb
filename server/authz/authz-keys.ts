/**
 * Redis key layout of the authorization indexes. Every key starts with one prefix so tests,
 * benches and several networks can share a Redis without seeing each other's state.
 * Addresses are lowercase hex; ids are decimal strings or hex; nothing in a key is PHI.
 */
export interface AuthzKeys {
  readonly prefix: string;
  /** Last block whose logs are folded into the indexes (string, decimal). */
  readonly cursor: string;
  /** Follower status hash: head, headSeenAt, cursor, caughtUpAt (ms). */
  readonly sync: string;
  /** Count of events ever folded: a window is applied once or not at all. */
  readonly eventsApplied: string;
  /** Pub/sub channel of invalidations and sync heartbeats. */
  readonly channel: string;
  /** Hash provider → '1' of current network providers. */
  readonly providers: string;
  /** Hash account → role of registered participants. */
  readonly participants: string;
  grant(id: string): string;
  grantsByGrantee(address: string): string;
  grantsByPatient(address: string): string;
  /** Hash delegate → expiry, the proxies a patient has. */
  delegatesOf(patient: string): string;
  /** Hash patient → expiry, the patients a proxy acts for. */
  delegatorsOf(delegate: string): string;
  /** Hash patient → commitment, the patients a provider holds records for. */
  patientsOfProvider(provider: string): string;
  /** Hash provider → commitment, the providers holding records of a patient. */
  providersOfPatient(patient: string): string;
  study(id: string): string;
  studiesOfResearcher(researcher: string): string;
  studyMembers(id: string): string;
  /** Per-subject version, bumped by every fold that changes the subject's snapshot. */
  subjectVersion(subject: string): string;
  /** Shared built snapshot of a subject (JSON with its version). */
  snapshot(subject: string): string;
  /** Grant ids ever seen, for reconciliation sweeps. */
  readonly grantIds: string;
  readonly studyIds: string;
  /** Set of accounts ever named as a healthcare proxy, for reconciliation sweeps. */
  readonly delegates: string;
  /** Hash kind → where the next reconcile run carries on (rolling offsets). */
  readonly reconcileOffsets: string;
}

export function authzKeys(prefix = 'medrec:authz:'): AuthzKeys {
  const k = (s: string) => prefix + s;
  return {
    prefix,
    cursor: k('cursor'),
    sync: k('sync'),
    eventsApplied: k('events-applied'),
    channel: k('invalidate'),
    providers: k('providers'),
    participants: k('participants'),
    grant: (id) => k(`grant:${id}`),
    grantsByGrantee: (a) => k(`grants-by-grantee:${a}`),
    grantsByPatient: (a) => k(`grants-by-patient:${a}`),
    delegatesOf: (a) => k(`delegates-of:${a}`),
    delegatorsOf: (a) => k(`delegators-of:${a}`),
    patientsOfProvider: (a) => k(`patients-of-provider:${a}`),
    providersOfPatient: (a) => k(`providers-of-patient:${a}`),
    study: (id) => k(`study:${id}`),
    studiesOfResearcher: (a) => k(`studies-of-researcher:${a}`),
    studyMembers: (id) => k(`study-members:${id}`),
    subjectVersion: (a) => k(`version:${a}`),
    snapshot: (a) => k(`snapshot:${a}`),
    grantIds: k('grant-ids'),
    studyIds: k('study-ids'),
    delegates: k('delegates'),
    reconcileOffsets: k('reconcile-offsets'),
  };
}
