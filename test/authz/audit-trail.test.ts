/**
 * The audit trail stays bounded and loses nothing it can keep: stored events expire after the
 * retention period, each patient's index keeps its newest events, and decisions made while Redis
 * is away wait in a bounded buffer and are written when it returns (the overflow is counted in
 * medrec_audit_dropped_total).
 */
import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { startRedisServer } from '../../server/embedded/redis-server.ts';
import { queueConnection } from '../../adapters/queue/queue-connection.ts';
import { AuditTrail } from '../../server/audit/audit-trail.ts';
import { toAuditEvent } from '../../server/audit/audit-event.ts';
import type { AccessDecisionRecord } from '../../server/authz/chain-access-policy.ts';
import { createMetrics } from '../../server/metrics/metrics.ts';
import { eventually } from './support/authz-fixtures.ts';

const alice = '0x00000000000000000000000000000000000a11ce';
const bob = '0x0000000000000000000000000000000000000b0b';
const decision = (resourceType: string, patients: string[], at = Date.now()): AccessDecisionRecord => ({
  at,
  subject: '0x00000000000000000000000000000000000fa4a1',
  clientId: 'test',
  tokenId: undefined,
  resourceType,
  action: 'read',
  patients,
  sources: ['hospital'],
  purpose: undefined,
  outcome: 'allowed',
  status: 200,
});

t.test('stored events expire after the retention period; each patient keeps its newest', async (t) => {
  const server = await startRedisServer();
  t.teardown(() => server.stop());
  const redis = new Redis(server.url);
  t.teardown(() => redis.disconnect());
  const trail = new AuditTrail({ connection: queueConnection(server.url), prefix: 'audit-retention', redis, keyPrefix: 'ar:', work: true, keepPerPatient: 3, retentionMs: 60_000, flushMs: 10 });
  t.teardown(() => trail.close());
  const now = Date.now();
  trail.record(decision('TooOld', [alice], now - 120_000));
  for (let i = 0; i < 4; i++) trail.record(decision(`Type${i}`, [alice], now + i));
  trail.record(decision('Shared', [alice, bob], now + 10));
  await trail.flush();
  const events = await eventually('stored', async () => {
    const found = await trail.search(bob);
    return found.length > 0 ? trail.search(alice) : undefined;
  });
  const typeOf = (e: unknown) => JSON.stringify(e);
  t.equal(events.length, 3, 'the 3 newest of alice');
  t.ok(events.every((e) => !typeOf(e).includes('TooOld')), 'an event past the retention period is not indexed');
  t.ok(typeOf(events[0]!).includes('Shared'));
  t.equal(await redis.zcard('ar:patient:' + alice), 3);
  const keys = await redis.keys('ar:event:*');
  const ttls = await Promise.all(keys.map((k) => redis.pttl(k)));
  t.ok(ttls.length > 0 && ttls.every((ms) => ms > 0 && ms <= 60_000), 'every stored event expires within the retention period');
  t.ok((await redis.pttl('ar:patient:' + alice)) > 0, 'so does an index nobody writes to any more');
});

t.test('while Redis is away decisions wait in a bounded buffer and are written when it returns', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'medrec-audit-redis-'));
  let server = await startRedisServer({ dir });
  const port = server.port;
  t.teardown(() => server.stop());
  const redis = new Redis(server.url, { maxRetriesPerRequest: 1 });
  redis.on('error', () => undefined);
  t.teardown(() => redis.disconnect());
  const metrics = createMetrics({ defaultMetrics: false });
  const trail = new AuditTrail({
    connection: queueConnection(server.url),
    prefix: 'audit-outage',
    redis,
    keyPrefix: 'ao:',
    work: true,
    flushMs: 10,
    retryMs: 100,
    maxBuffered: 5,
    onDropped: (n) => metrics.auditDropped.inc(n),
  });
  metrics.watchAudit(trail);
  t.teardown(() => trail.close());
  trail.record(decision('Before', [alice]));
  await trail.flush();
  await eventually('written while Redis is up', async () => ((await trail.search(alice)).length === 1 ? true : undefined));

  await server.stop();
  for (let i = 0; i < 8; i++) trail.record(decision(`Away${i}`, [alice], Date.now() + i));
  await trail.flush();
  t.equal(trail.buffered, 5, 'held, up to the bound');
  t.equal(trail.dropped, 3, 'the 3 oldest did not fit');
  const scrape = await metrics.registry.metrics();
  t.match(scrape, /medrec_audit_dropped_total 3/);
  t.match(scrape, /medrec_audit_buffered_records 5/);

  server = await startRedisServer({ dir, port });
  const events = await eventually('written after Redis returned', async () => {
    const found = await trail.search(alice, { count: 100 }).catch(() => []);
    return found.length === 6 ? found : undefined;
  });
  const text = JSON.stringify(events);
  for (let i = 3; i < 8; i++) t.ok(text.includes(`Away${i}`), `Away${i} was kept and written`);
  t.notOk(text.includes('Away0'), 'the dropped ones are not');
  t.equal(trail.buffered, 0);
});

t.test('a request repeated by the same client is stored once and read back as one AuditEvent per access', async (t) => {
  const server = await startRedisServer();
  t.teardown(() => server.stop());
  const redis = new Redis(server.url);
  t.teardown(() => redis.disconnect());
  const trail = new AuditTrail({ connection: queueConnection(server.url), prefix: 'audit-repeat', redis, keyPrefix: 'rp:', work: true, flushMs: 10 });
  t.teardown(() => trail.close());
  const now = Date.now();
  for (let i = 0; i < 3; i++) trail.record(decision('MedicationRequest', [alice], now + i));
  trail.record(decision('Observation', [alice], now + 3));
  await trail.flush();
  const events = await eventually('stored', async () => {
    const found = await trail.search(alice);
    return found.length === 4 ? found : undefined;
  });
  t.equal(new Set(events.map((e) => e.id)).size, 4, 'every access has its own id');
  t.same(events.map((e) => e.recorded), [3, 2, 1, 0].map((i) => new Date(now + i).toISOString()), 'and its own time, newest first');
  t.equal((await redis.keys('rp:event:*')).length, 1, 'one stored value for the batch');
});

t.test("a settled read's AuditEvent outcome follows the status answered: any 5xx a serious failure, a refusal a minor one", async (t) => {
  const settled = (status: number) => toAuditEvent('e', { ...decision('Observation', [alice]), outcome: status === 200 ? 'allowed' : 'refused', status, reason: `answered ${status}` });
  t.same([200, 400, 403, 404, 500, 503, 504].map((status) => settled(status).outcome), ['0', '4', '4', '4', '8', '8', '8']);
  t.equal(settled(504).outcomeDesc, 'answered 504');
});
