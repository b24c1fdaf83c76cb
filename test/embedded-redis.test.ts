import t from 'tap';
import { Redis } from 'ioredis';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRedisServer } from '../server/embedded/redis-server.ts';

t.test('a private redis-server keeps appended writes across a crash when given a directory', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'medrec-redis-'));
  const first = await startRedisServer({ dir });
  const client = new Redis(first.url, { maxRetriesPerRequest: 1 });
  await client.set('k', 'v');
  await client.call('BGREWRITEAOF').catch(() => undefined);
  await new Promise((r) => setTimeout(r, 1200)); // appendfsync everysec
  client.disconnect();
  await first.kill();
  const second = await startRedisServer({ dir, port: first.port });
  t.teardown(() => second.stop());
  const again = new Redis(second.url);
  t.teardown(() => again.disconnect());
  t.equal(await again.get('k'), 'v');
});
