import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t, { type Test } from 'tap';
import { CircuitBreaker } from '../../adapters/fhir/circuit-breaker.ts';
import { createFhirAdapter, type FhirUpstreamAdapter } from '../../adapters/fhir/fhir-adapter.ts';
import { TokenBucket } from '../../adapters/fhir/rate-limiter.ts';
import { parseRetryAfter } from '../../adapters/fhir/upstream-http-client.ts';
import { clinicalRecords, recordingLogger, signal, sourceConfig, testContext } from './support/fixtures.ts';
import { callSource } from '../../server/fhir/source-call.ts';
import { startTestUpstream, type TestUpstream } from './support/test-upstream.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'medrec-upstream-res-'));
const query = { resourceType: 'Observation', filters: [], patients: ['p1'], count: 10 };

async function setup(t: Test, options: Record<string, unknown> = {}): Promise<{ upstream: TestUpstream; adapter: FhirUpstreamAdapter }> {
  const upstream = await startTestUpstream({ resources: clinicalRecords() });
  t.teardown(() => upstream.close());
  const adapter = (await createFhirAdapter(sourceConfig('hosp', { baseUrl: upstream.baseUrl, retryBaseMs: 10, ...options }), testContext(dataDir))) as FhirUpstreamAdapter;
  t.teardown(() => adapter.close());
  return { upstream, adapter };
}

t.test('429 with Retry-After is waited out and retried; 502, 503, 504 are retried with backoff', async (t) => {
  const { upstream, adapter } = await setup(t);
  upstream.faults.failNext.push({ status: 429, retryAfter: '1' });
  const before = upstream.counters.fhirRequests;
  t.equal((await adapter.search(query, signal())).resources.length, 6);
  t.equal(upstream.counters.fhirRequests - before, 2, 'one refusal, one retry');

  upstream.faults.failNext.push({ status: 502 }, { status: 503 });
  t.equal((await adapter.search(query, signal())).resources.length, 6);
  upstream.faults.failNext.push({ status: 504 }, { status: 504 }, { status: 504 });
  await t.rejects(adapter.search(query, signal()), { name: 'SourceUnavailableError', message: /after 3 attempt\(s\): HTTP 504/ });
});

t.test('a Retry-After longer than we may wait fails at once instead of holding the request', async (t) => {
  const { upstream, adapter } = await setup(t);
  upstream.faults.failNext.push({ status: 429, retryAfter: '3600' });
  const before = upstream.counters.fhirRequests;
  await t.rejects(adapter.search(query, signal()), { name: 'SourceUnavailableError', message: /asked us to wait 3600 s/ });
  t.equal(upstream.counters.fhirRequests - before, 1);
  t.equal(parseRetryAfter('120'), 120_000);
  t.equal(parseRetryAfter(new Date(Date.UTC(2030, 0, 1, 0, 0, 30)).toUTCString(), Date.UTC(2030, 0, 1)), 30_000, 'HTTP-date form');
  t.equal(parseRetryAfter('soon'), undefined);
});

t.test('other 5xx and 4xx answers are not retried', async (t) => {
  const { upstream, adapter } = await setup(t);
  upstream.faults.failNext.push({ status: 500 });
  let before = upstream.counters.fhirRequests;
  await t.rejects(adapter.search(query, signal()), { name: 'SourceUnavailableError', message: /HTTP 500/ });
  t.equal(upstream.counters.fhirRequests - before, 1);
  upstream.faults.failNext.push({ status: 400 });
  before = upstream.counters.fhirRequests;
  await t.rejects(adapter.search(query, signal()), { name: 'SourceUnavailableError', message: /answered HTTP 400 \(transient\)/ });
  t.equal(upstream.counters.fhirRequests - before, 1);
});

t.test('a hanging upstream times out on every attempt and fails the source', async (t) => {
  const { upstream, adapter } = await setup(t, { timeoutMs: 150, maxAttempts: 2 });
  upstream.faults.hang = true;
  const before = upstream.counters.fhirRequests;
  await t.rejects(adapter.search(query, signal()), { name: 'SourceUnavailableError', message: /after 2 attempt\(s\): timed out after 150 ms/ });
  t.equal(upstream.counters.fhirRequests - before, 2);
  t.equal((await adapter.health(signal())).status, 'down');
});

