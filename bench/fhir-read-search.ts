/**
 * FHIR read and search throughput and p99 latency over the embedded demo sources, each as a
 * ratio to a bare Fastify route returning the same JSON, measured in the same run; then the
 * latency of a search across three sources as a ratio to the slowest single source alone.
 *
 *   node bench/fhir-read-search.ts [--duration 2] [--rounds 5] [--connections 10]
 *
 * The servers run in a child process so autocannon does not share their event loop. Bare and
 * FHIR rounds alternate and medians are reported; the server's CPU per request is printed too,
 * since on a shared 2-core machine throughput also measures everyone else's load.
 * Aims: read ≥ 0.5 of the bare route; 3-source search ≤ 1.2 of the slowest source.
 */
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
// @ts-expect-error autocannon ships no type declarations
import autocannonUntyped from 'autocannon';
import Fastify from 'fastify';
import pino from 'pino';
import type { Resource } from '@medplum/fhirtypes';
import { EmbeddedAdapter, createEmbeddedAdapter } from '../adapters/embedded/embedded-adapter.ts';
import { readBundleFile } from '../adapters/embedded/bundle-files.ts';
import { buildApp } from '../server/app.ts';
import { demoAddress } from '../server/embedded/demo-identities.ts';
import { DEMO_PATIENT_LINKS } from '../server/embedded/demo-links.ts';
import { demoSources } from '../server/embedded/demo-sources.ts';
import { InMemoryPatientLinks } from '../server/fhir/patient-links.ts';
import type { FederatedSource } from '../server/fhir/source-directory.ts';

const READ_PATH = '/fhir/MedicationRequest/pharmacy-records.rx-880001';
const SEARCH_PATH = `/fhir/MedicationRequest?patient=${demoAddress('alice')}&_sort=-authoredon`;
const SOURCE_LATENCIES = { hospital: 40, clinic: 25, 'pharmacy-records': 10 } as const;

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const config = { cursorSecret: 'bench-secret-bench-secret-bench-secret', sourceTimeoutMs: 5000, bodyLimit: 1 << 20, logLevel: 'silent' };
const links = () => new InMemoryPatientLinks(DEMO_PATIENT_LINKS.map((l) => ({ patient: demoAddress(l.patient), sourceId: l.sourceId, localId: l.localId })));

