import t from 'tap';
import { Interface, type InterfaceAbi } from 'ethers';
import { Redis } from 'ioredis';
import { startRedisServer } from '../../server/embedded/redis-server.ts';
import { demoAddress } from '../../server/embedded/demo-identities.ts';
import { loadArtifact } from '../../contracts/build.ts';
import { authzKeys } from '../../server/authz/authz-keys.ts';
import { AUTHZ_EVENTS, MedrecEventSource } from '../../server/authz/contract-events.ts';
import { syncOnce } from '../../server/authz/chain-follower.ts';
import { buildSnapshot } from '../../server/authz/snapshot-builder.ts';
import { startTestChain, terms } from './support/test-chain.ts';

const alice = demoAddress('alice');
const bob = demoAddress('bob');
const pharmacy = demoAddress('pharmacy');
const proxy = demoAddress('proxy');
const hospital = demoAddress('hospital');

t.test('every event the follower decodes exists with that exact signature in the contracts ABI', async (t) => {
  const ours = new Interface(AUTHZ_EVENTS as unknown as string[]);
  const theirs = ['ProviderRegistry', 'ParticipantDirectory', 'Relationships', 'Consent'].map(
    (n) => new Interface(loadArtifact(n as 'Consent').abi as unknown as InterfaceAbi),
  );
  ours.forEachEvent((event) => {
    t.ok(
      theirs.some((i) => i.getEvent(event.topicHash) !== null),
      `${event.format('sighash')} is emitted by a contract`,
    );
  });
});

t.test('the follower folds the contracts logs into snapshots', async (t) => {
  const [redisServer, chain] = await Promise.all([startRedisServer(), startTestChain()]);
  const redis = new Redis(redisServer.url);
  t.teardown(async () => {
    redis.disconnect();
    await Promise.all([chain.close(), redisServer.stop()]);
  });
  const keys = authzKeys('follower-test:');
  const source = new MedrecEventSource(chain.contracts, chain.deployBlock);
  const sync = () => syncOnce({ provider: chain.provider, source, redis, keys, windowSize: 3 });

  await chain.send('alice', 'Consent', 'createGrant', alice, pharmacy, terms({ resourceTypes: ['MedicationRequest'] }));
  await chain.send('bob', 'Consent', 'createGrant', bob, pharmacy, terms({ resourceTypes: ['MedicationRequest'], providers: [hospital] }));
  await chain.send('alice', 'Consent', 'setDelegation', proxy, 0);
  await chain.send('hospital', 'Relationships', 'addRelationship', alice, '0x' + '11'.repeat(32));

  const run = await sync();
  t.ok(run.windows > 1, 'small windows: the range is read in several getLogs calls');
  t.equal(run.cursor, run.head, 'caught up with the head');
  t.equal(run.events >= 4 + 3, true, 'grants, delegation, relationship and the founding providers');

  const pharmacySnap = (await buildSnapshot(redis, keys, pharmacy)).snapshot;
  t.same(
    pharmacySnap.entries.filter((e) => e.basis === 'grant').map((e) => [e.patient, e.providers, e.resourceTypes, e.actions, e.purpose]).sort(),
    [
      [alice, '*', ['MedicationRequest'], ['read', 'search'], 'treatment'],
      [bob, [hospital], ['MedicationRequest'], ['read', 'search'], 'treatment'],
    ].sort(),
  );
  t.same((await buildSnapshot(redis, keys, proxy)).snapshot.entries.filter((e) => e.basis === 'delegation').map((e) => e.patient), [alice]);
  t.same((await buildSnapshot(redis, keys, hospital)).snapshot.entries.filter((e) => e.basis === 'relationship').map((e) => e.patient), [alice]);

  const grantIds = await chain.call<bigint[]>('Consent', 'grantIdsByPatient', alice);
  await chain.send('alice', 'Consent', 'revokeGrant', grantIds[0]!);
  const again = await sync();
  t.equal(again.events, 1);
  const after = (await buildSnapshot(redis, keys, pharmacy)).snapshot;
  t.same(after.entries.filter((e) => e.basis === 'grant').map((e) => e.patient), [bob], 'the revoked grant is gone');
  t.equal(after.blockNumber, again.cursor);

  const idle = await sync();
  t.equal(idle.windows, 0, 'nothing new: no window, only a heartbeat');
  t.equal(Number(await redis.get(keys.eventsApplied)), run.events + again.events, 'no event applied twice');
});
