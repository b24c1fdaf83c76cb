/**
 * Closing either end of a `via: "queue"` source while its capabilities timer is at work (a
 * refresh or a publish in flight) stops it for good: after close() nothing more reaches Redis.
 * A spy on every ioredis connection of this process records what is sent once close() is done.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import t from 'tap';
import { AdapterQueueWorker } from '../../adapters/queue/adapter-queue-worker.ts';
import { QueuedSource } from '../../adapters/queue/queued-source.ts';
import { validateSources } from '../../server/config/sources-file.ts';
import { startRedisServer } from '../../server/embedded/redis-server.ts';
import { clinicalRecords, recordingLogger } from '../upstream-fhir/support/fixtures.ts';
import { startTestUpstream } from '../upstream-fhir/support/test-upstream.ts';

type Command = { name: string; args: unknown[] };
const sentAfterClose: string[] = [];
let closedAll = false;
let onCommand: ((command: Command) => void) | undefined;
const send = Redis.prototype.sendCommand;
Redis.prototype.sendCommand = function (this: Redis, ...args: Parameters<typeof send>) {
  const command = args[0] as unknown as Command;
  onCommand?.(command);
  if (closedAll) sentAfterClose.push(command.name);
  return send.apply(this, args);
};
t.teardown(() => { Redis.prototype.sendCommand = send; });

const dir = mkdtempSync(join(tmpdir(), 'medrec-adapter-queue-closing-'));
const keyFile = join(dir, 'queue.key');
writeFileSync(keyFile, randomBytes(32).toString('hex'));
const redis = await startRedisServer();
t.teardown(() => redis.stop());
const upstream = await startTestUpstream({ resources: clinicalRecords() });
t.teardown(() => upstream.close());

const REFRESH_MS = 20;
const [config] = validateSources({
  sources: [{
    id: 'hosp', kind: 'fhir', provider: '0x00000000000000000000000000000000000000a1', name: 'Hospital',
    options: { baseUrl: upstream.baseUrl, maxAttempts: 1 },
    via: 'queue', queue: { keyFile, prefix: `t-${randomBytes(4).toString('hex')}`, capabilitiesRefreshMs: REFRESH_MS },
  }],
}, 'test');
const context = { log: recordingLogger(), dataDir: dir, redisUrl: redis.url };

/** Long enough for any timer armed before close() returned to have fired (timers fire in deadline order). */
const pastEveryArmedTimer = () => sleep(REFRESH_MS * 5);

t.test('the node\'s source closed during a capabilities refresh sends nothing more to Redis', async (t) => {
  const source = await QueuedSource.open(config!, context);
  const refreshing = source.refreshCapabilities();
  await source.close();
  await refreshing;
  closedAll = true;
  t.teardown(() => { closedAll = false; sentAfterClose.length = 0; });
  await pastEveryArmedTimer();
  t.same(sentAfterClose, [], 'no refresh after close()');
});

t.test('the adapter worker closed while publishing its capabilities sends nothing more to Redis', async (t) => {
  const worker = await AdapterQueueWorker.start(config!, context);
  // The next timed publish: close() starts just as its SET goes out.
  await new Promise<void>((resolve, reject) => {
    onCommand = (command) => {
      if (command.name !== 'set' || !String(command.args[0]).endsWith(':medrec-capabilities')) return;
      onCommand = undefined;
      worker.close().then(resolve, reject);
    };
  });
  closedAll = true;
  t.teardown(() => { closedAll = false; sentAfterClose.length = 0; });
  await pastEveryArmedTimer();
  t.same(sentAfterClose, [], 'no publish after close()');
});
