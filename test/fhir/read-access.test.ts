/**
 * Reads under the chain-backed access policy: access is decided before a source is asked, and the
 * answer never says more than the caller may know: another patient's record is as not-found as an
 * id that does not exist; a type the caller's grants do not reach is 403 whatever the id.
 */
import t from 'tap';
import type { AccessContext } from '../../server/access/access-context.ts';
import type { AccessPolicy } from '../../server/access/access-policy.ts';
import type { PermissionEntry, PermissionSnapshot } from '../../server/access/permission-snapshot.ts';
import { ChainAccessPolicy } from '../../server/authz/chain-access-policy.ts';
import type { AccessDecisionRecord } from '../../server/authz/chain-access-policy.ts';
import { SyncFreshness } from '../../server/authz/sync-freshness.ts';
import { demoAddress } from '../../server/embedded/demo-identities.ts';
import { parseResourceScope } from '../../smart-on-fhir/scopes.ts';
import { alice, bob, demoApp, demoFederatedSources, json } from './fhir-app.ts';

const clinician = demoAddress('clinician');
const entry = (e: Partial<PermissionEntry> & Pick<PermissionEntry, 'patient'>): PermissionEntry => ({
  providers: '*', resourceTypes: '*', actions: ['read', 'search'], purpose: 'any', notBefore: 0, expiresAt: 0, basis: 'grant', ...e,
});
const snapshots: Record<string, PermissionEntry[]> = {
  [alice]: [entry({ patient: alice, basis: 'self' })],
  // The clinician may read alice's Conditions at the hospital, nothing else.
  [clinician]: [entry({ patient: alice, providers: [demoAddress('hospital')], resourceTypes: ['Condition'] })],
};
const freshness = new SyncFreshness({ maxHeadAgeMs: 24 * 3600_000, maxRedisSilenceMs: 24 * 3600_000 });
freshness.observe({ cursor: 1, head: 1, headSeenAt: Date.now() });
// What the audit trail is handed: one record per access.
const decisions: AccessDecisionRecord[] = [];
let decides = 0;
const chainPolicy = new ChainAccessPolicy({
  snapshots: { get: async (subject): Promise<PermissionSnapshot> => ({ subject, blockNumber: 1, entries: snapshots[subject] ?? [] }) },
  freshness,
  sources: () => sources,
  onDecision: (record) => decisions.push(record),
});
const policy: AccessPolicy = { decide: (context, request) => ((decides += 1), chainPolicy.decide(context, request)) };

// Counts the reads that reach each source (the embedded adapters themselves answer them).
const reads: Record<string, number> = {};
const sources = (await demoFederatedSources()).map((s) => {
  const adapter = s.adapter;
  return {
    ...s,
    adapter: {
      sourceId: adapter.sourceId,
      capabilities: () => adapter.capabilities(),
      read: (type: string, id: string, signal: AbortSignal) => ((reads[s.sourceId] = (reads[s.sourceId] ?? 0) + 1), adapter.read(type, id, signal)),
      search: adapter.search.bind(adapter),
      health: adapter.health.bind(adapter),
      close: adapter.close.bind(adapter),
    },
  };
});
const app = await demoApp({ sources, accessPolicy: policy });
const contexts: Record<string, AccessContext> = {
  alice: { clientId: 'patient-app', subject: alice, patient: alice, scopes: [parseResourceScope('patient/*.rs')!] },
  clinician: { clientId: 'clinician-app', subject: clinician, scopes: [parseResourceScope('user/*.rs')!] },
};
app.addHook('onRequest', async (request) => {
  const who = request.headers['x-test-caller'];
  if (typeof who === 'string') request.accessContext = contexts[who];
});
t.teardown(() => app.close());

const open = await demoApp();
t.teardown(() => open.close());
async function firstId(type: string, patient: string): Promise<string> {
  return json(await open.inject({ method: 'GET', url: `/fhir/${type}?patient=${patient}&_count=1` })).entry[0].resource.id as string;
}
const read = (caller: string, path: string) => app.inject({ method: 'GET', url: `/fhir/${path}`, headers: { 'x-test-caller': caller } });