t.test('with default options, a hanging upstream that misses the source deadline opens the breaker', async (t) => {
  // Defaults: 10 s per attempt, threshold 5; the FHIR layer's deadline (5 s by default, shorter
  // here) always ends the call first, and each missed deadline counts against the upstream.
  const upstream = await startTestUpstream({ resources: clinicalRecords() });
  t.teardown(() => upstream.close());
  const adapter = (await createFhirAdapter(sourceConfig('hangs', { baseUrl: upstream.baseUrl }), testContext(dataDir))) as FhirUpstreamAdapter;
  t.teardown(() => adapter.close());
  const source = { sourceId: 'hangs', provider: '0x00000000000000000000000000000000000000a1', name: 'Hanging', adapter };
  upstream.faults.hang = true;
  for (let i = 0; i < adapter.breaker.failureThreshold; i++) {
    const result = await callSource(source, 100, undefined, (s) => adapter.search(query, s));
    t.match(result, { ok: false, issue: { code: 'timeout' } });
  }
  for (let i = 0; i < 200 && adapter.breaker.state !== 'open'; i++) await sleep(10);
  t.equal(adapter.breaker.state, 'open');
  const reached = upstream.counters.fhirRequests;
  const fast = await callSource(source, 100, undefined, (s) => adapter.search(query, s));
  t.match(fast, { ok: false, issue: { code: 'exception' } }, 'the next call fails at once');
  t.equal(upstream.counters.fhirRequests, reached, 'without reaching the upstream');
});

t.test('a slow upstream within the timeout is waited for', async (t) => {
  const { upstream, adapter } = await setup(t, { timeoutMs: 2000 });
  upstream.faults.latencyMs = 100;
  t.equal((await adapter.search(query, signal())).resources.length, 6);
});

t.test('the caller giving up aborts the request without counting against the upstream', async (t) => {
  const { upstream, adapter } = await setup(t, { breaker: { failureThreshold: 1, openMs: 60_000 } });
  upstream.faults.hang = true;
  const controller = new AbortController();
  const pending = adapter.search(query, controller.signal);
  for (let i = 0; i < 1000 && !upstream.seen.some((u) => u.includes('Observation')); i++) await sleep(5);
  controller.abort(new Error('client went away'));
  await t.rejects(pending, /client went away/);
  t.equal(adapter.breaker.state, 'closed');
});

t.test('a flapping upstream opens the breaker (calls fail fast without reaching it), a probe later closes it', async (t) => {
  const log = recordingLogger();
  const upstream = await startTestUpstream({ resources: clinicalRecords() });
  t.teardown(() => upstream.close());
  const adapter = (await createFhirAdapter(sourceConfig('flappy', {
    baseUrl: upstream.baseUrl, maxAttempts: 1, breaker: { failureThreshold: 3, openMs: 300 },
  }), testContext(dataDir, log))) as FhirUpstreamAdapter;
  t.teardown(() => adapter.close());

  for (let i = 0; i < 3; i++) {
    upstream.faults.failNext.push({ status: 503 }, { status: 503 });
    for (let j = 0; j < 2; j++) await t.rejects(adapter.search(query, signal()));
    t.equal((await adapter.search(query, signal())).resources.length, 6, 'up again between failures');
  }
  t.equal(adapter.breaker.state, 'closed', 'failures below the threshold with successes in between keep it closed');

  upstream.faults.failAll = 503;
  for (let i = 0; i < 3; i++) await t.rejects(adapter.search(query, signal()));
  t.equal(adapter.breaker.state, 'open');
  const reached = upstream.counters.fhirRequests;
  await t.rejects(adapter.search(query, signal()), { name: 'SourceUnavailableError', message: /circuit open/ });
  t.equal(upstream.counters.fhirRequests, reached, 'an open breaker keeps load off the upstream');
  t.equal((await adapter.health(signal())).status, 'down');

  upstream.faults.failAll = undefined;
  for (let i = 0; i < 200 && adapter.breaker.state === 'open'; i++) await sleep(10);
  t.equal(adapter.breaker.state, 'half-open');
  t.equal((await adapter.search(query, signal())).resources.length, 6, 'the probe went through');
  t.equal(adapter.breaker.state, 'closed');
  t.ok(log.lines.some((l) => l.level === 'warn' && l.text.includes('"to":"open"')), 'the opening is logged');
});

