import t, { type Test } from 'tap';
import { Redis } from 'ioredis';
import { JsonRpcProvider } from 'ethers';
import { startRedisServer } from '../../server/embedded/redis-server.ts';
import { demoAddress } from '../../server/embedded/demo-identities.ts';
import { authzKeys } from '../../server/authz/authz-keys.ts';
import { MedrecEventSource } from '../../server/authz/contract-events.ts';
import { ChainFollower, syncOnce } from '../../server/authz/chain-follower.ts';
import { queueConnection } from '../../adapters/queue/queue-connection.ts';
import { readCursor } from '../../server/authz/redis-indexes.ts';
import { buildSnapshot } from '../../server/authz/snapshot-builder.ts';
import { reconcile } from '../../server/authz/reconcile.ts';
import { startTestChain, terms } from './support/test-chain.ts';
import { eventually } from './support/authz-fixtures.ts';
import { startRpcProxy } from '../support/rpc-proxy.ts';

const alice = demoAddress('alice');
const bob = demoAddress('bob');
const pharmacy = demoAddress('pharmacy');
const proxy = demoAddress('proxy');
const hospital = demoAddress('hospital');

t.test('reconcile repairs drift between Redis and the contracts, and only drift', async (t) => {
  const [redisServer, chain] = await Promise.all([startRedisServer(), startTestChain()]);
  const redis = new Redis(redisServer.url);
  t.teardown(async () => {
    redis.disconnect();
    await Promise.all([chain.close(), redisServer.stop()]);
  });
  const keys = authzKeys('reconcile-test:');
  const source = new MedrecEventSource(chain.contracts, chain.deployBlock);
  await chain.send('alice', 'ParticipantDirectory', 'register', 1, '', '');
  await chain.send('proxy', 'ParticipantDirectory', 'register', 3, 'Proxy', '');
  await chain.send('alice', 'Consent', 'createGrant', alice, pharmacy, terms({ resourceTypes: ['MedicationRequest'] }));
  await chain.send('bob', 'Consent', 'createGrant', bob, pharmacy, terms({}));
  await chain.send('alice', 'Consent', 'setDelegation', proxy, 0);
  await chain.send('hospital', 'Relationships', 'addRelationship', alice, '0x' + '22'.repeat(32));
  await syncOnce({ provider: chain.provider, source, redis, keys });
  const truth = {
    pharmacy: (await buildSnapshot(redis, keys, pharmacy)).snapshot.entries,
    proxy: (await buildSnapshot(redis, keys, proxy)).snapshot.entries,
    hospital: (await buildSnapshot(redis, keys, hospital)).snapshot.entries,
  };

  const clean = await reconcile({ provider: chain.provider, contracts: chain.contracts, redis, keys });
  t.ok(clean.applied);
  t.same(clean.repairs, [], 'indexes built from events agree with the views');
  t.equal(clean.checked.grants, 2);

  // Drift: a lost revocation-free grant, a resurrected grant, a lost delegation, a lost provider.
  await redis.srem(keys.grantsByGrantee(pharmacy), '1');
  await redis.hset(keys.grant('2'), 'record', JSON.stringify({ id: '2', patient: bob, grantee: pharmacy, revoked: true }));
  await redis.del(keys.delegatorsOf(proxy));
  await redis.hdel(keys.providers, hospital);
  await redis.hset(keys.patientsOfProvider(hospital), bob, '0x' + '33'.repeat(32));

  const repaired = await reconcile({ provider: chain.provider, contracts: chain.contracts, redis, keys });
  t.same(
    repaired.repairs.map((r) => `${r.kind} ${r.ref}`).sort(),
    ['delegation ' + proxy, 'grant 1', 'grant 2', 'provider ' + hospital, 'relationship ' + hospital].sort(),
  );
  t.same((await buildSnapshot(redis, keys, pharmacy)).snapshot.entries, truth.pharmacy);
  t.same((await buildSnapshot(redis, keys, proxy)).snapshot.entries, truth.proxy);
  t.same((await buildSnapshot(redis, keys, hospital)).snapshot.entries, truth.hospital);

  const again = await reconcile({ provider: chain.provider, contracts: chain.contracts, redis, keys });
  t.same(again.repairs, [], 'a repaired store has no drift left');
});