t.test("another patient's record is not found, exactly like an id that does not exist", async (t) => {
  const own = await read('alice', `Observation/${await firstId('Observation', alice)}`);
  t.equal(own.statusCode, 200);
  const other = await read('alice', `Observation/${await firstId('Observation', bob)}`);
  const madeUp = await read('alice', 'Observation/hospital.no-such-observation');
  t.equal(other.statusCode, 404);
  t.equal(madeUp.statusCode, 404);
  t.equal(json(other).issue[0].code, json(madeUp).issue[0].code);
  t.equal((await read('alice', `Patient/${bob}`)).statusCode, 404, "another patient's merged Patient too");
  const clinicianOnBob = await read('clinician', `Condition/${await firstId('Condition', bob)}`);
  t.equal(clinicianOnBob.statusCode, 404, 'a patient the caller has nothing to do with is not found');
});

t.test('a type no grant reaches at that provider is refused before the source is asked, whatever the id', async (t) => {
  t.equal((await read('clinician', `Condition/${await firstId('Condition', alice)}`)).statusCode, 200, 'the granted type is readable');
  const before = reads.hospital ?? 0;
  const observation = await read('clinician', `Observation/${await firstId('Observation', alice)}`);
  const madeUp = await read('clinician', 'Observation/hospital.no-such-observation');
  t.equal(observation.statusCode, 403);
  t.equal(madeUp.statusCode, 403);
  t.same(json(observation).issue, json(madeUp).issue, 'the same answer for a real and a made-up id');
  t.equal(reads.hospital ?? 0, before, 'the source was never asked');
  const clinicCondition = await read('clinician', 'Condition/clinic.anything');
  t.equal(clinicCondition.statusCode, 403, 'nor is a provider the grant does not name');
});

t.test('a read is one access decision and one audit record, naming the patient of the record read', async (t) => {
  const own = await firstId('Observation', alice);
  const others = await firstId('Observation', bob);
  const condition = await firstId('Condition', alice);
  const observed = async (caller: string, path: string) => {
    decisions.length = 0;
    decides = 0;
    const res = await read(caller, path);
    return { status: res.statusCode, decides, records: decisions.map(({ at: _at, ...r }) => r) };
  };

  const served = await observed('alice', `Observation/${own}`);
  t.equal(served.status, 200);
  t.equal(served.decides, 1, 'the policy is asked once');
  t.match(served.records, [{ subject: alice, resourceType: 'Observation', action: 'read', outcome: 'allowed', status: 200, patients: [alice], sources: [own.split('.')[0]] }]);
  t.equal(served.records.length, 1, 'one record');

  const hidden = await observed('alice', `Observation/${others}`);
  t.equal(hidden.status, 404);
  t.equal(hidden.decides, 1);
  t.match(hidden.records, [{ outcome: 'refused', status: 404, patients: [bob] }], "the refused read is recorded under the record's patient");
  t.equal(hidden.records.length, 1);

  const beyondGrant = await observed('clinician', `Observation/${own}`);
  t.equal(beyondGrant.status, 403);
  t.match(beyondGrant.records, [{ subject: clinician, outcome: 'refused', status: 403, patients: [] }], 'refused before the source is asked: no patient known');
  t.equal(beyondGrant.records.length, 1);

  const granted = await observed('clinician', `Condition/${condition}`);
  t.equal(granted.status, 200);
  t.equal(granted.decides, 1);
  t.match(granted.records, [{ subject: clinician, outcome: 'allowed', patients: [alice] }]);
  t.equal(granted.records.length, 1);

  const merged = await observed('alice', `Patient/${alice}`);
  t.equal(merged.status, 200);
  t.equal(merged.decides, 1, 'a merged Patient read too');
  t.match(merged.records, [{ resourceType: 'Patient', outcome: 'allowed', patients: [alice] }]);
  t.equal(merged.records.length, 1);
});
