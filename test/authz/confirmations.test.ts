/**
 * AUTHZ_CONFIRMATIONS: the follower stays that many blocks behind the chain head, and reports
 * the confirmed head (head − confirmations) as the head it compares with, so a network with
 * confirmations is fresh once the follower reaches the confirmed head (not a permanent 503), and
 * a grant counts only once it has its confirmations.
 */
import t from 'tap';
import { startRedisServer } from '../../server/embedded/redis-server.ts';
import { demoAddress } from '../../server/embedded/demo-identities.ts';
import { startTestChain, terms } from './support/test-chain.ts';
import { authorizationOn, eventually } from './support/authz-fixtures.ts';

const alice = demoAddress('alice');
const pharmacy = demoAddress('pharmacy');

t.test('with 3 confirmations the follower is fresh at head − 3 and folds a block once it is 3 deep', async (t) => {
  const redisServer = await startRedisServer();
  t.teardown(() => redisServer.stop());
  const chain = await startTestChain();
  t.teardown(() => chain.close());
  const authz = await authorizationOn(t, chain, redisServer.url, 'confirmations-test', { chain: { confirmations: 3 }, freshness: { maxLagBlocks: 0 } });
  const mine = (blocks: number) => chain.provider.send('anvil_mine', [`0x${blocks.toString(16)}`]);
  await mine(5);
  const granted = await chain.send('alice', 'Consent', 'createGrant', alice, pharmacy, terms({ resourceTypes: ['MedicationRequest'] }));

  const behind = await eventually('the follower reaches the confirmed head', () => {
    const s = authz.freshness.state();
    return s.cursor === granted - 3 ? s : undefined;
  });
  t.equal(behind.head, granted - 3, 'the head it reports is the confirmed head');
  t.equal(authz.freshness.lagBlocks(), 0, 'no lag: it is where it may be');
  t.match(authz.freshness.verdict(), { fresh: true }, 'fresh with a lag bound of 0 blocks');
  t.equal(authz.freshness.lagSeconds(behind.caughtUpAt), 0, 'lag in seconds is measured from catching up with the confirmed head');
  t.same((await authz.snapshots.get(pharmacy)).entries.filter((e) => e.basis === 'grant'), [], 'the grant has no confirmations yet');

  await mine(3);
  await eventually('the grant block is 3 deep and folded', () => (authz.freshness.state().cursor >= granted ? true : undefined));
  t.same(
    (await authz.snapshots.get(pharmacy)).entries.filter((e) => e.basis === 'grant').map((e) => e.patient),
    [alice],
    'with its confirmations the grant counts',
  );
  t.match(authz.freshness.verdict(), { fresh: true });
});
