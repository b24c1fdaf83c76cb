/**
 * A `via: "queue"` source end to end, with real parts: a private redis-server, a real upstream
 * FHIR server, the adapter worker in a child process of its own (server/adapter-worker.ts), and
 * the node's FHIR layer (buildApp) talking to the source only through its `adapter-<id>` queue.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Resource } from '@medplum/fhirtypes';
import { Redis } from 'ioredis';
import t, { type Test } from 'tap';
import type { QueuedSource } from '../../adapters/queue/queued-source.ts';
import { buildApp } from '../../server/app.ts';
import { closeSources, openSources } from '../../server/config/open-sources.ts';
import { validateSources } from '../../server/config/sources-file.ts';
import { startRedisServer } from '../../server/embedded/redis-server.ts';
import { InMemoryPatientLinks } from '../../server/fhir/patient-links.ts';
import { clinicalRecords, recordingLogger } from '../upstream-fhir/support/fixtures.ts';
import { startTestUpstream } from '../upstream-fhir/support/test-upstream.ts';
import { startWorkerProcess, type WorkerProcess } from './support/worker-process.ts';

const dir = mkdtempSync(join(tmpdir(), 'medrec-adapter-queue-'));
const person = '0x00000000000000000000000000000000000c0ffe';
// PHI the queue must never show in clear: the local patient id, the name, record text.
const LOCAL_ID = 'mrn-canary-4412';
const PHI = [LOCAL_ID, 'Wilhelmina', 'Quarterstaff', 'canary glucose note', person];
const records: Resource[] = [
  { resourceType: 'Patient', id: LOCAL_ID, name: [{ given: ['Wilhelmina'], family: 'Quarterstaff' }], gender: 'female', birthDate: '1961-04-02' },
  ...[1, 2, 3].map((i): Resource => ({
    resourceType: 'Observation', id: `obs-canary-${i}`, status: 'final',
    code: { text: 'canary glucose note', coding: [{ system: 'http://loinc.org', code: '2339-0' }] },
    subject: { reference: `Patient/${LOCAL_ID}` }, effectiveDateTime: `2024-0${i}-01`,
  })),
];

const redis = await startRedisServer();
t.teardown(() => redis.stop());
const upstream = await startTestUpstream({ resources: records });
t.teardown(() => upstream.close());

const keyFile = (name: string) => {
  const file = join(dir, `${name}.key`);
  writeFileSync(file, randomBytes(32).toString('hex'));
  return file;
};
const rightKey = keyFile('right');
const prefix = `t-${randomBytes(4).toString('hex')}`;
// Deadlines leave room for a loaded machine: what is asserted is never how long anything took.
const fhirOptions = { baseUrl: upstream.baseUrl, maxAttempts: 1, timeoutMs: 5000 };
const hospital = (via: 'inline' | 'queue', queue: Record<string, unknown> = {}) => ({
  id: 'hosp', kind: 'fhir', provider: '0x00000000000000000000000000000000000000a1', name: 'Hospital', options: fhirOptions,
  ...(via === 'queue' ? { via, queue: { keyFile: rightKey, prefix, deadlineMs: 6000, ...queue } } : {}),
});
const sourcesFile = (name: string, sources: unknown[]) => {
  const file = join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify({ sources }));
  return file;
};
const queuedFile = sourcesFile('queued', [hospital('queue')]);
const wrongKeyFile = sourcesFile('wrong-key', [hospital('queue', { keyFile: keyFile('wrong') })]);

let worker: WorkerProcess = await startWorkerProcess(queuedFile, redis.url, dir);
t.teardown(() => worker.stop());

const nodeLog = recordingLogger();
const open = (sources: unknown[]) => openSources(validateSources({ sources }, 'test'), { log: nodeLog, dataDir: dir, redisUrl: redis.url });
const inlineSources = await open([hospital('inline')]);
const queuedSources = await open([hospital('queue')]);
t.teardown(() => closeSources([...inlineSources, ...queuedSources]));
const queued = queuedSources[0]!.adapter as QueuedSource;

const links = new InMemoryPatientLinks([{ patient: person, sourceId: 'hosp', localId: LOCAL_ID }]);
const app = async (sources: typeof inlineSources) => {
  const built = await buildApp({ cursorSecret: 'adapter-queue-test-cursor-secret-0123456789', sourceTimeoutMs: 4000, bodyLimit: 64 * 1024, logLevel: 'silent' }, { sources, patientLinks: links });
  t.teardown(() => built.close());
  return built;
};
const inlineApp = await app(inlineSources);
const queuedApp = await app(queuedSources);

type Bundle = { total?: number; entry?: { resource: any; search?: { mode?: string } }[] };
const get = async (target: typeof inlineApp, url: string) => {
  const res = await target.inject({ method: 'GET', url });
  return { status: res.statusCode, body: JSON.parse(res.body) as Bundle & Record<string, any> };
};
const matches = (bundle: Bundle) => (bundle.entry ?? []).filter((e) => e.search?.mode === 'match');
const warnings = (bundle: Bundle) => (bundle.entry ?? []).filter((e) => e.search?.mode === 'outcome').flatMap((e) => e.resource.issue);
const observations = `/fhir/Observation?patient=${person}&_sort=date&_count=50`;

/** Every key under a prefix with every value it holds, as text. */
async function dumpKeys(keyPrefix: string): Promise<{ keys: string[]; text: string }> {
  const client = new Redis(redis.url);
  try {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await client.scan(cursor, 'MATCH', `${keyPrefix}:*`, 'COUNT', '500');
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    const values = await Promise.all(keys.map(async (key) => {
      switch (await client.type(key)) {
        case 'string': return client.get(key);
        case 'hash': return client.hgetall(key);
        case 'list': return client.lrange(key, 0, -1);
        case 'set': return client.smembers(key);
        case 'zset': return client.zrange(key, '0', '-1', 'WITHSCORES');
        case 'stream': return client.xrange(key, '-', '+');
        default: return null;
      }
    }));
    return { keys, text: JSON.stringify(keys.map((key, i) => [key, values[i]])) };
  } finally {
    client.disconnect();
  }
}

