/**
 * Upstream FHIR adapter figures, all measured in this run against real HTTP upstreams on loopback
 * (the test upstreams of test/upstream-fhir, in a child process so their work does not share the
 * event loop being measured):
 *
 *  1. Adapter overhead: the same patient search sent (a) directly with an undici keep-alive pool
 *     and JSON.parse, (b) through the adapter (translation, breaker, limiter-free client, Bundle
 *     checks, compartment check, page token). Ratio of mean latencies.
 *  2. Cross-provider search over three upstreams with 50 ms injected latency each, run as
 *     Promise.all over the three adapters: latency against the 1.2 × 50 ms aim, and throughput
 *     at a fixed concurrency.
 *  3. The same search through the server's federation (buildApp: planner, per-source deadlines,
 *     merge, id rewriting, sealed cursor, Bundle) over real HTTP.
 *
 * Run: `node bench/upstream-fhir.ts` (add `--quick` for a short smoke run).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from 'undici';
import type { SourceQuery } from '../adapters/ehr-adapter.ts';
import { createFhirAdapter, type FhirUpstreamAdapter } from '../adapters/fhir/fhir-adapter.ts';
import { buildApp } from '../server/app.ts';
import { InMemoryPatientLinks } from '../server/fhir/patient-links.ts';
import { sourceConfig, testContext } from '../test/upstream-fhir/support/fixtures.ts';

/** Test upstreams in a child process, so their work does not share the measured event loop. */
async function upstreamProcess(count: number, latencyMs: number): Promise<{ baseUrls: string[]; stop: () => void }> {
  const child = spawn(process.execPath, [new URL('../test/upstream-fhir/support/upstream-process.ts', import.meta.url).pathname, String(count), String(latencyMs), '20'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout });
  const first = await new Promise<string>((resolve, reject) => {
    lines.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`upstream process exited (${code})`)));
  });
  const { baseUrls } = JSON.parse(first) as { baseUrls: string[] };
  return { baseUrls, stop: () => child.kill('SIGTERM') };
}

const quick = process.argv.includes('--quick');
const ROUNDS = quick ? 100 : 1000;
const FEDERATED_ROUNDS = quick ? 20 : 100;
const THROUGHPUT_MS = quick ? 1000 : 4000;
const CONCURRENCY = 16;
const LATENCY_MS = 50;

const query: SourceQuery = { resourceType: 'Observation', filters: [], patients: ['p1'], count: 10 };
const never = new AbortController().signal;

interface Stats { mean: number; p50: number; p95: number; p99: number }

function stats(samples: number[]): Stats {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  return { mean: sorted.reduce((s, v) => s + v, 0) / sorted.length, p50: at(0.5), p95: at(0.95), p99: at(0.99) };
}

function show(label: string, s: Stats): string {
  return `${label.padEnd(34)} mean ${s.mean.toFixed(3)} ms  p50 ${s.p50.toFixed(3)}  p95 ${s.p95.toFixed(3)}  p99 ${s.p99.toFixed(3)}`;
}

async function timed(rounds: number, fn: () => Promise<unknown>): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const start = performance.now();
    await fn();
    samples.push(performance.now() - start);
  }
  return samples;
}

async function throughput(durationMs: number, concurrency: number, fn: () => Promise<unknown>): Promise<{ perSecond: number; latency: Stats }> {
  const samples: number[] = [];
  const end = performance.now() + durationMs;
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < end) {
      const start = performance.now();
      await fn();
      samples.push(performance.now() - start);
    }
  }));
  return { perSecond: samples.length / ((performance.now() - started) / 1000), latency: stats(samples) };
}

async function adapterFor(baseUrl: string, id: string): Promise<FhirUpstreamAdapter> {
  const dataDir = mkdtempSync(join(tmpdir(), 'medrec-bench-upstream-'));
  return (await createFhirAdapter(sourceConfig(id, { baseUrl, timeoutMs: 5000 }), testContext(dataDir))) as FhirUpstreamAdapter;
}

