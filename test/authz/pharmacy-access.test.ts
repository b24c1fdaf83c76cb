/**
 * The done-when of chain-backed authorization, over HTTP on the embedded demo: the demo chain
 * (anvil, contracts, seed), a private redis-server, the demo sources, the FHIR app with the
 * chain-backed policy, audit routes and metrics. The pharmacy sees every demo patient's
 * MedicationRequests that granted it, across providers, and nothing else; a patient who revokes
 * sees it refused on the next request after the block.
 */
import t from 'tap';
import type { FastifyInstance } from 'fastify';
import { startRedisServer } from '../../server/embedded/redis-server.ts';
import { startEmbeddedChain } from '../../server/embedded/chain.ts';
import { demoAddress, demoWallet } from '../../server/embedded/demo-identities.ts';
import { startAuthorization } from '../../server/authz/authorization.ts';
import { auditRoutes } from '../../server/audit/audit-routes.ts';
import { createMetrics } from '../../server/metrics/metrics.ts';
import { metricsPlugin } from '../../server/metrics/metrics-plugin.ts';
import type { AccessContext } from '../../server/access/access-context.ts';
import { demoApp, json } from '../fhir/fhir-app.ts';
import { contextFor, embeddedDemoSources, eventually, scope } from './support/authz-fixtures.ts';

const alice = demoAddress('alice');
const bob = demoAddress('bob');
const carol = demoAddress('carol');
const dave = demoAddress('dave');
const pharmacy = demoAddress('pharmacy');

const clinician = demoAddress('clinician');
const proxy = demoAddress('proxy');
const hospital = demoAddress('hospital');

const contexts: Record<string, AccessContext> = {
  pharmacy: contextFor(pharmacy, [scope('system', '*')], { clientId: 'corner-pharmacy' }),
  clinician: contextFor(clinician, [scope('user', '*')], { clientId: 'clinic-app' }),
  proxy: contextFor(proxy, [scope('user', '*')], { clientId: 'proxy-app' }),
  alice: contextFor(alice, [scope('patient', '*')], { clientId: 'patient-app', patient: alice }),
  // Signed in, broad scopes, but nobody granted it anything.
  stranger: contextFor('0x00000000000000000000000000000000000057a2', [scope('user', '*')], { clientId: 'stranger-app' }),
};