/** Whether the worker logs such a line: its stdout can arrive after the node has the job's outcome. */
async function logged(from: WorkerProcess, wanted: (line: string) => boolean): Promise<boolean> {
  for (let waited = 0; waited < 5000; waited += 20) {
    if (from.lines.some(wanted)) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return false;
}

t.test('a search, a read and a health check through the queue answer exactly what the inline source answers', async (t) => {
  const inline = await get(inlineApp, observations);
  const viaQueue = await get(queuedApp, observations);
  t.equal(viaQueue.status, 200);
  t.equal(matches(viaQueue.body).length, 3);
  t.same(viaQueue.body.entry, inline.body.entry, 'same entries, same order, same rewritten ids and references');
  t.equal(viaQueue.body.total, inline.body.total);
  const id = matches(inline.body)[0]!.resource.id as string;
  const [inlineRead, queuedRead] = [await get(inlineApp, `/fhir/Observation/${id}`), await get(queuedApp, `/fhir/Observation/${id}`)];
  t.equal(queuedRead.status, 200);
  t.same(queuedRead.body, inlineRead.body);
  const [inlineHealth, queuedHealth] = [await inlineSources[0]!.adapter.health(AbortSignal.timeout(4000)), await queued.health(AbortSignal.timeout(4000))];
  t.equal(queuedHealth.status, 'up');
  t.same({ ...queuedHealth, checkedAt: undefined }, { ...inlineHealth, checkedAt: undefined }, 'health is the worker adapter\'s');
});

t.test('/metadata declares what the worker\'s adapter answers, as it would inline', async (t) => {
  const types = (statement: any) => statement.rest[0].resource.map((r: any) => [r.type, r.searchParam?.map((p: any) => p.name)]);
  const inline = await get(inlineApp, '/fhir/metadata');
  const viaQueue = await get(queuedApp, '/fhir/metadata');
  t.ok(types(viaQueue.body).some(([type]: [string]) => type === 'Observation'));
  t.same(types(viaQueue.body), types(inline.body));
});

t.test('Redis never holds a patient id, name or record text in clear, not even while a call is in flight', async (t) => {
  upstream.faults.latencyMs = 2000;
  t.teardown(() => { upstream.faults.latencyMs = 0; });
  // Counted as the upstream takes the requests, before its latency: the jobs are active then.
  const before = upstream.counters.fhirRequests;
  const search = get(queuedApp, observations);
  // A call its node stops waiting for: its result stays in its key (until it expires) for the scan.
  const abandon = new AbortController();
  const abandoned = queued.search({ resourceType: 'Observation', filters: [], patients: [LOCAL_ID], count: 50 }, abandon.signal).catch(() => undefined);
  while (upstream.counters.fhirRequests < before + 2) await new Promise((resolve) => setTimeout(resolve, 10));
  const inFlight = await dumpKeys(prefix);
  abandon.abort();
  await abandoned;
  t.equal((await search).status, 200);
  let after = await dumpKeys(prefix);
  while (!after.keys.some((k) => k.includes(':medrec-result:'))) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    after = await dumpKeys(prefix);
  }
  t.ok(inFlight.keys.some((k) => k.startsWith(`${prefix}:adapter-hosp:`)), 'the queue\'s keys read <prefix>:adapter-hosp:…');
  t.match(inFlight.text, /\{\\+"sealed\\+":\\+"v1\./, 'the active job\'s data was scanned: sealed');
  t.match(after.text, /:medrec-result:[^"]+","v1\./, 'the abandoned call\'s result was scanned: sealed');
  t.match(after.text, /completed/, 'the events stream was scanned');
  const client = new Redis(redis.url);
  const left = after.keys.find((k) => k.includes(':medrec-result:'))!;
  const ttl = await client.pttl(left).finally(() => client.disconnect());
  t.ok(ttl > 0 && ttl <= 6000 + 5000, 'a result nobody took expires a little after its deadline');
  for (const phi of PHI) {
    t.notOk(inFlight.text.includes(phi), `no "${phi}" in Redis during the call`);
    t.notOk(after.text.includes(phi), `no "${phi}" in Redis after it`);
  }
  for (const phi of PHI) t.notOk([...worker.lines, ...nodeLog.lines.map((l) => l.text)].some((line) => line.includes(phi)), `no "${phi}" in the logs`);
});

t.test('results travel in keys of their own: the events stream every node reads says only which job completed', async (t) => {
  const client = new Redis(redis.url);
  t.teardown(() => client.disconnect());
  const resultKeys = () => client.keys(`${prefix}:adapter-hosp:medrec-result:*`);
  const known = await resultKeys();
  t.equal((await get(queuedApp, observations)).status, 200);
  const completed = (await client.xrange(`${prefix}:adapter-hosp:events`, '-', '+'))
    .map(([, fields]) => Object.fromEntries(fields.flatMap((f, i) => (i % 2 === 0 ? [[f, fields[i + 1]]] : []))))
    .filter((event) => event.event === 'completed');
  t.ok(completed.length > 0);
  t.ok(completed.every((event) => !/v1\./.test(event.returnvalue ?? '')), 'no completed event carries a result');
  t.same((await resultKeys()).filter((key) => !known.includes(key)), [], 'the waiting node took its result (GETDEL): nothing left behind');
  t.equal(await client.hget(`${prefix}:adapter-hosp:meta`, 'opts.maxLenEvents'), '2000', 'the events stream is capped (about 2000 small entries)');
});

t.test('an adapter failure crosses the queue as a fixed text; what the adapter said stays in the worker\'s log', async (t) => {
  const query = { resourceType: 'Observation', filters: [], patients: [LOCAL_ID], count: 50 };
  upstream.faults.failNext = [{ status: 503 }];
  const inline = await inlineSources[0]!.adapter.search(query, AbortSignal.timeout(4000)).then(() => undefined, (err: unknown) => err as Error);
  upstream.faults.failNext = [{ status: 503 }];
  const viaQueue = await queued.search(query, AbortSignal.timeout(4000)).then(() => undefined, (err: unknown) => err as Error);
  t.equal(inline?.name, 'SourceUnavailableError');
  t.equal(viaQueue?.name, 'SourceUnavailableError', 'the planner sees an unavailable source, as inline');
  t.equal(viaQueue?.message, 'the adapter failed at the worker (its log says how)');
  t.ok(await logged(worker, (line) => line.includes('adapter call failed at the worker') && line.includes(JSON.stringify(inline!.message))), 'the worker logs the adapter\'s own text');
});

/** The queued source's search answers 200 without its records and with one warning of this code naming it. */
async function searchLeavesSourceOut(t: Test, code: string) {
  const answer = await get(queuedApp, observations);
  t.equal(answer.status, 200);
  t.same(matches(answer.body), []);
  const issues = warnings(answer.body);
  t.equal(issues.length, 1);
  t.equal(issues[0].code, code);
  t.equal(issues[0].diagnostics, 'source=hosp');
  return issues[0];
}

t.test('a stopped worker makes the source a warning, not a failed search; the next search works once it is back', async (t) => {
  await worker.stop();
  const issue = await searchLeavesSourceOut(t, 'timeout');
  t.equal(issue.severity, 'warning');
  t.same(queued.capabilities(), inlineSources[0]!.adapter.capabilities(), 'the last published capabilities are kept');

  worker = await startWorkerProcess(queuedFile, redis.url, dir);
  const back = await get(queuedApp, observations);
  t.equal(back.status, 200);
  t.equal(matches(back.body).length, 3);
  t.same(warnings(back.body), []);
});

t.test('a worker with another queue key refuses every call before the source sees it, with a logged error and no PHI', async (t) => {
  await worker.stop();
  const wrong = await startWorkerProcess(wrongKeyFile, redis.url, dir);
  t.teardown(async () => {
    await wrong.stop();
    worker = await startWorkerProcess(queuedFile, redis.url, dir);
  });
  const known = queued.capabilities();
  await queued.refreshCapabilities();
  t.same(queued.capabilities(), known, 'capabilities sealed with another key are not taken');
  t.ok(nodeLog.lines.some((l) => l.level === 'warn' && l.text.includes('capabilities not readable')));

  const searchesBefore = upstream.counters.searches;
  await searchLeavesSourceOut(t, 'exception');
  t.equal(upstream.counters.searches, searchesBefore, 'nothing reached the upstream');
  t.ok(await logged(wrong, (line) => line.includes('"level":50') && line.includes('does not open with this worker\'s queue key')), 'the worker says why');
  for (const phi of PHI) t.notOk(wrong.lines.some((line) => line.includes(phi)), `no "${phi}" in the worker's log`);
});

t.test('a worker whose clock runs two minutes ahead answers within the deadline (counted in Redis time), and logs its skew', async (t) => {
  await worker.stop();
  const skewed = await startWorkerProcess(queuedFile, redis.url, dir, { clockSkewMs: 120_000 });
  t.teardown(async () => {
    await skewed.stop();
    worker = await startWorkerProcess(queuedFile, redis.url, dir);
  });
  const answered = await get(queuedApp, observations);
  t.equal(answered.status, 200);
  t.equal(matches(answered.body).length, 3, 'the call was not taken as expired');
  t.same(warnings(answered.body), []);
  t.ok(await logged(skewed, (line) => line.includes('"level":40') && line.includes('clock is off the queue\'s Redis clock') && /"offsetMs":-1[12]\d{4}\b/.test(line)), 'the worker logs how far off its clock is');
});

t.test('a worker or a node whose queue key is missing refuses to start, saying which setting', async (t) => {
  const unset = sourcesFile('unset-key', [{ ...hospital('queue'), queue: { keyEnv: 'MEDREC_TEST_UNSET_QUEUE_KEY', prefix } }]);
  await t.rejects(startWorkerProcess(unset, redis.url, dir), /adapter-worker: source hosp \(via queue\): environment variable MEDREC_TEST_UNSET_QUEUE_KEY \(queue.keyEnv\) is not set/);
  await t.rejects(open([{ ...hospital('queue'), queue: { keyEnv: 'MEDREC_TEST_UNSET_QUEUE_KEY' } }]), /source hosp \(via queue\): environment variable MEDREC_TEST_UNSET_QUEUE_KEY/);
});

t.test('rateLimit enforcedBy "queue": the BullMQ limiter lets `burst` calls per window reach the upstream, the rest wait', async (t) => {
  // A window far longer than the test: what is counted is how many calls one window admits.
  const limitedUpstream = await startTestUpstream({ resources: clinicalRecords() });
  t.teardown(() => limitedUpstream.close());
  const limited = {
    id: 'limited', kind: 'fhir', provider: '0x00000000000000000000000000000000000000a2', name: 'Limited',
    via: 'queue', queue: { keyFile: rightKey, prefix: `t-${randomBytes(4).toString('hex')}`, deadlineMs: 4000 },
    options: { baseUrl: limitedUpstream.baseUrl, maxAttempts: 1, rateLimit: { perSecond: 1 / 30, burst: 2, enforcedBy: 'queue' } },
  };
  const limitedWorker = await startWorkerProcess(sourcesFile('limited', [limited]), redis.url, dir);
  t.teardown(() => limitedWorker.stop());
  const [source] = await openSources(validateSources({ sources: [limited] }, 'test'), { log: nodeLog, dataDir: dir, redisUrl: redis.url });
  t.teardown(() => source!.adapter.close());
  const query = { resourceType: 'Observation', filters: [], patients: ['p1'], count: 50 };
  const calls = await Promise.allSettled(Array.from({ length: 5 }, () => source!.adapter.search(query, AbortSignal.timeout(4000))));
  const answered = calls.filter((c) => c.status === 'fulfilled');
  t.equal(answered.length, 2, 'two calls in the window');
  t.ok(answered.every((c) => (c as PromiseFulfilledResult<{ resources: unknown[] }>).value.resources.length === 6));
  t.ok(calls.filter((c) => c.status === 'rejected').every((c) => ((c as PromiseRejectedResult).reason as Error).name === 'TimeoutError'), 'the others waited past their deadline');
  t.equal(limitedUpstream.counters.searches, 2, 'the upstream saw exactly two searches');
});
