import t from 'tap';
import { Redis } from 'ioredis';
import { startRedisServer } from '../../server/embedded/redis-server.ts';
import { demoAddress } from '../../server/embedded/demo-identities.ts';
import { startAuthorization } from '../../server/authz/authorization.ts';
import { startTestChain, terms } from './support/test-chain.ts';
import { eventually } from './support/authz-fixtures.ts';

const alice = demoAddress('alice');
const bob = demoAddress('bob');
const pharmacy = demoAddress('pharmacy');

t.test('a new-heads subscription wakes the follower between scheduled runs, and survives the node restarting', async (t) => {
  const [redisServer, chain] = await Promise.all([startRedisServer(), startTestChain()]);
  const authz = await startAuthorization({
    redisUrl: redisServer.url,
    chain: { rpcUrl: chain.url, chainId: 31337, contracts: chain.contracts, fromBlock: chain.deployBlock, wsUrl: `ws://127.0.0.1:${chain.port}` },
    keyPrefix: 'wake:',
    queuePrefix: 'wake',
    // The schedule alone would not run again during this test.
    syncEveryMs: 600_000,
  });
  t.teardown(async () => {
    await authz.close();
    await chain.close();
    await redisServer.stop();
  });
  const folded = (block: number) => eventually(`block ${block} folded`, () => (authz.freshness.state().cursor >= block ? true : undefined));
  await folded(await chain.provider.getBlockNumber());

  const first = await chain.send('alice', 'Consent', 'createGrant', alice, pharmacy, terms({}));
  await folded(first);
  t.pass('a block announced over the subscription was folded without waiting for the schedule');

  await chain.stop();
  await chain.restart();
  const second = await chain.send('bob', 'Consent', 'createGrant', bob, pharmacy, terms({}));
  await folded(second);
  t.pass('after the node restarted, the subscription came back by itself');
  // No request has asked for the pharmacy's snapshot: a rebuild job warms the shared copy.
  const probe = new Redis(redisServer.url);
  t.teardown(() => probe.disconnect());
  const shared = await eventually('the rebuild job wrote the snapshot', async () => {
    const [raw, version] = await probe.mget(authz.keys.snapshot(pharmacy), authz.keys.subjectVersion(pharmacy));
    const parsed = raw ? (JSON.parse(raw) as { version: number; snapshot: { entries: { patient: string }[] } }) : undefined;
    return parsed && parsed.version === Number(version) ? parsed : undefined;
  });
  t.equal(shared.snapshot.entries.length, 3, 'self and the two grants');
  const patients = (await authz.snapshots.get(pharmacy)).entries.filter((e) => e.basis === 'grant').map((e) => e.patient);
  t.same(patients.sort(), [alice, bob].sort());
});
