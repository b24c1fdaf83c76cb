/**
 * The in-process snapshot cache never outlives what the freshness tracker counts as applied:
 * when the periodic status read sees the indexes past the last invalidation message this process
 * heard (the message is late or was lost), the cache is cleared before the freshness moves on,
 * so a revocation is refused even if its message never arrives.
 */
import t from 'tap';
import { Redis } from 'ioredis';
import { startRedisServer } from '../../server/embedded/redis-server.ts';
import { authzKeys } from '../../server/authz/authz-keys.ts';
import { applyWindow } from '../../server/authz/redis-indexes.ts';
import { SnapshotCache, type SnapshotLookup } from '../../server/authz/snapshot-cache.ts';
import { SyncFreshness } from '../../server/authz/sync-freshness.ts';
import { eventually } from './support/authz-fixtures.ts';

const alice = '0x00000000000000000000000000000000000a11ce';
const pharmacy = '0x00000000000000000000000000000000000fa4a1';

t.test('a revocation whose message has not arrived is not served from the cache once the status shows its block', async (t) => {
  const server = await startRedisServer();
  t.teardown(() => server.stop());
  const writer = new Redis(server.url);
  const redis = new Redis(server.url);
  const subscriber = new Redis(server.url);
  t.teardown(() => [writer, redis, subscriber].forEach((c) => c.disconnect()));
  const keys = authzKeys('cache-test:');
  const at = (blockNumber: number) => ({ blockNumber, logIndex: 0 });
  await applyWindow(writer, keys, { expectedCursor: undefined, toBlock: 10, head: 10 }, [
    {
      ...at(10),
      kind: 'grant-created',
      grantId: '1',
      patient: alice,
      grantee: pharmacy,
      providers: '*',
      resourceTypes: ['MedicationRequest'],
      actions: ['read', 'search'],
      purpose: 'treatment',
      notBefore: 0,
      expiresAt: 0,
    },
  ]);
  const freshness = new SyncFreshness();
  const lookups: SnapshotLookup[] = [];
  const cache = await SnapshotCache.start({ redis, subscriber, keys, freshness, statusPollMs: 20, onLookup: (l) => lookups.push(l) });
  t.teardown(() => cache.close());
  const heard: Array<readonly string[] | '*'> = [];
  cache.onSync((subjects) => heard.push(subjects));
  const grants = async () => (await cache.get(pharmacy)).entries.filter((e) => e.basis === 'grant').map((e) => e.patient);
  t.same(await grants(), [alice]);
  t.same(await grants(), [alice]);
  t.equal(lookups.at(-1), 'memory', 'served from the in-process cache');

  // The invalidation message is lost: this process hears nothing on the channel any more.
  await subscriber.unsubscribe(keys.channel);
  await applyWindow(writer, keys, { expectedCursor: 10, toBlock: 11, head: 11 }, [{ ...at(11), kind: 'grant-revoked', grantId: '1' }]);
  await eventually('the status read saw block 11', () => (freshness.state().cursor >= 11 ? true : undefined));
  t.same(await grants(), [], 'refused as soon as the freshness counts the revoking block');
  t.not(lookups.at(-1), 'memory', 'not from the cache');
  t.same(heard, ['*'], 'its listeners (the vouched links) hear that everything was dropped');
});

t.test('when the subscription comes back, the cache and its listeners drop everything (messages may have been lost)', async (t) => {
  const server = await startRedisServer();
  t.teardown(() => server.stop());
  const redis = new Redis(server.url);
  const subscriber = new Redis(server.url);
  t.teardown(() => [redis, subscriber].forEach((c) => c.disconnect()));
  const keys = authzKeys('cache-reconnect-test:');
  const cache = await SnapshotCache.start({ redis, subscriber, keys, freshness: new SyncFreshness(), statusPollMs: 60_000 });
  t.teardown(() => cache.close());
  const heard: Array<readonly string[] | '*'> = [];
  cache.onSync((subjects) => heard.push(subjects));
  await cache.get(pharmacy);
  t.equal(cache.size, 1);
  subscriber.disconnect(true);
  await eventually('the listener heard the reconnection', () => (heard.includes('*') ? true : undefined));
  t.equal(cache.size, 0, 'nothing cached before the gap is served after it');
});