t.test('breaker: in half-open state exactly one probe goes out, its failure reopens', async (t) => {
  let now = 0;
  const breaker = new CircuitBreaker({ failureThreshold: 2, openMs: 1000, now: () => now });
  breaker.recordFailure();
  t.equal(breaker.state, 'closed');
  breaker.recordFailure();
  t.equal(breaker.state, 'open');
  t.notOk(breaker.tryAcquire());
  now = 1000;
  t.equal(breaker.state, 'half-open');
  t.ok(breaker.tryAcquire(), 'the probe');
  t.notOk(breaker.tryAcquire(), 'no second probe while the first is out');
  breaker.recordFailure();
  t.equal(breaker.state, 'open');
  now = 2000;
  t.ok(breaker.tryAcquire());
  breaker.release();
  t.ok(breaker.tryAcquire(), 'a probe abandoned by its caller frees the slot');
  breaker.recordSuccess();
  t.equal(breaker.state, 'closed');
});

t.test('rate limit: a token bucket per source, FIFO, abortable', async (t) => {
  const bucket = new TokenBucket({ perSecond: 50, burst: 2 });
  t.teardown(() => bucket.close());
  const order: number[] = [];
  await Promise.all([0, 1, 2, 3, 4].map((i) => bucket.acquire(signal()).then(() => order.push(i))));
  t.same(order, [0, 1, 2, 3, 4], 'waiters are served in arrival order');
  await bucket.acquire(signal());
  const controller = new AbortController();
  const waiting = bucket.acquire(controller.signal);
  controller.abort(new Error('gave up'));
  await t.rejects(waiting, /gave up/);

  const { upstream, adapter } = await setup(t, { rateLimit: { perSecond: 100, burst: 1 } });
  const pages = await Promise.all(Array.from({ length: 8 }, () => adapter.search(query, signal())));
  t.ok(pages.every((p) => p.resources.length === 6), 'limited requests all complete');
  t.ok(upstream.counters.searches >= 8);
});

t.test('rate limit options are checked: the queue mode only for a source that runs through its queue', async (t) => {
  const open = (rateLimit: unknown) => createFhirAdapter(sourceConfig('limited', { baseUrl: 'http://127.0.0.1:9/fhir', rateLimit }), testContext(dataDir));
  await t.rejects(open({ perSecond: 5, enforcedBy: 'queue' }), /rateLimit.enforcedBy "queue" needs the source to run through its adapter queue \("via": "queue"\)/);
  const queued = await createFhirAdapter({ ...sourceConfig('limited', { baseUrl: 'http://127.0.0.1:9/fhir', rateLimit: { perSecond: 5, enforcedBy: 'queue' }, timeoutMs: 200, maxAttempts: 1 }), via: 'queue' }, testContext(dataDir));
  t.teardown(() => queued.close());
  t.ok(queued, 'a via-queue source accepts it (the queue\'s limiter enforces it; see test/adapter-queue)');
  await t.rejects(open({ perSecond: 5, enforcedBy: 'worker' }), /rateLimit.enforcedBy must be "inline" or "queue"/);
  await t.rejects(open({ perSecond: 0 }), /rateLimit must be \{ perSecond: number > 0/);
  await t.rejects(open({ perSecond: 5, burst: 0.5 }), /burst\?: whole number >= 1/);
  await t.rejects(open({ perSecond: 5, perMinute: 9 }), /unknown perMinute/);
});
