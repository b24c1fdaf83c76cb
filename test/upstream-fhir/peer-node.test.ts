/**
 * Another MedRec-FHIR node as an upstream: node B is the whole server (buildApp: FHIR spine over
 * the embedded demo sources, SMART authorization server, chain-style access policy) on loopback;
 * node A reaches it through the `medrec-peer` preset. Both are providers in a real
 * ProviderRegistry on anvil: A reads B's FHIR base from B's record, and B's SMART server knows A
 * only from A's record (client_id = A's provider address, keys at the node JWKS beside A's
 * registered FHIR base), with no client configuration. B applies its own grants: A's provider
 * may see alice only.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JsonRpcProvider, NonceManager, Wallet } from 'ethers';
import { Redis } from 'ioredis';
import t from 'tap';
import { createFhirAdapterFactory, type FhirUpstreamAdapter } from '../../adapters/fhir/fhir-adapter.ts';
import { loadNodeKey } from '../../adapters/fhir/node-keys.ts';
import { providerRegistryFhirBase } from '../../adapters/fhir/provider-fhir-base.ts';
import { connectProviderRegistry } from '../../contracts/bindings/ProviderRegistry.ts';
import { deployMedRec } from '../../contracts/deployment.ts';
import type { AccessContext } from '../../server/access/access-context.ts';
import type { PermissionSnapshot } from '../../server/access/permission-snapshot.ts';
import { buildApp } from '../../server/app.ts';
import { ChainAccessPolicy } from '../../server/authz/chain-access-policy.ts';
import { SyncFreshness } from '../../server/authz/sync-freshness.ts';
import { closeSources, openSources } from '../../server/config/open-sources.ts';
import { startAnvil } from '../../server/embedded/chain.ts';
import { demoAddress, demoWallet } from '../../server/embedded/demo-identities.ts';
import { DEMO_PATIENT_LINKS } from '../../server/embedded/demo-links.ts';
import { demoSources } from '../../server/embedded/demo-sources.ts';
import { startRedisServer } from '../../server/embedded/redis-server.ts';
import { InMemoryPatientLinks } from '../../server/fhir/patient-links.ts';
import { freePort } from '../../server/util/free-port.ts';
import { chainDirectory } from '../../smart-on-fhir/chain-directory.ts';
import { parseResourceScope } from '../../smart-on-fhir/scopes.ts';
import { recordingLogger, signal, testContext } from './support/fixtures.ts';
import { hostNodeJwks } from './support/node-jwks-host.ts';

const nodeA = '0x00000000000000000000000000000000000000aa';
// Node B's provider is the demo hospital, whose records node B serves among others.
const nodeB = demoAddress('hospital');
const alice = demoAddress('alice');
const bob = demoAddress('bob');
const dataDir = mkdtempSync(join(tmpdir(), 'medrec-upstream-peer-'));

// Node A's Backend Services key, published where every node publishes it: beside its FHIR base.
const keyA = await loadNodeKey({ dataDir });
const jwksA = await hostNodeJwks([keyA]);
t.teardown(() => jwksA.close());
const originA = new URL(jwksA.jwksUrl).origin;
const port = await freePort();
const originB = `http://127.0.0.1:${port}`;

// The network: a real ProviderRegistry on anvil with both nodes' records.
const anvil = await startAnvil();
t.teardown(() => anvil.stop());
const chain = new JsonRpcProvider(anvil.rpcUrl, anvil.chainId, { staticNetwork: true });
t.teardown(() => chain.destroy());
const deployment = await deployMedRec(new NonceManager(new Wallet(demoWallet('operator').privateKey, chain)), [
  { account: nodeA, name: 'Node A', fhirBaseUrl: `${originA}/fhir`, node: '0x00000000000000000000000000000000000000c1' },
  { account: nodeB, name: 'Node B', fhirBaseUrl: `${originB}/fhir`, node: '0x00000000000000000000000000000000000000c2' },
]);
const registry = connectProviderRegistry(deployment.addresses.providerRegistry, chain);
const directory = chainDirectory(chain, deployment.addresses);

// Node B: the whole server, its SMART server resolving backend clients from the chain.
const redisServer = await startRedisServer();
const redis = new Redis(redisServer.url, { maxRetriesPerRequest: 2 });
const log = recordingLogger();
const sources = await openSources(demoSources(), { log, dataDir, redisUrl: redisServer.url });
const freshness = new SyncFreshness({ maxHeadAgeMs: 24 * 3600_000, maxRedisSilenceMs: 24 * 3600_000 });
freshness.observe({ cursor: 1, head: 1, headSeenAt: Date.now() });
const snapshot = async (subject: string): Promise<PermissionSnapshot> => ({
  subject,
  blockNumber: 1,
  entries: subject === nodeA
    ? [{ patient: alice, providers: '*', resourceTypes: '*', actions: ['read', 'search'], purpose: 'treatment', notBefore: 0, expiresAt: 0, basis: 'grant', ref: 'grant-alice-to-node-a' }]
    : [],
});
const appB = await buildApp(
  { publicUrl: originB, cursorSecret: 'peer-node-test-secret-peer-node-test', sourceTimeoutMs: 5000, bodyLimit: 1_048_576, logLevel: 'silent' },
  {
    sources,
    patientLinks: new InMemoryPatientLinks(DEMO_PATIENT_LINKS.map((l) => ({ patient: demoAddress(l.patient), sourceId: l.sourceId, localId: l.localId }))),
    accessPolicy: new ChainAccessPolicy({ snapshots: { get: snapshot }, freshness }),
    smart: {
      publicUrl: originB,
      redis,
      prefix: `peer${port}:`,
      clients: [],
      permissionSnapshot: snapshot,
      resolveParticipantClient: directory.resolveParticipantClient,
    },
  },
);
await appB.listen({ port, host: '127.0.0.1' });
t.teardown(async () => {
  await appB.close();
  await closeSources(sources);
  redis.disconnect();
  await redisServer.stop();
});

// Node A's view of B: a `medrec-peer` source whose provider is B's; A calls as its own provider.
const resolved: string[] = [];
const fromChain = providerRegistryFhirBase(registry);
const factory = createFhirAdapterFactory({
  nodeKey: keyA,
  resolvePeerBaseUrl: async (provider, signal) => {
    resolved.push(provider);
    return fromChain(provider, signal);
  },
});
const contextA = { ...testContext(dataDir), nodeProvider: nodeA };
const peer = (await factory(
  { id: 'peer-b', kind: 'fhir', provider: nodeB, name: 'Node B', options: { preset: 'medrec-peer', auth: { jwksUrl: jwksA.jwksUrl } } },
  contextA,
)) as FhirUpstreamAdapter;
t.teardown(() => peer.close());

t.test('a current provider is a Backend Services client of every node, its keys at the node JWKS beside its FHIR base', async (t) => {
  t.same(await directory.resolveParticipantClient(nodeA), { address: nodeA, displayName: 'Node A', jwksUri: jwksA.jwksUrl });
  t.equal(await directory.resolveParticipantClient('0x00000000000000000000000000000000000000dd'), undefined, 'an address the network has not admitted is no client');
});

t.test('the peer base comes from the provider registry on chain and its capabilities from its metadata', async (t) => {
  t.same(resolved, [nodeB]);
  t.equal(peer.baseUrl, `${originB}/fhir/`);
  await t.rejects(
    factory({ id: 'peer-x', kind: 'fhir', provider: '0x00000000000000000000000000000000000000dd', name: 'Not a provider', options: { preset: 'medrec-peer' } }, contextA),
    /is not a current provider/,
    'an address the network has not admitted is never asked',
  );
  await t.rejects(
    factory({ id: 'peer-y', kind: 'fhir', provider: nodeB, name: 'Node B', options: { preset: 'medrec-peer' } }, testContext(dataDir)),
    /auth.clientId is required: the provider address this node acts as/,
    'a node that does not know its own provider says so',
  );
  const resources = peer.capabilities().resources;
  t.ok(resources.MedicationRequest, 'the peer searches MedicationRequest');
  t.ok(resources.Patient);
});

t.test('node A searches node B for a patient B lets it see, as a Backend Services client', async (t) => {
  const page = await peer.search({ resourceType: 'MedicationRequest', filters: [], patients: [alice], count: 100 }, signal());
  t.ok(page.resources.length > 0);
  t.ok(page.resources.every((r) => r.resourceType === 'MedicationRequest' && r.subject?.reference === `Patient/${alice}`));
  const again = await peer.search({ resourceType: 'Condition', filters: [], patients: [alice], count: 5 }, signal());
  t.ok(again.resources.length >= 0);
  t.equal(peer.backendServices?.tokenRequests, 1, 'one token for both searches');
  const patient = await peer.read('Patient', alice, signal());
  t.equal(patient?.id, alice);
});

t.test('node B applies its own grants: a patient not granted to node A is refused there', async (t) => {
  await t.rejects(peer.search({ resourceType: 'MedicationRequest', filters: [], patients: [bob], count: 10 }, signal()), { name: 'SourceUnavailableError', message: /HTTP 403/ });
});

t.test('paging through node B follows its sealed cursor links inside our page token', async (t) => {
  const ids: string[] = [];
  let page: string | undefined;
  let pages = 0;
  do {
    const result = await peer.search({ resourceType: 'Observation', filters: [], patients: [alice], count: 5, page }, signal());
    ids.push(...result.resources.map((r) => r.id as string));
    page = result.next;
    pages += 1;
  } while (page && pages < 40);
  const all = await peer.search({ resourceType: 'Observation', filters: [], patients: [alice], count: 500 }, signal());
  t.ok(pages > 1, 'more than one page');
  t.equal(ids.length, all.resources.length);
  t.equal(new Set(ids).size, ids.length);
});

t.test("node A's own FHIR API answers a patient's search with node B's records, as provider B's records", async (t) => {
  // Node A's grants name providers: a pharmacy allowed alice's MedicationRequests at provider B
  // sees them, one allowed them only at provider A's own sources does not.
  const grantAt = (provider: string): PermissionSnapshot['entries'] => [
    { patient: alice, providers: [provider], resourceTypes: ['MedicationRequest'], actions: ['read', 'search'], purpose: 'treatment', notBefore: 0, expiresAt: 0, basis: 'grant', ref: `grant-${provider}` },
  ];
  const subjects: Record<string, PermissionSnapshot['entries']> = { [demoAddress('pharmacy')]: grantAt(nodeB), [demoAddress('researcher')]: grantAt(nodeA) };
  const appA = await buildApp(
    { cursorSecret: 'peer-node-test-secret-node-a-side-1', sourceTimeoutMs: 5000, bodyLimit: 65_536, logLevel: 'silent' },
    {
      sources: [{ sourceId: 'peer-b', provider: nodeB, name: 'Node B', adapter: peer }],
      patientLinks: new InMemoryPatientLinks([{ patient: alice, sourceId: 'peer-b', localId: alice }]),
      accessPolicy: new ChainAccessPolicy({ snapshots: { get: async (subject) => ({ subject, blockNumber: 1, entries: subjects[subject] ?? [] }) }, freshness }),
    },
  );
  const scope = parseResourceScope('system/MedicationRequest.rs');
  appA.addHook('onRequest', async (request) => {
    const subject = request.headers['x-test-subject'];
    if (typeof subject === 'string' && scope) request.accessContext = { clientId: subject, subject, scopes: [scope] } satisfies AccessContext;
  });
  t.teardown(() => appA.close());
  const search = async (subject: string) => {
    const res = await appA.inject({ method: 'GET', url: `/fhir/MedicationRequest?patient=${alice}&_count=100`, headers: { 'x-test-subject': subject } });
    t.equal(res.statusCode, 200);
    const bundle = JSON.parse(res.body) as { entry?: { resource: { id: string; subject?: { reference?: string }; meta?: { source?: string } }; search?: { mode?: string } }[] };
    return (bundle.entry ?? []).filter((e) => e.search?.mode === 'match').map((e) => e.resource);
  };
  const found = await search(demoAddress('pharmacy'));
  const direct = await peer.search({ resourceType: 'MedicationRequest', filters: [], patients: [alice], count: 100 }, signal());
  t.ok(found.length > 0);
  t.equal(found.length, direct.resources.length);
  t.ok(found.every((r) => r.subject?.reference === `Patient/${alice}` && r.id.length <= 64));
  const provenance = found.map((r) => r.meta?.source ?? '');
  t.ok(provenance.every((s) => s.startsWith(`urn:medrec:provider:${nodeB}#`)), 'meta.source names provider B, never node A');
  t.ok(provenance.includes(`urn:medrec:provider:${nodeB}#hospital`), "node B's own provenance of its hospital records is kept");
  t.same(await search(demoAddress('researcher')), [], "a grant for provider A's records does not open provider B's");
});
