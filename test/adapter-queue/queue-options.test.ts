/**
 * The settings both ends of a source's adapter queue read (key, prefix, deadline), the sealing
 * of what crosses Redis, and the mapping of `rateLimit` onto the queue's BullMQ limiter.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { resolveQueueSource } from '../../adapters/queue/queue-options.ts';
import { queueLimiter } from '../../adapters/queue/queue-rate-limit.ts';
import { openSealed, seal } from '../../adapters/queue/sealed-payload.ts';
import type { SourceConfig } from '../../adapters/source-config.ts';
import { validateSources } from '../../server/config/sources-file.ts';

const hex = randomBytes(32).toString('hex');
const source = (queue: Record<string, unknown>, options: Record<string, unknown> = {}): SourceConfig =>
  ({ id: 'hosp', kind: 'fhir', provider: '0x00000000000000000000000000000000000000a1', name: 'Hospital', options, via: 'queue', queue });

t.test('the queue key comes from an environment variable or a file, 32 bytes in hex or base64', async (t) => {
  const env = { QK_HEX: hex, QK_B64: Buffer.from(hex, 'hex').toString('base64'), QK_SHORT: 'abcd' };
  const fromHex = resolveQueueSource(source({ keyEnv: 'QK_HEX' }), env);
  t.same(fromHex.key, Buffer.from(hex, 'hex'));
  t.same(resolveQueueSource(source({ keyEnv: 'QK_B64' }), env).key, fromHex.key);
  const file = join(mkdtempSync(join(tmpdir(), 'medrec-queue-key-')), 'key');
  writeFileSync(file, `${hex}\n`);
  t.same(resolveQueueSource(source({ keyFile: file })).key, fromHex.key);
  t.equal(fromHex.queueName, 'adapter-hosp');
  t.equal(fromHex.prefix, 'bull');

  t.throws(() => resolveQueueSource(source({}), env), /source hosp \(via queue\): give exactly one of queue.keyEnv .* or queue.keyFile/);
  t.throws(() => resolveQueueSource(source({ keyEnv: 'QK_HEX', keyFile: file }), env), /exactly one of/);
  t.throws(() => resolveQueueSource(source({ keyEnv: 'QK_MISSING' }), env), /environment variable QK_MISSING \(queue.keyEnv\) is not set/);
  t.throws(() => resolveQueueSource(source({ keyEnv: 'QK_SHORT' }), env), /the queue key must be 32 random bytes as 64 hex digits or base64/);
  t.throws(() => resolveQueueSource(source({ keyFile: join(file, 'nope') })), /cannot read queue.keyFile \(ENOTDIR\)/);
  t.throws(() => resolveQueueSource(source({ keyEnv: 'QK_HEX', prefix: 'a:b' }), env), /queue.prefix must be/);
  t.throws(() => resolveQueueSource(source({ keyEnv: 'QK_HEX', deadlineMs: 0 }), env), /queue.deadlineMs must be a whole number >= 1/);
  t.throws(() => resolveQueueSource(source({ keyEnv: 'QK_HEX', key: hex }), env), /unknown queue option key/);
  const truncated = hex.slice(0, 60);
  const refusal = t.throws(() => resolveQueueSource(source({ keyEnv: 'QK_BAD' }), { QK_BAD: truncated }), /queue key must be/) as Error;
  t.notOk(refusal.message.includes(truncated), 'a bad key is never echoed');
});

t.test('the sources file takes via and queue, and only together', async (t) => {
  const base = { id: 'hosp', kind: 'fhir', provider: '0x00000000000000000000000000000000000000a1', name: 'Hospital' };
  const [queued] = validateSources({ sources: [{ ...base, via: 'queue', queue: { keyEnv: 'QK' } }] }, 'f');
  t.equal(queued!.via, 'queue');
  t.same(queued!.queue, { keyEnv: 'QK' });
  t.throws(() => validateSources({ sources: [{ ...base, via: 'bus' }] }, 'f'), /sources\[0\].via must be "inline" or "queue"/);
  t.throws(() => validateSources({ sources: [{ ...base, queue: { keyEnv: 'QK' } }] }, 'f'), /sources\[0\].queue is only read with "via": "queue"/);
});

t.test('a sealed value opens only with its key and at its place; altered, it does not open', async (t) => {
  const key = Buffer.from(hex, 'hex');
  const value = { patients: ['mrn-1'], note: 'x' };
  const sealed = seal(key, 'hosp|job-1|call', value);
  t.notOk(sealed.includes('mrn-1'));
  t.same(openSealed(key, 'hosp|job-1|call', sealed), value);
  t.not(seal(key, 'hosp|job-1|call', value), sealed, 'a fresh nonce every time');
  t.throws(() => openSealed(randomBytes(32), 'hosp|job-1|call', sealed), /could not be opened/);
  t.throws(() => openSealed(key, 'hosp|job-2|call', sealed), /could not be opened/, 'not as another job\'s call');
  t.throws(() => openSealed(key, 'hosp|job-1|result', sealed), /could not be opened/, 'not as a result');
  const altered = sealed.slice(0, -2) + (sealed.endsWith('A') ? 'B' : 'A') + sealed.slice(-1);
  t.throws(() => openSealed(key, 'hosp|job-1|call', altered), /could not be opened/);
  t.throws(() => openSealed(key, 'hosp|job-1|call', { not: 'sealed' }), /could not be opened/);
});

t.test('rateLimit enforcedBy "queue" becomes the BullMQ limiter: burst calls per burst/perSecond seconds', async (t) => {
  const limiter = (rateLimit: unknown) => queueLimiter(source({ keyEnv: 'QK' }, { rateLimit }));
  t.same(limiter({ perSecond: 2, enforcedBy: 'queue' }), { max: 2, duration: 1000 });
  t.same(limiter({ perSecond: 0.5, enforcedBy: 'queue' }), { max: 1, duration: 2000 });
  t.same(limiter({ perSecond: 10, burst: 5, enforcedBy: 'queue' }), { max: 5, duration: 500 });
  t.equal(limiter({ perSecond: 2 }), undefined, 'an inline limit is the adapter\'s own');
  t.equal(limiter(undefined), undefined);
  t.throws(() => limiter({ perSecond: 0, enforcedBy: 'queue' }), /source hosp \(via queue\): rateLimit must be/);
});
