/**
 * When a source's searches run as BullMQ jobs on its `adapter:<source>` queue, the rate limit is
 * the queue worker's (BullMQ's limiter, shared by every worker process) and the adapter's own
 * token bucket steps aside.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue, QueueEvents, Worker } from 'bullmq';
import t from 'tap';
import { createFhirAdapter, type FhirUpstreamAdapter } from '../../adapters/fhir/fhir-adapter.ts';
import { bullmqLimiter, type RateLimitOptions } from '../../adapters/fhir/rate-limiter.ts';
import { startRedisServer } from '../../server/embedded/redis-server.ts';
import { clinicalRecords, sourceConfig, testContext } from './support/fixtures.ts';
import { startTestUpstream } from './support/test-upstream.ts';

t.test('the BullMQ limiter from the source rate limit holds further jobs back; the inline bucket is off', async (t) => {
  const redisServer = await startRedisServer();
  t.teardown(() => redisServer.stop());
  const upstream = await startTestUpstream({ resources: clinicalRecords(1) });
  t.teardown(() => upstream.close());
  // One request a minute: the second job cannot run within this test.
  const rateLimit: RateLimitOptions = { perSecond: 1 / 60, enforcedBy: 'queue' };
  const adapter = (await createFhirAdapter(sourceConfig('hosp', { baseUrl: upstream.baseUrl, rateLimit }), testContext(mkdtempSync(join(tmpdir(), 'medrec-upstream-q-'))))) as FhirUpstreamAdapter;
  t.teardown(() => adapter.close());

  const connection = { url: redisServer.url };
  const prefix = `upstream-q-${process.pid}`;
  // BullMQ refuses ':' in queue names, so the architecture's `adapter:<source>` is spelled `adapter-<source>`.
  const name = 'adapter-hosp';
  const queue = new Queue(name, { connection, prefix });
  const events = new QueueEvents(name, { connection, prefix });
  await events.waitUntilReady();
  // The job carries only the resource type and page size: no patient ids, no clinical content.
  const worker = new Worker<{ resourceType: string; count: number }, number>(name, async (job) => {
    const page = await adapter.search({ resourceType: job.data.resourceType, filters: [], count: job.data.count }, AbortSignal.timeout(10_000));
    return page.resources.length;
  }, { connection, prefix, limiter: bullmqLimiter(rateLimit) });
  t.teardown(async () => {
    await worker.close(true);
    await events.close();
    await queue.obliterate({ force: true });
    await queue.close();
  });

  t.same(bullmqLimiter(rateLimit), { max: 1, duration: 60_000 });
  const first = await queue.add('search', { resourceType: 'Organization', count: 10 });
  const second = await queue.add('search', { resourceType: 'Organization', count: 10 });
  t.equal(await first.waitUntilFinished(events, 10_000), 1, 'the first search ran');
  t.not(await (await queue.getJob(second.id as string))?.getState(), 'completed', 'the second waits for the next window');
  t.equal(upstream.counters.searches, 1, 'one search reached the upstream');

  // Called directly (inline), the same adapter is not held back by a bucket of its own.
  for (let i = 0; i < 3; i++) await adapter.search({ resourceType: 'Organization', filters: [], count: 10 }, AbortSignal.timeout(10_000));
  t.equal(upstream.counters.searches, 4);
});
