/**
 * Builds one subject's permission snapshot from the Redis indexes: what the subject may see as
 * a patient (self), a healthcare proxy (delegation), a grantee (grant), a study's researcher
 * (study, research purpose only) and a provider (relationship: the records it holds itself).
 * Self and delegation entries reach the providers that hold the patient's records (its
 * relationships), not every provider: they also decide who may read a provider's resources
 * outside any patient compartment (Practitioner, Organization, Medication).
 */
import type { Redis } from 'ioredis';
import type { PermissionEntry, PermissionSnapshot } from '../access/permission-snapshot.ts';
import type { AuthzKeys } from './authz-keys.ts';
import type { StoredGrant } from './fold-events.ts';

export interface BuiltSnapshot {
  readonly snapshot: PermissionSnapshot;
  /** The subject's index version the snapshot was built from. */
  readonly version: number;
}

const ALL_ACTIONS = ['read', 'search'] as const;

/** Reads the indexes and builds; retries when a fold for this subject lands during the reads. */
export async function buildSnapshot(redis: Redis, keys: AuthzKeys, subject: string, nowSeconds = Math.floor(Date.now() / 1000)): Promise<BuiltSnapshot> {
  for (let attempt = 0; ; attempt++) {
    const built = await readOnce(redis, keys, subject, nowSeconds);
    const after = Number((await redis.get(keys.subjectVersion(subject))) ?? 0);
    if (after === built.version || attempt >= 4) return built;
  }
}

async function readOnce(redis: Redis, keys: AuthzKeys, subject: string, now: number): Promise<BuiltSnapshot> {
  // One MULTI: the version, cursor and first-level index reads come from the same instant.
  const first = await redis
    .multi()
    .get(keys.subjectVersion(subject))
    .get(keys.cursor)
    .smembers(keys.grantsByGrantee(subject))
    .hgetall(keys.delegatorsOf(subject))
    .hexists(keys.providers, subject)
    .hgetall(keys.patientsOfProvider(subject))
    .hkeys(keys.providersOfPatient(subject))
    .exec();
  if (!first) throw new Error('snapshot read aborted');
  const val = <T>(i: number): T => {
    const [err, v] = first[i] ?? [new Error('missing reply'), undefined];
    if (err) throw err;
    return v as T;
  };
  const version = Number(val<string | null>(0) ?? 0);
  const blockNumber = Number(val<string | null>(1) ?? 0);
  const grantIds = val<string[]>(2);
  const delegators = val<Record<string, string>>(3);
  const isProvider = val<number>(4) === 1;
  const heldPatients = val<Record<string, string>>(5);
  const ownProviders = val<string[]>(6);

  const live = (expiresAt: number) => expiresAt === 0 || expiresAt > now;
  const principals = Object.entries(delegators).filter(([, expiry]) => live(Number(expiry)));
  const second = redis.pipeline();
  for (const id of grantIds) second.hget(keys.grant(id), 'record');
  for (const [patient] of principals) second.hkeys(keys.providersOfPatient(patient));
  const replies = grantIds.length + principals.length > 0 ? ((await second.exec()) ?? []) : [];

  const entries: PermissionEntry[] = [
    { patient: subject, providers: ownProviders, resourceTypes: '*', actions: [...ALL_ACTIONS], purpose: 'any', notBefore: 0, expiresAt: 0, basis: 'self' },
  ];
  principals.forEach(([patient, expiry], i) => {
    const providers = replies[grantIds.length + i]?.[1];
    entries.push({
      patient,
      providers: Array.isArray(providers) ? (providers as string[]) : [],
      resourceTypes: '*',
      actions: [...ALL_ACTIONS],
      purpose: 'any',
      notBefore: 0,
      expiresAt: Number(expiry),
      basis: 'delegation',
    });
  });
  grantIds.forEach((id, i) => {
    const raw = replies[i]?.[1];
    if (typeof raw !== 'string') return;
    const g = JSON.parse(raw) as StoredGrant;
    if (g.revoked || !live(g.expiresAt)) return;
    entries.push({
      patient: g.patient,
      providers: g.providers,
      resourceTypes: g.resourceTypes,
      actions: g.actions,
      purpose: g.purpose,
      notBefore: g.notBefore,
      expiresAt: g.expiresAt,
      // Study enrolment is a research-purpose grant; it is tagged so the consent views can tell.
      basis: g.studyId === undefined ? 'grant' : 'study',
      ref: `grant-${g.id}`,
    });
  });
  if (isProvider) {
    for (const patient of Object.keys(heldPatients)) {
      entries.push({ patient, providers: [subject], resourceTypes: '*', actions: [...ALL_ACTIONS], purpose: 'any', notBefore: 0, expiresAt: 0, basis: 'relationship' });
    }
  }
  return { snapshot: { subject, blockNumber, entries }, version };
}
