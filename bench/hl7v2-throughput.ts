/**
 * HL7v2 feed throughput: messages per second from an MLLP sender to searchable FHIR, and ACK
 * latency p50/p99, against a baseline measured in the same run: a raw MLLP echo server that
 * answers every frame with an AA at once (no parsing, no storage). Same sender code for both.
 *
 * The system under test is the `hl7v2` source as the server runs it: MLLP listener, durable
 * acceptance into the SQLite inbox (WAL, synchronous=FULL: every AA follows an fsync, group
 * committed), the store and its conversion worker in their own thread, search through the
 * EhrAdapter.
 * Feed: a mix of ADT^A01/A08, ORU^R01 (3 OBX) and RDE^O11 over 2,000 patients.
 * Two sender shapes: `pipelined` (a batch feed: 4 connections, 64 messages in flight each) and
 * `one-at-a-time` (16 interface-engine connections, each waiting for its ACK before the next),
 * on the SQLite store; then the pipelined feed on the PostgreSQL store (127.0.0.1:5432).
 *
 * Run: `node bench/hl7v2-throughput.ts` (`--quick` for a short smoke run; `HL7_STORE_THREAD=0` to
 * measure the store and conversion on the event-loop thread instead of their own worker thread).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import pg from 'pg';
import { loadFhirDefinitions } from '../adapters/fhir-definitions.ts';
import { Hl7v2Source } from '../adapters/hl7v2/hl7v2-adapter.ts';

const quick = process.argv.includes('--quick');
const MESSAGES = quick ? 4_000 : 20_000;
const VT = 0x0b;
const FS = 0x1c;

function msh(type: string, control: string): string {
  return `MSH|^~\\&|BENCH|SLMC|MEDREC|MEDREC|20250301101500-0500||${type}|${control}|P|2.5.1`;
}

/** Message n of the feed (unique control id; resources keyed so each message creates or updates). */
function feedMessage(n: number): string {
  const mrn = 500_000 + (n % 2_000);
  const pid = `PID|1||${mrn}^^^SLMC^MR||Bench^Patient${n % 2_000}||19700101|F|||1 Main St^^Boston^MA^02118^USA^H`;
  const pv1 = `PV1|1|I|WARD^${n % 40}^1^SLMC||||77^Welby^Marcus^^^Dr||||||||||||V${mrn}`;
  switch (n % 4) {
    case 0:
      return [msh('ADT^A01^ADT_A01', `B${n}`), 'EVN|A01|20250301101500', pid, pv1, 'AL1|1|DA|7980^Penicillin G^RXNORM|SV|Hives'].join('\r') + '\r';
    case 1:
      return [
        msh('ORU^R01^ORU_R01', `B${n}`), pid, pv1,
        `OBR|1|P${n}^CPOE|F${n}^LAB|24323-8^Metabolic panel^LN|||20250301070000-0500||||||||||||||||LAB|F`,
        `OBX|1|NM|2345-7^Glucose^LN||${70 + (n % 90)}|mg/dL^^UCUM|70-99|N|||F`,
        `OBX|2|NM|2823-3^Potassium^LN||4.${n % 10}|mmol/L^^UCUM|3.5-5.1|N|||F`,
        'OBX|3|ST|5778-6^Color of Urine^LN||Yellow||||||F',
      ].join('\r') + '\r';
    case 2:
      return [
        msh('RDE^O11^RDE_O11', `B${n}`), pid, pv1,
        `ORC|NW|O${n}^CPOE|RX${n}^PHARM||IP||||20250301101000-0500|||77^Welby^Marcus^^^Dr`,
        'RXE|^BID|308182^Amoxicillin 250 MG Oral Capsule^RXNORM|250||mg^milligram^UCUM|CAP^Capsule^HL70292|^Twice daily|||20|CAP|0',
        'RXR|PO^Oral^HL70162',
      ].join('\r') + '\r';
    default:
      return [msh('ADT^A08^ADT_A01', `B${n}`), 'EVN|A08|20250301101500', pid, pv1].join('\r') + '\r';
  }
}

function frame(text: string): Buffer {
  const body = Buffer.from(text, 'utf8');
  return Buffer.concat([Buffer.from([VT]), body, Buffer.from([FS, 0x0d])]);
}

