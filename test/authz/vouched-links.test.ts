/**
 * Patient links follow the chain after start: when a relationship ends (or its commitment is
 * replaced by one the link table does not reproduce), that provider's records stop flowing for
 * the patient on the next request after the block, while the patient's other providers go on.
 */
import t from 'tap';
import { startRedisServer } from '../../server/embedded/redis-server.ts';
import { startEmbeddedChain } from '../../server/embedded/chain.ts';
import { demoAddress, demoLinkSalt, demoWallet } from '../../server/embedded/demo-identities.ts';
import { startAuthorization } from '../../server/authz/authorization.ts';
import { demoApp, demoLinks, json } from '../fhir/fhir-app.ts';
import { contextFor, embeddedDemoSources, eventually, scope } from './support/authz-fixtures.ts';

const alice = demoAddress('alice');
const bob = demoAddress('bob');
const pharmacy = demoAddress('pharmacy');

t.test('an ended or re-committed relationship stops that provider’s records for the patient', async (t) => {
  const redisServer = await startRedisServer();
  t.teardown(() => redisServer.stop());
  const chain = await startEmbeddedChain({ blockTime: 0 });
  t.teardown(() => chain.stop());
  const sources = await embeddedDemoSources();
  t.teardown(() => Promise.all(sources.map((s) => s.adapter.close())));
  const authz = await startAuthorization({
    redisUrl: redisServer.url,
    chain: { rpcUrl: chain.rpcUrl, chainId: chain.chainId, contracts: chain.addresses, fromBlock: chain.deployment.fromBlock },
    keyPrefix: 'vouched-links:',
    queuePrefix: 'vouched-links',
    syncEveryMs: 100,
    sources: () => sources,
  });
  t.teardown(() => authz.close());

  const providerOfSource = (id: string) => sources.find((s) => s.sourceId === id)?.provider.toLowerCase();
  const table = demoLinks();
  const links = authz.vouchLinks(table, {
    providerOfSource,
    saltOf: demoLinkSalt,
  });
  const app = await demoApp({ sources, accessPolicy: authz.policy, deps: { patientLinks: links } });
  t.teardown(() => app.close());
  const context = contextFor(pharmacy, [scope('system', '*')], { clientId: 'corner-pharmacy' });
  app.addHook('onRequest', async (request) => void (request.accessContext = context));
  const head = await chain.provider.getBlockNumber();
  await eventually('synced with the seeded chain', () => (authz.freshness.state().cursor >= head ? true : undefined));
  const sourcesFor = async (patient: string) => {
    const bundle = json(await app.inject({ url: `/fhir/MedicationRequest?patient=${patient}&_count=200` }));
    return new Set((bundle.entry ?? []).map((e: { resource: { meta: { source: string } } }) => e.resource.meta.source.split('#')[1]));
  };
  const before = await eventually("bob's records from both his providers", async () => {
    const s = await sourcesFor(bob);
    return s.has('hospital') && s.has('pharmacy-records') ? s : undefined;
  });
  t.ok(before.has('pharmacy-records'));

  // bob ends his relationship with the pharmacy's dispensing records (relayed: he has no ether).
  const ended = await chain.client.endRelationship(demoWallet('bob').connect(chain.provider), demoAddress('pharmacy-records'), bob);
  await eventually('the follower folded the block', () => (authz.freshness.state().cursor >= ended.blockNumber ? true : undefined));
  const after = await sourcesFor(bob);
  t.notOk(after.has('pharmacy-records'), 'the ended relationship’s provider no longer answers for bob');
  t.ok(after.has('hospital'), 'his other provider does');
  t.same(links.localIds(bob, 'pharmacy-records'), [], 'the link no longer resolves');

  // The hospital replaces alice's commitment with one her link rows do not reproduce.
  t.ok((await sourcesFor(alice)).has('hospital'));
  const hospital = chain.client.relationships.connect(demoWallet('hospital').connect(chain.provider));
  const tx = await hospital.write('updateCommitment', [alice, `0x${'77'.repeat(32)}`]);
  const receipt = await tx.wait();
  await eventually('the follower folded the update', () => (authz.freshness.state().cursor >= (receipt?.blockNumber ?? Infinity) ? true : undefined));
  const aliceAfter = await sourcesFor(alice);
  t.notOk(aliceAfter.has('hospital'), 'a link the new commitment does not vouch for is dropped');
  t.ok(aliceAfter.has('clinic'), "alice's other providers go on");
});