async function overhead(): Promise<void> {
  const upstream = await upstreamProcess(1, 0);
  const baseUrl = upstream.baseUrls[0] as string;
  const adapter = await adapterFor(baseUrl, 'bench');
  const agent = new Agent({ connections: 16, keepAliveTimeout: 30_000 });
  const url = new URL(`Observation?patient=${encodeURIComponent('Patient/p1')}&_count=10`, baseUrl);
  const direct = async () => {
    const response = await agent.request({ origin: url.origin, path: url.pathname + url.search, method: 'GET', headers: { accept: 'application/fhir+json' } });
    return JSON.parse(await response.body.text()) as unknown;
  };
  const viaAdapter = () => adapter.search(query, never);
  // Warm up both paths (JIT, connections, definitions) before measuring; then interleave blocks
  // so drift on the shared machine hits both sides alike.
  await timed(100, direct);
  await timed(100, viaAdapter);
  const directSamples: number[] = [];
  const adapterSamples: number[] = [];
  for (let block = 0; block < 10; block++) {
    directSamples.push(...(await timed(ROUNDS / 10, direct)));
    adapterSamples.push(...(await timed(ROUNDS / 10, viaAdapter)));
  }
  const d = stats(directSamples);
  const a = stats(adapterSamples);
  console.log(`# 1. adapter overhead, ${ROUNDS} sequential searches each (10 Observations per page)`);
  console.log(show('direct (undici + JSON.parse)', d));
  console.log(show('through the adapter', a));
  console.log(`ratio adapter/direct (mean): ${(a.mean / d.mean).toFixed(2)}  (p50: ${(a.p50 / d.p50).toFixed(2)}); added ${(a.mean - d.mean).toFixed(3)} ms per search`);
  await adapter.close();
  await agent.close();
  upstream.stop();
}

async function federated(): Promise<void> {
  const upstreams = await upstreamProcess(3, LATENCY_MS);
  const adapters = await Promise.all(upstreams.baseUrls.map((baseUrl, i) => adapterFor(baseUrl, `hosp${i}`)));
  const search = () => Promise.all(adapters.map((a) => a.search(query, never)));
  const single = () => adapters[0]!.search(query, never);
  await timed(10, search);
  const one = stats(await timed(FEDERATED_ROUNDS, single));
  const three = stats(await timed(FEDERATED_ROUNDS, search));
  console.log(`# 2. cross-provider search, three upstreams with ${LATENCY_MS} ms injected latency each (Promise.all over three adapters)`);
  console.log(show('one upstream (baseline)', one));
  console.log(show('three upstreams in parallel', three));
  const aim = 1.2 * LATENCY_MS + (one.mean - LATENCY_MS);
  console.log(`three/one (mean): ${(three.mean / one.mean).toFixed(3)}; aim ≤ 1.2 × ${LATENCY_MS} ms + own overhead = ${aim.toFixed(1)} ms → ${three.mean <= aim ? 'met' : 'NOT met'}`);
  const load = await throughput(THROUGHPUT_MS, CONCURRENCY, search);
  console.log(`throughput at concurrency ${CONCURRENCY}: ${load.perSecond.toFixed(1)} cross-provider searches/s (ideal ${(CONCURRENCY * 1000 / LATENCY_MS).toFixed(0)}/s)`);
  console.log(show('latency under that load', load.latency));

  // The same search through the server's own federation: FHIR layer, planner, per-source
  // deadlines, merge, id rewriting, sealed cursor, searchset Bundle, over real HTTP.
  const person = '0x00000000000000000000000000000000000f00d1';
  const app = await buildApp(
    { cursorSecret: 'bench-upstream-fhir-cursor-secret-0001', sourceTimeoutMs: 5000, bodyLimit: 65_536, logLevel: 'silent' },
    {
      sources: adapters.map((adapter, i) => ({ sourceId: adapter.sourceId, provider: `0x00000000000000000000000000000000000000a${i + 1}`, name: `Hospital ${i}`, adapter })),
      patientLinks: new InMemoryPatientLinks(adapters.map((adapter) => ({ patient: person, sourceId: adapter.sourceId, localId: 'p1' }))),
    },
  );
  await app.listen({ host: '127.0.0.1', port: 0 });
  const origin = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  const client = new Agent({ connections: CONCURRENCY });
  const path = `/fhir/Observation?patient=${person}&_count=30`;
  const viaServer = async () => {
    const response = await client.request({ origin, path, method: 'GET', headers: { accept: 'application/fhir+json' } });
    const bundle = JSON.parse(await response.body.text()) as { entry?: unknown[] };
    if (response.statusCode !== 200 || (bundle.entry?.length ?? 0) !== 30) throw new Error(`unexpected answer ${response.statusCode}`);
  };
  await timed(10, viaServer);
  const served = stats(await timed(FEDERATED_ROUNDS, viaServer));
  console.log(`# 3. the same cross-provider search through the server's federation (GET /fhir/Observation?patient=…, 3 × 10 records)`);
  console.log(show('GET through the FHIR layer', served));
  console.log(`server/one upstream (mean): ${(served.mean / one.mean).toFixed(3)}; aim ≤ ${aim.toFixed(1)} ms → ${served.mean <= aim ? 'met' : 'NOT met'}`);
  const serverLoad = await throughput(THROUGHPUT_MS, CONCURRENCY, viaServer);
  console.log(`throughput at concurrency ${CONCURRENCY}: ${serverLoad.perSecond.toFixed(1)} searches/s`);
  console.log(show('latency under that load', serverLoad.latency));
  await client.close();
  await app.close();
  await Promise.all(adapters.map((a) => a.close()));
  upstreams.stop();
}

await overhead();
await federated();