t.test('reconcile covers participants, studies and delegations to proxies outside the directory', async (t) => {
  const [redisServer, chain] = await Promise.all([startRedisServer(), startTestChain()]);
  const redis = new Redis(redisServer.url);
  t.teardown(async () => {
    redis.disconnect();
    await Promise.all([chain.close(), redisServer.stop()]);
  });
  const keys = authzKeys('reconcile-kinds-test:');
  const source = new MedrecEventSource(chain.contracts, chain.deployBlock);
  const researcher = demoAddress('researcher');
  await chain.send('alice', 'ParticipantDirectory', 'register', 1, '', '');
  await chain.send('researcher', 'ParticipantDirectory', 'register', 4, 'Study', '');
  await chain.send('researcher', 'Consent', 'openStudy', 'Demo study', terms({ purpose: 3 }));
  // bob's proxy never registered in the participant directory.
  await chain.send('bob', 'Consent', 'setDelegation', proxy, 0);
  await syncOnce({ provider: chain.provider, source, redis, keys });
  const clean = await reconcile({ provider: chain.provider, contracts: chain.contracts, redis, keys });
  t.same(clean.repairs, []);
  t.match(clean.checked, { participants: 2, studies: 1, delegations: 1 });

  await redis.hset(keys.participants, alice, 'pharmacy'); // wrong role
  await redis.hset(keys.participants, hospital, 'patient'); // never registered
  await redis.hdel(keys.study('1'), 'record');
  await redis.del(keys.delegatorsOf(proxy)); // lost: only the contract still knows this proxy
  await redis.hset(keys.delegatorsOf(pharmacy), alice, '0'); // a mandate the chain never had
  await redis.sadd(keys.delegates, pharmacy);
  const repaired = await reconcile({ provider: chain.provider, contracts: chain.contracts, redis, keys });
  t.same(
    repaired.repairs.map((r) => `${r.kind} ${r.ref}`).sort(),
    [`delegation ${pharmacy}`, `delegation ${proxy}`, `participant ${alice}`, `participant ${hospital}`, 'study 1'].sort(),
  );
  t.equal(await redis.hget(keys.participants, alice), 'patient');
  t.equal(await redis.hget(keys.participants, hospital), null);
  t.same(JSON.parse((await redis.hget(keys.study('1'), 'record')) ?? '{}'), { id: '1', researcher, open: true });
  t.same((await buildSnapshot(redis, keys, proxy)).snapshot.entries.filter((e) => e.basis === 'delegation').map((e) => e.patient), [bob]);
  t.same(await redis.hgetall(keys.delegatorsOf(pharmacy)), {});
  t.equal(await redis.sismember(keys.delegates, pharmacy), 0, 'a proxy without mandates leaves the sweep list');
  t.same((await reconcile({ provider: chain.provider, contracts: chain.contracts, redis, keys })).repairs, []);
});

t.test('each run compares at most a batch per kind and carries on where the last one stopped', async (t) => {
  const [redisServer, chain] = await Promise.all([startRedisServer(), startTestChain()]);
  const redis = new Redis(redisServer.url);
  t.teardown(async () => {
    redis.disconnect();
    await Promise.all([chain.close(), redisServer.stop()]);
  });
  const keys = authzKeys('reconcile-batch-test:');
  const source = new MedrecEventSource(chain.contracts, chain.deployBlock);
  for (let i = 0; i < 5; i++) await chain.send('alice', 'Consent', 'createGrant', alice, pharmacy, terms({ resourceTypes: [`Type${'ABCDE'[i]}`] }));
  for (const patient of [alice, bob, demoAddress('carol')]) await chain.send('hospital', 'Relationships', 'addRelationship', patient, '0x' + '44'.repeat(32));
  await syncOnce({ provider: chain.provider, source, redis, keys });
  await redis.srem(keys.grantsByGrantee(pharmacy), '5');
  await redis.hset(keys.patientsOfProvider(hospital), demoAddress('carol'), '0x' + '55'.repeat(32));

  const runs = [];
  for (let i = 0; i < 3; i++) runs.push(await reconcile({ provider: chain.provider, contracts: chain.contracts, redis, keys, batch: 2 }));
  t.same(runs.map((r) => r.checked.grants), [2, 2, 1], 'grants 1-2, 3-4, 5');
  t.same(runs.map((r) => r.checked.relationships), [2, 1, 2], 'relationships wrap around');
  t.same(runs.map((r) => r.repairs.map((x) => `${x.kind} ${x.ref}`)), [[], [`relationship ${hospital}`], ['grant 5']]);
  t.equal(await redis.sismember(keys.grantsByGrantee(pharmacy), '5'), 1);
  t.equal(await redis.hget(keys.patientsOfProvider(hospital), demoAddress('carol')), '0x' + '44'.repeat(32));
});

/**
 * A chain mining a block every second, followed by a follower beside the reconcile (as in a
 * running node); `folded(block)` waits until the follower has folded that block.
 */
async function followedChain(t: Test, name: string) {
  const [redisServer, chain] = await Promise.all([startRedisServer(), startTestChain({ blockTime: 1 })]);
  const redis = new Redis(redisServer.url);
  const followerRedis = new Redis(redisServer.url);
  t.teardown(async () => {
    redis.disconnect();
    followerRedis.disconnect();
    await Promise.all([chain.close(), redisServer.stop()]);
  });
  const keys = authzKeys(`${name}:`);
  const follower = await ChainFollower.start({
    provider: chain.provider,
    source: new MedrecEventSource(chain.contracts, chain.deployBlock),
    redis: followerRedis,
    keys,
    connection: queueConnection(redisServer.url),
    queuePrefix: name,
    everyMs: 100,
  });
  t.teardown(() => follower.close());
  const folded = (block: number) =>
    eventually(`the follower folded block ${block}`, async () => ((await readCursor(redis, keys)) ?? 0) >= block || undefined);
  /** A provider whose reads the test can hold (the run's view of a slow chain). */
  const throughProxy = async () => {
    const rpc = await startRpcProxy(chain.url);
    t.teardown(() => rpc.close());
    const provider = new JsonRpcProvider(rpc.url, 31337, { staticNetwork: true, batchStallTime: 0, cacheTimeout: -1 });
    t.teardown(() => provider.destroy());
    return { rpc, provider };
  };
  return { chain, redis, keys, folded, throughProxy };
}

