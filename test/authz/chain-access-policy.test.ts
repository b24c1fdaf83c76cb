/**
 * The intersection rules of the chain-backed policy: token scopes ∩ snapshot ∩ compartment,
 * grant times checked per decision, purpose of use, and fail-closed freshness. The snapshot is
 * given as a value here (it is data); the Redis-backed path is covered by the other files.
 */
import t from 'tap';
import { ChainAccessPolicy, type AccessDecisionRecord } from '../../server/authz/chain-access-policy.ts';
import { SyncFreshness } from '../../server/authz/sync-freshness.ts';
import type { PermissionEntry, PermissionSnapshot } from '../../server/access/permission-snapshot.ts';
import type { AccessRequest } from '../../server/access/access-policy.ts';
import { contextFor, scope } from './support/authz-fixtures.ts';

const alice = '0x00000000000000000000000000000000000a11ce';
const bob = '0x0000000000000000000000000000000000000b0b';
const grantee = '0x00000000000000000000000000000000000000f1';
const hospital = { sourceId: 'hospital', provider: '0x00000000000000000000000000000000000000a1' };
const clinic = { sourceId: 'clinic', provider: '0x00000000000000000000000000000000000000a2' };
const T0 = 1_900_000_000;

const entry = (e: Partial<PermissionEntry>): PermissionEntry => ({
  patient: alice,
  providers: '*',
  resourceTypes: '*',
  actions: ['read', 'search'],
  purpose: 'treatment',
  notBefore: 0,
  expiresAt: 0,
  basis: 'grant',
  ...e,
});

function policyWith(entries: PermissionEntry[], clock: { now: number }, records: AccessDecisionRecord[] = []) {
  const freshness = new SyncFreshness({ maxLagBlocks: 2, maxHeadAgeMs: 5_000, maxRedisSilenceMs: 5_000 });
  freshness.observe({ cursor: 10, head: 10, headSeenAt: clock.now }, clock.now);
  const snapshot: PermissionSnapshot = { subject: grantee, blockNumber: 10, entries };
  const policy = new ChainAccessPolicy({
    snapshots: { get: async () => snapshot },
    freshness,
    sources: () => [hospital, clinic],
    onDecision: (r) => records.push(r),
    now: () => clock.now,
  });
  return { policy, freshness };
}

const search = (resourceType: string, patients: string[] = []): AccessRequest => ({ resourceType, action: 'search', patients, includeTypes: [] });

t.test('a grant limited to one provider opens only that provider’s source', async (t) => {
  const clock = { now: T0 * 1000 };
  const records: AccessDecisionRecord[] = [];
  const { policy } = policyWith([entry({ providers: [hospital.provider], resourceTypes: ['MedicationRequest'] })], clock, records);
  const d = await policy.decide(contextFor(grantee, [scope('user', '*')]), search('MedicationRequest', [alice]));
  t.ok(d.allowed);
  if (!d.allowed) return;
  t.ok(d.grant.allows(alice, hospital, 'MedicationRequest'));
  t.notOk(d.grant.allows(alice, clinic, 'MedicationRequest'));
  t.notOk(d.grant.allows(alice, hospital, 'Observation'), 'an _include of another type is not opened');
  t.notOk(d.grant.allows(bob, hospital, 'MedicationRequest'));
  t.same(records[0]?.sources, ['hospital'], 'the audit record names the sources the decision opens');
});

t.test('token scopes narrow what the snapshot allows', async (t) => {
  const clock = { now: T0 * 1000 };
  const { policy } = policyWith([entry({})], clock);
  const onlyMeds = contextFor(grantee, [scope('user', 'MedicationRequest', 'rs')]);
  t.ok((await policy.decide(onlyMeds, search('MedicationRequest', [alice]))).allowed);
  t.match(await policy.decide(onlyMeds, search('Observation', [alice])), { allowed: false, status: 403 });
  const readOnly = contextFor(grantee, [scope('user', '*', 'r')]);
  t.match(await policy.decide(readOnly, search('Observation', [alice])), { allowed: false, status: 403 }, 'no search letter, no search');
});

