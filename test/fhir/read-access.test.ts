/**
 * Reads under the chain-backed access policy: access is decided before a source is asked, and the
 * answer never says more than the caller may know: another patient's record is as not-found as an
 * id that does not exist; a type the caller's grants do not reach is 403 whatever the id.
 */
import t from 'tap';
import { badRequest, OperationOutcomeError } from '@medplum/core';
import { Redis } from 'ioredis';
import type { Resource } from '@medplum/fhirtypes';
import type { AccessContext } from '../../server/access/access-context.ts';
import type { AccessPolicy } from '../../server/access/access-policy.ts';
import type { PermissionEntry, PermissionSnapshot } from '../../server/access/permission-snapshot.ts';
import { ChainAccessPolicy } from '../../server/authz/chain-access-policy.ts';
import type { AccessDecisionRecord } from '../../server/authz/chain-access-policy.ts';
import { SyncFreshness } from '../../server/authz/sync-freshness.ts';
import { demoAddress } from '../../server/embedded/demo-identities.ts';
import { startRedisServer } from '../../server/embedded/redis-server.ts';
import { RedisDigestMap } from '../../server/fhir/redis-digest-map.ts';
import { EmbeddedAdapter } from '../../adapters/embedded/embedded-adapter.ts';
import { parseResourceScope } from '../../smart-on-fhir/scopes.ts';
import { alice, bob, demoApp, demoFederatedSources, demoLinks, json, source } from './fhir-app.ts';

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
      read: (type: string, id: string, signal: AbortSignal) => {
        reads[s.sourceId] = (reads[s.sourceId] ?? 0) + 1;
        // `rejected-…` ids are refused by the adapter as bad input (400); `hanging-…` ones never answered.
        if (id.startsWith('rejected-')) return Promise.reject(new OperationOutcomeError(badRequest('the source rejects this id')));
        if (id.startsWith('hanging-')) return new Promise<never>(() => undefined);
        return adapter.read(type, id, signal);
      },
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
  // Alice's Patient only if its gender is `unknown` (it is not), her Observations unconstrained.
  aliceConstrained: {
    clientId: 'patient-app', subject: alice, patient: alice,
    scopes: [parseResourceScope('patient/Patient.rs?gender=unknown')!, parseResourceScope('patient/Observation.rs')!],
  },
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
/** A request's answer, the policy calls it made and the audit records it left. */
async function observed(caller: string, path: string) {
  decisions.length = 0;
  decides = 0;
  const res = await read(caller, path);
  return { status: res.statusCode, body: res.body, decides, records: decisions.map(({ at: _at, ...r }) => r) };
}

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

t.test('every way an allowed read ends leaves exactly one audit record, with the status answered', async (t) => {
  const rejected = await observed('alice', 'Observation/hospital.rejected-1');
  t.equal(rejected.status, 400, "the adapter's refusal of the input is the client's error");
  t.match(rejected.records, [{ resourceType: 'Observation', outcome: 'refused', status: 400, sources: ['hospital'] }]);
  t.equal(rejected.records.length, 1);

  const timedOut = await observed('alice', 'Observation/hospital.hanging-1');
  t.equal(timedOut.status, 504);
  t.match(timedOut.records, [{ outcome: 'refused', status: 504, reason: 'the source did not answer in time' }], 'a timeout is recorded as the 504 it was');
  t.equal(timedOut.records.length, 1);

  const invalid = await observed('alice', `Observation/${await firstId('Observation', alice)}?_summary=count`);
  t.equal(invalid.status, 400);
  t.same(invalid.records, [], 'a request refused before the read is no read: nothing allowed is recorded');
});

t.test("a merged Patient outside the token's constraints is recorded as the 403 answered", async (t) => {
  const read = await observed('aliceConstrained', `Patient/${alice}`);
  t.equal(read.status, 403);
  t.equal(read.decides, 1);
  t.match(read.records, [{ resourceType: 'Patient', outcome: 'refused', status: 403, patients: [alice] }]);
  t.equal(read.records.length, 1);

  const everything = await observed('aliceConstrained', `Patient/${alice}/$everything`);
  t.equal(everything.status, 200);
  const served = JSON.parse(everything.body).entry.map((e: { resource: Resource }) => e.resource.resourceType);
  t.notOk(served.includes('Patient'), 'the Patient is left out of $everything');
  t.ok(served.includes('Observation'), 'the rest of the compartment is not');
  const patientReads = everything.records.filter((r) => r.resourceType === 'Patient');
  t.match(patientReads, [{ action: 'read', outcome: 'refused', status: 403, patients: [alice] }], 'its read is recorded as refused');
  t.equal(patientReads.length, 1);
});

t.test('a read answered 503 because its ids cannot be stored is recorded as 503, not as served', async (t) => {
  const redisServer = await startRedisServer();
  t.teardown(() => redisServer.stop());
  const redis = new Redis(redisServer.url, { maxRetriesPerRequest: 1 });
  redis.on('error', () => undefined);
  t.teardown(() => redis.disconnect());
  // A record of alice's whose reference names a local id too long to be direct: reading it issues a digested id.
  const links = demoLinks();
  links.add({ patient: alice, sourceId: 'longids', localId: 'p' });
  const records = [
    { resourceType: 'Patient', id: 'p' },
    { resourceType: 'Medication', id: 'm'.repeat(60) },
    { resourceType: 'MedicationRequest', id: 'mr', status: 'active', intent: 'order', subject: { reference: 'Patient/p' }, medicationReference: { reference: `Medication/${'m'.repeat(60)}` } },
  ] as Resource[];
  const withStore = await demoApp({
    extraSources: [source('longids', new EmbeddedAdapter('longids', records))],
    accessPolicy: policy,
    deps: { patientLinks: links, idDigests: new RedisDigestMap(redis, { keyPrefix: `read-access-${process.pid}:` }) },
  });
  withStore.addHook('onRequest', async (request) => {
    request.accessContext = contexts.alice;
  });
  t.teardown(() => withStore.close());
  await redisServer.stop();
  decisions.length = 0;
  const res = await withStore.inject({ method: 'GET', url: '/fhir/MedicationRequest/longids.mr' });
  const unstored = { status: res.statusCode, records: decisions.map(({ at: _at, ...r }) => r) };
  t.equal(unstored.status, 503, 'the id store is away');
  t.match(unstored.records, [{ outcome: 'refused', status: 503, patients: [alice], sources: ['longids'] }]);
  t.equal(unstored.records.length, 1, 'one record, and not an allowed one');
});
