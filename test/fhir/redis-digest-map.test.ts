/**
 * Digested ids issued while Redis is away are not lost: writes the connection gave up on while it
 * could not reach Redis are sent again, `flush()` says whether every accepted id is on the server
 * (a response waits for it a bounded time), and `close()` stores what Redis takes before quitting.
 */
import { once } from 'node:events';
import t, { type Test } from 'tap';
import { Redis } from 'ioredis';
import { startRedisServer } from '../../server/embedded/redis-server.ts';
import { RedisDigestMap } from '../../server/fhir/redis-digest-map.ts';

const keyPrefix = `digest-map-test-${process.pid}:`;
const id = (n: number) => `hospital..${String(n).padStart(32, '0')}`;

/** Takes Redis away from a connected client, and brings it back on the same port. */
async function redisAway(server: Awaited<ReturnType<typeof startRedisServer>>, client: Redis) {
  const lost = once(client, 'close');
  await server.kill();
  await lost;
}

/** Every id the map was given, as stored on the server. */
async function stored(url: string, ids: readonly string[]): Promise<Array<string | null>> {
  const reader = new Redis(url);
  try {
    return await reader.mget(ids.map((i) => keyPrefix + i));
  } finally {
    reader.disconnect();
  }
}

/** A map on a private redis-server that the test can take away and bring back on the same port. */
async function mapOnRestartableRedis(t: Test) {
  let server = await startRedisServer();
  const port = server.port;
  t.teardown(() => server.stop());
  // As the server configures it: a command fails after one reconnect attempt.
  const client = new Redis(server.url, { maxRetriesPerRequest: 1 }).on('error', () => undefined);
  t.teardown(() => client.disconnect());
  return {
    client,
    map: new RedisDigestMap(client, { keyPrefix }),
    url: () => server.url,
    away: () => redisAway(server, client),
    back: async () => {
      server = await startRedisServer({ port });
    },
  };
}

t.test('writes issued while Redis is briefly away are on the server after flush', async (t) => {
  const { client, map, url, away, back } = await mapOnRestartableRedis(t);

  map.set(id(1), { sourceId: 'hospital', localId: 'before' });
  await map.flush();
  t.same(await stored(url(), [id(1)]), ['["hospital","before"]'], 'written while Redis is up');

  await away();
  const during = [2, 3, 4].map(id);
  during.forEach((i, n) => map.set(i, { sourceId: 'hospital', localId: `during-${n}` }));
  // A command queued after those writes fails: the connection has given up on its offline queue.
  await t.rejects(client.ping(), 'the connection gave up on the queued commands');
  t.equal(map.get(id(2))?.localId, 'during-0', 'this process still decodes them');
  t.equal(await map.flush(100), false, 'a bounded wait reports them not stored yet (a response would be 503)');

  await back();
  t.equal(await map.flush(), true);
  t.same(await stored(url(), during), ['["hospital","during-0"]', '["hospital","during-1"]', '["hospital","during-2"]']);
});

t.test('close stores every accepted id before it quits', async (t) => {
  const { client, map, url, away, back } = await mapOnRestartableRedis(t);
  await client.ping();

  await away();
  map.set(id(5), { sourceId: 'clinic', localId: 'last' });
  await t.rejects(client.ping());
  const closed = map.close();
  await back();
  await closed;
  t.same(await stored(url(), [id(5)]), ['["clinic","last"]']);
});