t.test('patient-level scopes confine the request to the launch patient', async (t) => {
  const clock = { now: T0 * 1000 };
  const { policy } = policyWith([entry({ patient: alice }), entry({ patient: bob })], clock);
  const launched = contextFor(grantee, [scope('patient', '*')], { patient: alice });
  t.ok((await policy.decide(launched, search('Observation', [alice]))).allowed);
  t.match(await policy.decide(launched, search('Observation', [bob])), { allowed: false, status: 403 });
  const all = await policy.decide(launched, search('Observation'));
  t.same(all.allowed && all.grant.patients, [alice], 'an unnamed search is narrowed to the launch patient');
  const clinician = contextFor(grantee, [scope('user', '*')], { patient: alice });
  t.ok((await policy.decide(clinician, search('Observation', [bob]))).allowed, 'with user scopes the launch patient is context, not a fence');
  const mixed = contextFor(grantee, [scope('patient', 'Observation'), scope('user', 'Condition')], { patient: alice });
  t.match(await policy.decide(mixed, search('Observation', [bob])), { allowed: false, status: 403 }, 'a type allowed only by patient scopes stays in the compartment');
  t.ok((await policy.decide(mixed, search('Condition', [bob]))).allowed);
});

t.test('a grant stops working at its expiry and not before its start, with no new block', async (t) => {
  const clock = { now: T0 * 1000 };
  const { policy, freshness } = policyWith([entry({ notBefore: T0 + 10, expiresAt: T0 + 20 })], clock);
  const ctx = contextFor(grantee, [scope('user', '*')]);
  const at = async (s: number) => {
    clock.now = s * 1000;
    freshness.observe({ cursor: 10, head: 10, headSeenAt: clock.now }, clock.now); // the follower keeps reporting; no block
    return policy.decide(ctx, search('Observation', [alice]));
  };
  t.match(await at(T0 + 9), { allowed: false }, 'not yet');
  t.ok((await at(T0 + 10)).allowed);
  t.ok((await at(T0 + 19)).allowed);
  t.match(await at(T0 + 20), { allowed: false }, 'expired at its expiry');
});

t.test('research-only permissions need the research purpose', async (t) => {
  const clock = { now: T0 * 1000 };
  const { policy } = policyWith([entry({ purpose: 'research', basis: 'study' })], clock);
  t.match(await policy.decide(contextFor(grantee, [scope('user', '*')]), search('Observation', [alice])), { allowed: false });
  t.match(await policy.decide(contextFor(grantee, [scope('user', '*')], { purpose: 'treatment' }), search('Observation', [alice])), { allowed: false });
  t.ok((await policy.decide(contextFor(grantee, [scope('user', '*')], { purpose: 'research' }), search('Observation', [alice]))).allowed);
});

t.test('unknown patients read as not found; stale permissions as unavailable', async (t) => {
  const clock = { now: T0 * 1000 };
  const { policy, freshness } = policyWith([entry({})], clock);
  const ctx = contextFor(grantee, [scope('user', '*')]);
  t.match(await policy.decide(ctx, { resourceType: 'Patient', action: 'read', patients: [bob], includeTypes: [] }), { allowed: false, status: 404 });
  freshness.observe({ cursor: 10, head: 13, headSeenAt: clock.now }, clock.now);
  t.match(await policy.decide(ctx, search('Observation', [alice])), { allowed: false, status: 503, reason: /trail the chain by 3 blocks/ });
  freshness.observe({ cursor: 13, head: 13, headSeenAt: clock.now }, clock.now);
  t.ok((await policy.decide(ctx, search('Observation', [alice]))).allowed);
  clock.now += 6_000;
  t.match(await policy.decide(ctx, search('Observation', [alice])), { allowed: false, status: 503 }, 'no word from the follower beyond the bound');
  t.match(await policy.decide(undefined, search('Observation', [alice])), { allowed: false, status: 403 });
});