t.test('a run the follower overtakes by blocks still repairs, judges each repair at the block it is written at, and moves on', async (t) => {
  const { chain, redis, keys, folded, throughProxy } = await followedChain(t, 'reconcile-blocks-test');
  await chain.send('alice', 'Consent', 'createGrant', alice, pharmacy, terms({}));
  await chain.send('bob', 'Consent', 'createGrant', bob, pharmacy, terms({}));
  await folded(await chain.send('alice', 'Consent', 'createGrant', alice, proxy, terms({})));
  // Drift: the pharmacy's index lost both its grants.
  await redis.srem(keys.grantsByGrantee(pharmacy), '1', '2');

  // The run's chain reads wait while bob revokes grant 2 and the follower folds that block.
  const { rpc, provider } = await throughProxy();
  const comparing = rpc.hold('eth_call');
  const run = reconcile({ provider, contracts: chain.contracts, redis, keys, batch: 2 });
  await comparing;
  const revoked = await chain.send('bob', 'Consent', 'revokeGrant', 2);
  await folded(revoked + 1);
  rpc.release();
  const report = await run;

  t.ok(report.block !== undefined && report.block < revoked, `compared at block ${report.block}, before the revocation (${revoked})`);
  t.ok(report.applied, 'the repairs were written although the cursor moved during the run');
  t.same(report.repairs.map((r) => `${r.kind} ${r.ref}`), ['grant 1'], 'grant 2 no longer differs from the chain once its revocation is folded');
  t.equal(await redis.sismember(keys.grantsByGrantee(pharmacy), '1'), 1, 'the lost grant is back in the index');
  t.equal(await redis.sismember(keys.grantsByGrantee(pharmacy), '2'), 0, 'the grant revoked meanwhile is not put back');
  t.equal((await redis.hgetall(keys.reconcileOffsets)).grants, '2', 'the rolling offset moved past the batch');
  const next = await reconcile({ provider: chain.provider, contracts: chain.contracts, redis, keys, batch: 2 });
  t.equal(next.checked.grants, 1, 'the next run compares the grant after the batch');
  t.same(next.repairs, []);
});

t.test('a large drift is repaired in chunks while the follower moves the cursor many times during the run', async (t) => {
  const DRIFTED = 100;
  const { chain, redis, keys, folded, throughProxy } = await followedChain(t, 'reconcile-chunks-test');
  const created = await Promise.all(Array.from({ length: DRIFTED }, () => chain.send('alice', 'Consent', 'createGrant', alice, pharmacy, terms({}))));
  await folded(Math.max(...created));
  const ids = Array.from({ length: DRIFTED }, (_, i) => String(i + 1));
  // Drift: the pharmacy's index lost every grant.
  await redis.srem(keys.grantsByGrantee(pharmacy), ...ids);

  // A slow chain: after every 40 of the run's reads, a block lands and is folded before the next
  // read answers. One step re-comparing all 100 drifted grants would always span a block.
  const { rpc, provider } = await throughProxy();
  let stop = () => {};
  const stopped = new Promise<false>((resolve) => (stop = () => resolve(false)));
  let blocksDuringRuns = 0;
  const blockEvery40Reads = (async () => {
    for (;;) {
      if (!(await Promise.race([rpc.hold('eth_call', { after: 40 }).then(() => true), stopped]))) return rpc.release();
      await folded(((await readCursor(redis, keys)) ?? 0) + 1);
      blocksDuringRuns++;
      rpc.release();
    }
  })();
  const stopBlocks = () => {
    stop();
    rpc.release();
    return blockEvery40Reads;
  };
  t.teardown(stopBlocks);

  const runs = [];
  for (let i = 0; i < 3 && !runs.at(-1)?.applied; i++) runs.push(await reconcile({ provider, contracts: chain.contracts, redis, keys }));
  await stopBlocks();

  t.ok(blocksDuringRuns >= 3, `the cursor moved during the runs (${blocksDuringRuns} blocks)`);
  t.ok(runs.at(-1)?.applied, `the batch is done after ${runs.length} run(s)`);
  t.same(runs.at(-1)?.left, [], 'nothing left');
  t.same(runs.flatMap((r) => r.repairs.map((x) => `${x.kind} ${x.ref}`)).sort(), ids.map((id) => `grant ${id}`).sort(), 'every drifted grant repaired once');
  t.same((await redis.smembers(keys.grantsByGrantee(pharmacy))).sort(), [...ids].sort(), 'the index holds every grant again');
  t.same((await reconcile({ provider: chain.provider, contracts: chain.contracts, redis, keys })).repairs, [], 'no drift left');
});