async function serve(): Promise<void> {
  const log = pino({ level: 'silent' });
  const sources: FederatedSource[] = await Promise.all(
    // The bundle-backed demo providers only: the benchmark measures the FHIR layer, not SQL or HL7v2 stores.
    demoSources().filter((c) => c.kind === 'embedded').map(async (c) => ({ sourceId: c.id, provider: c.provider, name: c.name, adapter: await createEmbeddedAdapter(c, { log, dataDir: '/tmp' }) })),
  );
  const fhir = await buildApp(config, { sources, patientLinks: links() });
  await fhir.listen({ port: 0, host: '127.0.0.1' });
  const fhirUrl = `http://127.0.0.1:${(fhir.server.address() as { port: number }).port}`;

  // The same answers from a bare route: the cost floor of Fastify + JSON. Like any JSON API the
  // bare route serializes its object on every request (a constant string would measure only
  // the socket).
  const readBody = (await (await fetch(fhirUrl + READ_PATH)).json()) as object;
  const searchBody = (await (await fetch(fhirUrl + SEARCH_PATH)).json()) as object;
  const bare = Fastify();
  bare.get('/read', async () => readBody);
  bare.get('/search', async () => searchBody);
  // CPU time of this (server) process: per-request CPU cost is robust to load from other processes.
  bare.get('/cpu', async () => {
    const u = process.cpuUsage();
    return { micros: u.user + u.system };
  });
  await bare.listen({ port: 0, host: '127.0.0.1' });
  const bareUrl = `http://127.0.0.1:${(bare.server.address() as { port: number }).port}`;

  // Slow sources: the same records behind simulated EHR latencies, alone and federated.
  const slow = async (ids: readonly (keyof typeof SOURCE_LATENCIES)[]) => {
    const list: FederatedSource[] = [];
    for (const c of demoSources().filter((s) => ids.includes(s.id as keyof typeof SOURCE_LATENCIES))) {
      const resources: Resource[] = [];
      for (const file of c.options.files as string[]) resources.push(...(await readBundleFile(file)));
      list.push({ sourceId: c.id, provider: c.provider, name: c.name, adapter: new EmbeddedAdapter(c.id, resources, SOURCE_LATENCIES[c.id as keyof typeof SOURCE_LATENCIES]) });
    }
    const app = await buildApp(config, { sources: list, patientLinks: links() });
    await app.listen({ port: 0, host: '127.0.0.1' });
    return `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  };
  const slowest = await slow(['hospital']);
  const federated = await slow(['hospital', 'clinic', 'pharmacy-records']);
  process.send?.({ fhirUrl, bareUrl, slowest, federated });
}

interface AutocannonResult { requests: { average: number; total: number }; latency: { p99: number }; errors: number; non2xx: number }
const autocannon = autocannonUntyped as (o: { url: string; connections: number; duration: number }) => Promise<AutocannonResult>;

interface Urls { fhirUrl: string; bareUrl: string; slowest: string; federated: string }

interface Load { rps: number; p99: number; errors: number; cpuPerRequest: number }

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

let cpuUrl = '';
async function cpuMicros(): Promise<number> {
  return ((await (await fetch(cpuUrl)).json()) as { micros: number }).micros;
}

async function load(url: string, duration: number, connections: number): Promise<Load> {
  const before = await cpuMicros();
  const result = await autocannon({ url, duration, connections });
  const cpu = (await cpuMicros()) - before;
  return { rps: result.requests.average, p99: result.latency.p99, errors: result.errors + result.non2xx, cpuPerRequest: cpu / Math.max(1, result.requests.total) };
}

async function sequentialLatency(url: string, n: number): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const start = performance.now();
    const res = await fetch(url);
    await res.arrayBuffer();
    if (!res.ok) throw new Error(`${url} answered ${res.status}`);
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(n / 2)] as number;
}

async function main(): Promise<void> {
  const duration = arg('duration', 2);
  const connections = arg('connections', 10);
  const child: ChildProcess = fork(new URL(import.meta.url).pathname, ['--serve'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  try {
    const urls = await new Promise<Urls>((resolve, reject) => {
      child.once('message', (m) => resolve(m as Urls));
      child.once('exit', (code) => reject(new Error(`server child exited with ${code}`)));
    });
    cpuUrl = `${urls.bareUrl}/cpu`;
    // Warm up JIT and caches on every route.
    for (const u of [urls.bareUrl + '/read', urls.fhirUrl + READ_PATH, urls.bareUrl + '/search', urls.fhirUrl + SEARCH_PATH]) await load(u, 1, connections);

    // Alternate short rounds of bare and FHIR so load from elsewhere on the machine hits both
    // alike; figures are medians over the rounds.
    const rounds = Math.max(1, arg('rounds', 5));
    const paired = async (bareUrl: string, fhirUrl: string) => {
      const bares: Load[] = [];
      const fhirs: Load[] = [];
      for (let r = 0; r < rounds; r++) {
        bares.push(await load(bareUrl, duration, connections));
        fhirs.push(await load(fhirUrl, duration, connections));
      }
      const ratio = median(fhirs.map((f, i) => f.rps / (bares[i] as Load).rps));
      const cpuRatio = median(fhirs.map((f, i) => (bares[i] as Load).cpuPerRequest / f.cpuPerRequest));
      const pick = (list: Load[]): Load => ({
        rps: median(list.map((x) => x.rps)), p99: median(list.map((x) => x.p99)),
        errors: list.reduce((n, x) => n + x.errors, 0), cpuPerRequest: median(list.map((x) => x.cpuPerRequest)),
      });
      return { bare: pick(bares), fhir: pick(fhirs), ratio, cpuRatio };
    };
    const read = await paired(urls.bareUrl + '/read', urls.fhirUrl + READ_PATH);
    const search = await paired(urls.bareUrl + '/search', urls.fhirUrl + SEARCH_PATH);
    const [bareRead, fhirRead, bareSearch, fhirSearch] = [read.bare, read.fhir, search.bare, search.fhir];
    const slowest = await sequentialLatency(urls.slowest + SEARCH_PATH, 40);
    const federated = await sequentialLatency(urls.federated + SEARCH_PATH, 40);

    const cpuRow = (name: string, fhir: Load, bare: Load, ratio: number) =>
      `${name.padEnd(8)} ${fhir.cpuPerRequest.toFixed(0).padStart(5)} µs CPU/request vs bare ${bare.cpuPerRequest.toFixed(0).padStart(5)} µs  capacity ratio ${ratio.toFixed(2)}`;
    const row = (name: string, fhir: Load, bare: Load, ratio: number) =>
      `${name.padEnd(8)} ${fhir.rps.toFixed(0).padStart(7)} req/s vs bare ${bare.rps.toFixed(0).padStart(7)}  throughput ratio ${ratio.toFixed(2)}   p99 ${fhir.p99} ms vs ${bare.p99} ms  p99 ratio ${(fhir.p99 / Math.max(bare.p99, 1)).toFixed(2)}${fhir.errors ? `  (${fhir.errors} errors)` : ''}`;
    console.log(`# FHIR vs bare Fastify route returning the same JSON (${rounds} alternating rounds of ${duration} s, ${connections} connections, loopback; medians)`);
    console.log(row('read', fhirRead, bareRead, read.ratio));
    console.log(row('search', fhirSearch, bareSearch, search.ratio));
    console.log('# server CPU per request (robust to load from other processes on a shared machine)');
    console.log(cpuRow('read', fhirRead, bareRead, read.cpuRatio));
    console.log(cpuRow('search', fhirSearch, bareSearch, search.cpuRatio));
    console.log(`# search across 3 sources (${Object.entries(SOURCE_LATENCIES).map(([k, v]) => `${k} ${v} ms`).join(', ')}) vs the slowest alone, median of 40`);
    console.log(`federated ${federated.toFixed(1)} ms vs slowest source ${slowest.toFixed(1)} ms  latency ratio ${(federated / slowest).toFixed(2)}`);
    console.log(`read throughput ratio ${read.ratio.toFixed(2)}, CPU capacity ratio ${read.cpuRatio.toFixed(2)} (aim >= 0.5); federation latency ratio ${(federated / slowest).toFixed(2)} (aim <= 1.2)`);
  } finally {
    child.kill();
  }
}

if (process.argv.includes('--serve')) await serve();
else await main();
