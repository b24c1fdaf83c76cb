/**
 * Token verification cost per request: the same FHIR read on the same server in the same run,
 * once with `Authorization: Bearer <SMART access token>` (RS256 check with cached keys, grant
 * still-active check: in-process cache fed by pub/sub, one Redis lookup at most) and once
 * without a token (the plugin passes anonymous requests on, the open policy allows both), and as
 * a control without a token but with a header as large as one.
 * Every request is real HTTP on loopback, in rounds that rotate the arms' order so drift hits
 * them alike. Prints throughput, p99 and CPU per request of each arm, the ratio authenticated /
 * unauthenticated (aim ≥ 0.9), plus the verifier's own cost per call. Whatever fails, the server,
 * the sources and the redis-server child are stopped.
 *
 * Run: `node bench/smart-token-verify.ts` (`--quick` for a short smoke run).
 */
// @ts-expect-error autocannon ships no type declarations
import autocannonUntyped from 'autocannon';
import { Redis } from 'ioredis';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { buildApp } from '../server/app.ts';
import { openSources, closeSources } from '../server/config/open-sources.ts';
import { demoAddress } from '../server/embedded/demo-identities.ts';
import { DEMO_PATIENT_LINKS } from '../server/embedded/demo-links.ts';
import { demoSources } from '../server/embedded/demo-sources.ts';
import { startRedisServer } from '../server/embedded/redis-server.ts';
import { InMemoryPatientLinks } from '../server/fhir/patient-links.ts';
import { freePort } from '../server/util/free-port.ts';
import { demoClients } from '../smart-on-fhir/demo-clients.ts';

const quick = process.argv.includes('--quick');
const DURATION_S = quick ? 2 : 3;
const ROUNDS = quick ? 1 : 6;
const CONNECTIONS = 16;

interface Run { rps: number; p99: number; errors: number; cpuUsPerRequest: number }
interface AutocannonResult { requests: { average: number }; latency: { p99: number }; errors: number; non2xx: number }
const autocannon = autocannonUntyped as (o: { url: string; connections: number; duration: number; headers: Record<string, string> }) => Promise<AutocannonResult>;

const alice = demoAddress('alice');
const path = `/fhir/Patient/${alice}`;
/** What to stop, last started first, however the run ends. */
const stops: Array<() => Promise<unknown> | void> = [];
const cleanup = async (): Promise<void> => {
  for (const stop of stops.splice(0).reverse()) await Promise.resolve(stop()).catch((error: unknown) => console.error('cleanup:', error));
};
// Interrupted runs stop the redis-server child too.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void cleanup().finally(() => process.exit(130)));

