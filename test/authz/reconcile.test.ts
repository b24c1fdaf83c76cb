import t from 'tap';
import { Redis } from 'ioredis';
import { startRedisServer } from '../../server/embedded/redis-server.ts';
import { demoAddress } from '../../server/embedded/demo-identities.ts';
import { authzKeys } from '../../server/authz/authz-keys.ts';
import { MedrecEventSource } from '../../server/authz/contract-events.ts';
import { syncOnce } from '../../server/authz/chain-follower.ts';
import { buildSnapshot } from '../../server/authz/snapshot-builder.ts';
import { reconcile } from '../../server/authz/reconcile.ts';
import { startTestChain, terms } from './support/test-chain.ts';

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