/** Baseline: answers each frame with an AA echoing MSH-10, without parsing anything else. */
async function startEchoServer(): Promise<{ port: number; server: Server }> {
  const server = createServer((socket) => {
    let pending: Buffer = Buffer.alloc(0);
    socket.setNoDelay(true);
    socket.on('data', (data: Buffer) => {
      pending = pending.length ? Buffer.concat([pending, data]) : data;
      const out: Buffer[] = [];
      for (;;) {
        const start = pending.indexOf(VT);
        const end = pending.indexOf(FS, start + 1);
        if (start === -1 || end === -1) break;
        const header = pending.subarray(start + 1, Math.min(end, start + 200)).toString('latin1');
        const control = header.split('|')[9] ?? '';
        out.push(frame(`MSH|^~\\&|MEDREC|MEDREC|BENCH|SLMC|20250301||ACK^A01^ACK|E${control}|P|2.5.1\rMSA|AA|${control}\r`));
        pending = pending.subarray(end + 2);
      }
      if (out.length) socket.write(Buffer.concat(out));
    });
    socket.on('error', () => socket.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return { port: typeof address === 'object' && address ? address.port : 0, server };
}

interface SendResult { readonly seconds: number; readonly latenciesMs: number[]; readonly codes: Map<string, number> }

/**
 * Sends messages [0, count) over `connections` sockets, each keeping up to `window` messages in
 * flight, and records each message's ACK latency.
 */
async function send(port: number, count: number, connections: number, window: number): Promise<SendResult> {
  const latenciesMs: number[] = new Array(count);
  const codes = new Map<string, number>();
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: connections }, () =>
      new Promise<void>((resolve, reject) => {
        const socket: Socket = connect(port, '127.0.0.1');
        socket.setNoDelay(true);
        const sentAt = new Map<string, { n: number; t: number }>();
        let buffer: Buffer = Buffer.alloc(0);
        const pump = (): void => {
          const batch: Buffer[] = [];
          while (sentAt.size < window && next < count) {
            const n = next++;
            sentAt.set(`B${n}`, { n, t: performance.now() });
            batch.push(frame(feedMessage(n)));
          }
          if (batch.length) socket.write(Buffer.concat(batch));
          if (sentAt.size === 0 && next >= count) {
            socket.end();
            resolve();
          }
        };
        socket.on('connect', pump);
        socket.on('error', reject);
        socket.on('data', (data: Buffer) => {
          buffer = buffer.length ? Buffer.concat([buffer, data]) : data;
          for (;;) {
            const start = buffer.indexOf(VT);
            const end = buffer.indexOf(FS, start + 1);
            if (start === -1 || end === -1) break;
            const text = buffer.subarray(start + 1, end).toString('utf8');
            buffer = buffer.subarray(end + 2);
            const msa = text.split('\r').find((l) => l.startsWith('MSA')) ?? '';
            const [, code = '?', control = ''] = msa.split('|');
            const sent = sentAt.get(control);
            if (!sent) continue;
            sentAt.delete(control);
            latenciesMs[sent.n] = performance.now() - sent.t;
            codes.set(code, (codes.get(code) ?? 0) + 1);
          }
          pump();
        });
      }),
    ),
  );
  return { seconds: (performance.now() - started) / 1000, latenciesMs, codes };
}