t.test('the pharmacy sees exactly the MedicationRequests patients granted it, until revoked', async (t) => {
  // Each part is released even when a later one fails to start (teardowns run last-in first-out).
  const redisServer = await startRedisServer();
  t.teardown(() => redisServer.stop());
  const chain = await startEmbeddedChain({ blockTime: 0 });
  t.teardown(() => chain.stop());
  const sources = await embeddedDemoSources();
  t.teardown(() => Promise.all(sources.map((s) => s.adapter.close())));
  const metrics = createMetrics({ defaultMetrics: false });
  const authz = await startAuthorization({
    redisUrl: redisServer.url,
    chain: { rpcUrl: chain.rpcUrl, chainId: chain.chainId, contracts: chain.addresses, fromBlock: chain.deployment.fromBlock },
    keyPrefix: 'pharmacy-test:',
    queuePrefix: 'pharmacy-test',
    syncEveryMs: 100,
    sources: () => sources,
    metrics,
  });
  t.teardown(() => authz.close());
  const app: FastifyInstance = await demoApp({ sources, accessPolicy: authz.policy });
  t.teardown(() => app.close());
  // Stands in for the SMART layer's hook: the access context comes from a test header.
  app.addHook('onRequest', async (request) => {
    const who = request.headers['x-test-as'];
    if (typeof who === 'string') request.accessContext = contexts[who];
  });
  await app.register(auditRoutes, { prefix: '/fhir', trail: authz.audit, snapshots: authz.snapshots, freshness: authz.freshness, contextOf: (r) => r.accessContext });
  await app.register(metricsPlugin, { metrics });
  const head = await chain.provider.getBlockNumber();
  await eventually('authorization synced with the seeded chain', () => (authz.freshness.state().cursor >= head ? true : undefined));
  const as = (who: string, url: string) => app.inject({ url, headers: { 'x-test-as': who } });
  const subjects = (bundle: { entry?: { resource: { subject?: { reference?: string } } }[] }) =>
    new Set((bundle.entry ?? []).map((e) => e.resource.subject?.reference));
  const providers = (bundle: { entry?: { resource: { meta?: { source?: string } } }[] }) =>
    new Set((bundle.entry ?? []).map((e) => e.resource.meta?.source));

  t.test('across providers, only the granting patients', async (t) => {
    const res = await as('pharmacy', '/fhir/MedicationRequest?_count=200');
    t.equal(res.statusCode, 200);
    const bundle = json(res);
    t.same([...subjects(bundle)].sort(), [`Patient/${alice}`, `Patient/${bob}`].sort(), 'alice and bob granted it; carol and dave did not');
    t.ok(providers(bundle).size >= 2, 'records come from more than one provider');
    // The same as what alice and bob see of their own MedicationRequests.
    const own = json(await as('alice', `/fhir/MedicationRequest?patient=${alice}&_count=200`));
    const pharmacyAlice = json(await as('pharmacy', `/fhir/MedicationRequest?patient=${alice}&_count=200`));
    t.equal(pharmacyAlice.entry?.length, own.entry?.length, "the pharmacy sees all of alice's MedicationRequests");
  });

  t.test('nothing else', async (t) => {
    t.equal((await as('pharmacy', `/fhir/MedicationRequest?patient=${carol}`)).statusCode, 403, 'a patient who did not grant it');
    t.equal((await as('pharmacy', `/fhir/MedicationRequest?patient=${dave}`)).statusCode, 403);
    t.equal((await as('pharmacy', `/fhir/Observation?patient=${alice}`)).statusCode, 403, 'a type outside the grant');
    const obs = json(await as('pharmacy', '/fhir/Observation'));
    t.equal(obs.entry?.length ?? 0, 0, 'a search without a patient is narrowed to nothing');
    t.equal((await as('pharmacy', `/fhir/Patient/${carol}`)).statusCode, 404, 'existence of an unrelated patient does not leak');
    t.equal((await as('alice', `/fhir/MedicationRequest?patient=${bob}`)).statusCode, 403, "a patient app cannot read another patient's records");
  });

  t.test('_include, compartment and $everything obey the same grants', async (t) => {
    const withPatients = json(await as('pharmacy', `/fhir/MedicationRequest?patient=${alice}&_include=MedicationRequest:subject&_include=MedicationRequest:medication`));
    const included = (withPatients.entry ?? []).filter((e: { search?: { mode?: string } }) => e.search?.mode === 'include');
    t.notOk(included.some((e: { resource: { resourceType: string } }) => e.resource.resourceType === 'Patient'), 'the Patient is not in the medication grant');
    t.equal((await as('pharmacy', `/fhir/Patient/${alice}/$everything`)).statusCode, 403, 'no $everything on a medication-only grant');
    // The clinician's grant from alice names the hospital only.
    const obs = json(await as('clinician', `/fhir/Patient/${alice}/Observation?_count=200`));
    t.ok((obs.entry ?? []).length > 0, 'the clinician sees observations through the compartment');
    t.same([...providers(obs)], [`urn:medrec:provider:${hospital}#hospital`], 'only from the provider the grant names: the planner asks no other');
    const everything = json(await as('clinician', `/fhir/Patient/${alice}/$everything`));
    const sourcesSeen = new Set((everything.entry ?? []).filter((e: { resource: { resourceType: string } }) => e.resource.resourceType !== 'Patient').map((e: { resource: { meta?: { source?: string } } }) => e.resource.meta?.source));
    t.same([...sourcesSeen], [`urn:medrec:provider:${hospital}#hospital`], '$everything too');
    t.equal((await as('clinician', `/fhir/Patient/${bob}/$everything`)).statusCode, 404, 'a patient who granted nothing is not found');
    // Dave's healthcare proxy sees what dave sees.
    const daves = json(await as('proxy', `/fhir/Patient/${dave}/$everything`));
    t.ok((daves.entry ?? []).length > 1, "the proxy reads dave's records");
    t.equal((await as('proxy', `/fhir/Patient/${carol}/$everything`)).statusCode, 404);
  });

  t.test('resources outside any patient compartment only through entries reaching their provider', async (t) => {
    const count = async (who: string, url: string) => {
      const res = await as(who, url);
      return res.statusCode === 200 ? (json(res).entry?.length ?? 0) : res.statusCode;
    };
    for (const type of ['Practitioner', 'Organization', 'Medication']) {
      t.equal(await count('stranger', `/fhir/${type}?_count=200`), 0, `a subject with no grants reads no ${type}`);
    }
    t.ok((await count('alice', '/fhir/Practitioner?_count=200')) as number > 0, "alice reads the practitioners of her own providers");
    const sourcesOf = (bundle: { entry?: { resource: { meta?: { source?: string } } }[] }) => [...providers(bundle)].map((s) => s?.split('#')[1]);
    const alicePractitioners = json(await as('alice', '/fhir/Practitioner?_count=200'));
    t.ok(sourcesOf(alicePractitioners).every((s) => ['hospital', 'clinic', 'pharmacy-records'].includes(s ?? '')), 'from her providers only');
    t.equal(await count('pharmacy', '/fhir/Practitioner?_count=200'), 0, 'the medication grant does not open Practitioner');
    t.ok((await count('pharmacy', '/fhir/Medication?_count=200')) as number > 0, 'but opens Medication');
    const someone = alicePractitioners.entry?.[0]?.resource as { id: string } | undefined;
    t.ok(someone);
    t.equal((await as('stranger', `/fhir/Practitioner/${someone?.id}`)).statusCode, 403, 'nor by id');
  });

  t.test('a patient revokes through the contracts client: refused on the next request after the block', async (t) => {
    const grantId = chain.seed?.grants['pharmacy:alice'];
    t.ok(grantId, 'the seed made the grant');
    const outcome = await chain.client.revokeGrant(demoWallet('alice').connect(chain.provider), grantId as bigint);
    await eventually('the follower folded the revoking block', () => (authz.freshness.state().cursor >= outcome.blockNumber ? true : undefined));
    t.equal((await as('pharmacy', `/fhir/MedicationRequest?patient=${alice}`)).statusCode, 403);
    const bundle = json(await as('pharmacy', '/fhir/MedicationRequest?_count=200'));
    t.same([...subjects(bundle)], [`Patient/${bob}`], "only bob's remain");
  });

  t.test("alice reads who accessed her records, and nobody else's", async (t) => {
    await authz.audit.flush();
    const trail = await eventually('audit events written', async () => {
      const res = await as('alice', `/fhir/AuditEvent?patient=${alice}`);
      const b = json(res);
      return b.entry?.some((e: { resource: { outcome: string } }) => e.resource.outcome === '4') ? b : undefined;
    });
    const byPharmacy = trail.entry.filter((e: { resource: { agent: { who: { display: string } }[] } }) => e.resource.agent[0]?.who.display === pharmacy);
    t.ok(byPharmacy.some((e: { resource: { outcome: string } }) => e.resource.outcome === '0'), "the pharmacy's allowed reads are there");
    t.ok(byPharmacy.some((e: { resource: { outcome: string } }) => e.resource.outcome === '4'), 'and its refused one after the revocation');
    t.equal((await as('alice', `/fhir/AuditEvent?patient=${bob}`)).statusCode, 403);
    t.equal((await as('pharmacy', `/fhir/AuditEvent?patient=${alice}`)).statusCode, 403);
  });

  t.test('metrics', async (t) => {
    const res = await app.inject({ url: '/metrics' });
    t.equal(res.statusCode, 200);
    t.match(res.body, /medrec_permission_snapshot_lookups_total\{result="memory"\} \d+/);
    t.match(res.body, /medrec_chain_lag_blocks \d+/);
    t.match(res.body, /medrec_http_request_duration_seconds_count\{method="GET",route="\/fhir\/AuditEvent",status_code="200"\}/);
    t.match(res.body, /medrec_queue_jobs\{queue="audit",state="waiting"\}/);
  });
});