try {
  const redisServer = await startRedisServer();
  stops.push(() => redisServer.stop());
  const redis = new Redis(redisServer.url);
  stops.push(() => redis.disconnect());
  const log = pino({ level: 'silent' });
  const dataDir = mkdtempSync(join(tmpdir(), 'medrec-bench-smart-'));
  stops.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const sources = await openSources(demoSources(), { log, dataDir, redisUrl: redisServer.url });
  stops.push(() => closeSources(sources));
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const app = await buildApp(
    { publicUrl: origin, cursorSecret: 'bench-secret-bench-secret-bench-secret', sourceTimeoutMs: 5000, bodyLimit: 1_048_576, logLevel: 'silent' },
    {
      sources,
      patientLinks: new InMemoryPatientLinks(DEMO_PATIENT_LINKS.map((l) => ({ patient: demoAddress(l.patient), sourceId: l.sourceId, localId: l.localId }))),
      logger: log,
      smart: { publicUrl: origin, redis, prefix: 'bench:', clients: demoClients(), anonymous: 'pass' },
    },
  );
  stops.push(() => app.close());
  await app.listen({ port, host: '127.0.0.1' });

  // A real grant and access token, issued as the token endpoint issues them.
  const smart = app.smartAuth;
  const grant = await smart.store.createGrant({
    clientId: 'medrec-demo-patient-app',
    subject: alice,
    scope: 'launch/patient patient/*.rs',
    patient: alice,
    kind: 'user',
    expiresAt: Math.floor(Date.now() / 1000) + 3600,
  });
  const { token } = await smart.tokens.issueAccessToken(grant, 3600);

  const check = await Promise.all([
    fetch(`${origin}${path}`, { headers: { authorization: `Bearer ${token}` } }),
    fetch(`${origin}${path}`),
    fetch(`${origin}${path}`, { headers: { authorization: 'Bearer nope' } }),
  ]);
  if (check[0].status !== 200 || check[1].status !== 200 || check[2].status !== 401) {
    throw new Error(`unexpected statuses ${check.map((r) => r.status).join(' ')} (want 200 200 401)`);
  }

  /** One slice of load; the CPU this process spent per request covers server and load generator alike. */
  const run = async (headers: Record<string, string>): Promise<Run> => {
    const cpu = process.cpuUsage();
    const result = await autocannon({ url: `${origin}${path}`, connections: CONNECTIONS, duration: DURATION_S, headers });
    const used = process.cpuUsage(cpu);
    const requests = Math.max(1, result.requests.average * DURATION_S);
    return { rps: result.requests.average, p99: result.latency.p99, errors: result.errors + result.non2xx, cpuUsPerRequest: (used.user + used.system) / requests };
  };

  // Control arm: no token, but a header of the token's size, to tell header bytes from verification.
  const runs: { auth: Run[]; anon: Run[]; padded: Run[] } = { auth: [], anon: [], padded: [] };
  const arms = [
    () => run({}).then((r) => runs.anon.push(r)),
    () => run({ authorization: `Bearer ${token}` }).then((r) => runs.auth.push(r)),
    () => run({ 'x-padding': `Bearer ${token}` }).then((r) => runs.padded.push(r)),
  ];
  await run({}); // warm-up
  for (let round = 0; round < ROUNDS; round++) {
    // Rotate the order each round so drift hits every arm alike.
    for (let i = 0; i < arms.length; i++) await arms[(round + i) % arms.length]!();
  }

  // The verifier alone: first call (signature check) and cached calls (grant check only).
  const fresh = await smart.tokens.issueAccessToken(grant, 3600);
  let t0 = process.hrtime.bigint();
  await smart.tokens.verify(fresh.token);
  const firstUs = Number(process.hrtime.bigint() - t0) / 1000;
  const N = 20_000;
  t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) await smart.tokens.verify(fresh.token);
  const cachedUs = Number(process.hrtime.bigint() - t0) / 1000 / N;

  const mean = (xs: Run[], k: keyof Run) => xs.reduce((a, r) => a + r[k], 0) / xs.length;
  // Each round holds one run per arm; the median of the pair ratios resists the drift of a shared machine.
  const ratios = runs.auth.map((r, i) => r.rps / runs.anon[i]!.rps).sort((a, b) => a - b);
  const median = ratios.length % 2 ? ratios[(ratios.length - 1) / 2]! : (ratios[ratios.length / 2 - 1]! + ratios[ratios.length / 2]!) / 2;
  const auth = mean(runs.auth, 'rps');
  const anon = mean(runs.anon, 'rps');
  const line = (label: string, xs: Run[]) =>
    `  ${label.padEnd(30)} ${mean(xs, 'rps').toFixed(0).padStart(7)} req/s   p99 ${mean(xs, 'p99').toFixed(1)} ms   CPU ${mean(xs, 'cpuUsPerRequest').toFixed(0)} µs/request   errors ${mean(xs, 'errors')}`;
  console.log(`SMART token verification, GET ${path.replace(alice, '<alice>')} (merged across the demo sources), ${CONNECTIONS} connections, ${ROUNDS} rounds × 3 arms × ${DURATION_S}s`);
  console.log(line('unauthenticated', runs.anon));
  console.log(line(`unauth + ${token.length + 7}-byte header`, runs.padded));
  console.log(line('authenticated', runs.auth));
  console.log(`  ratio authenticated / unauthenticated: ${(auth / anon).toFixed(3)} (means), ${median.toFixed(3)} (median of per-round ratios: ${ratios.map((r) => r.toFixed(2)).join(' ')})  aim ≥ 0.9`);
  console.log(`  verifier alone: first use of a token ${firstUs.toFixed(0)} µs (RS256 signature), later uses ${cachedUs.toFixed(2)} µs`);
} finally {
  await cleanup();
}