function percentile(values: number[], p: number): number {
  const sorted = values.filter((v) => v !== undefined).sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

async function runScenario(name: string, connections: number, window: number, store?: Record<string, unknown>): Promise<void> {
  // Baseline. CPU is process-wide (sender, server and store thread alike), so the difference of
  // the two runs is what the hl7v2 source itself costs per message, whatever else loads the machine.
  const echo = await startEchoServer();
  const baseCpu = process.cpuUsage();
  const base = await send(echo.port, MESSAGES, connections, window);
  const baseCpuMs = cpuMs(process.cpuUsage(baseCpu));
  await new Promise<void>((resolve) => echo.server.close(() => resolve()));

  // System under test, on a real disk (durability costs fsyncs; that is the point).
  const dir = mkdtempSync(join(tmpdir(), 'medrec-bench-hl7v2-'));
  const source = await Hl7v2Source.open(
    { id: 'hl7-bench', kind: 'hl7v2', provider: '0x0000000000000000000000000000000000000001', name: 'Bench', options: { mllp: { port: 0 }, timezone: 'America/New_York', ...(store ? { store } : {}), storeThread: process.env.HL7_STORE_THREAD !== '0', ...(process.env.HL7_BATCH ? { batchSize: Number(process.env.HL7_BATCH) } : {}) } },
    { log: Fastify({ logger: false }).log, dataDir: dir, recordsChanged: () => undefined },
  );
  const started = performance.now();
  const sutCpu = process.cpuUsage();
  const sut = await send(source.mllpPort!, MESSAGES, connections, window);
  await source.drain();
  const signal = new AbortController().signal;
  const observations = await source.search({ resourceType: 'Observation', filters: [], count: 1 }, signal);
  const endToEnd = (performance.now() - started) / 1000;
  const sourceCpuMsPerMessage = (cpuMs(process.cpuUsage(sutCpu)) - baseCpuMs) / MESSAGES;
  const patients = await source.search({ resourceType: 'Patient', filters: [], count: 1 }, signal);
  const requests = await source.search({ resourceType: 'MedicationRequest', filters: [], count: 1 }, signal);
  const expectedObservations = Array.from({ length: MESSAGES }, (_, n) => n).filter((n) => n % 4 === 1).length * 3;
  const expectedPatients = new Set(Array.from({ length: MESSAGES }, (_, n) => n).filter((n) => n % 4 === 0 || n % 4 === 3).map((n) => n % 2_000)).size;
  const ok = sut.codes.get('AA') === MESSAGES && observations.total === expectedObservations && patients.total === expectedPatients;
  await source.close();
  rmSync(dir, { recursive: true, force: true });

  const baseRate = MESSAGES / base.seconds;
  const ackRate = MESSAGES / sut.seconds;
  const e2eRate = MESSAGES / endToEnd;
  console.log(`\n### ${name}: ${connections} connections × ${window} in flight, ${fmt(MESSAGES)} messages`);
  console.log(`baseline (echo AA, no parse, no storage): ${fmt(baseRate)} msg/s, ACK p50 ${fmt(percentile(base.latenciesMs, 50), 2)} ms, p99 ${fmt(percentile(base.latenciesMs, 99), 2)} ms`);
  console.log(`hl7v2 source, durable AA:               ${fmt(ackRate)} msg/s, ACK p50 ${fmt(percentile(sut.latenciesMs, 50), 2)} ms, p99 ${fmt(percentile(sut.latenciesMs, 99), 2)} ms`);
  console.log(`hl7v2 source, sender → searchable FHIR: ${fmt(e2eRate)} msg/s (${fmt(endToEnd, 2)} s; ${fmt(patients.total ?? 0)} Patient, ${fmt(observations.total ?? 0)} Observation, ${fmt(requests.total ?? 0)} MedicationRequest)`);
  const where = store ? 'this process only, PostgreSQL server not counted' : 'all threads';
  console.log(`hl7v2 source CPU: ${fmt(sourceCpuMsPerMessage * 1000)} µs per message end to end (${where}) → ${fmt(2000 / sourceCpuMsPerMessage)} msg/s of capacity on 2 otherwise idle cores`);
  console.log(`ratios: durable ACK / baseline = ${fmt(ackRate / baseRate, 3)}; end-to-end / baseline = ${fmt(e2eRate / baseRate, 3)}; end-to-end vs the 2,000 msg/s aim = ${fmt(e2eRate / 2000, 2)}×`);
  if (!ok) {
    console.log(`CHECK FAILED: AA ${sut.codes.get('AA') ?? 0}/${MESSAGES}, Observation ${observations.total}/${expectedObservations}, Patient ${patients.total}/${expectedPatients}`);
    process.exitCode = 1;
  }
}

function cpuMs(usage: NodeJS.CpuUsage): number {
  return (usage.user + usage.system) / 1000;
}

loadFhirDefinitions(); // once per process, as in the server: not part of any message's cost
console.log(`${cpus().length} cores, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')} (other processes share these cores)`);
await runScenario('pipelined batch feed, SQLite store (embedded default)', 4, 64);
await runScenario('one message at a time per connection, SQLite store', 16, 1);

// PostgreSQL (production back end) on the machine's server, in a database of its own.
const PG_DATABASE = 'medrec_hl7v2_bench';
const admin = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/postgres' });
try {
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${PG_DATABASE} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${PG_DATABASE}`);
  await admin.end();
  await runScenario('pipelined batch feed, PostgreSQL store', 4, 64, {
    kind: 'postgres', connectionString: `postgres://postgres@127.0.0.1:5432/${PG_DATABASE}`, schema: 'hl7v2_bench',
  });
} catch (error) {
  console.log(`\n### PostgreSQL scenario skipped: ${(error as Error).message}`);
}
