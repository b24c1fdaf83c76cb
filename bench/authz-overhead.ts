/**
 * Authorization overhead: the same FHIR app over the same embedded demo sources, once with the
 * chain-backed policy (snapshots from Redis, kept fresh from an anvil chain by the follower,
 * audit queued) and once with the open policy, measured in the same run with autocannon over
 * loopback, in alternating 2 s slices so drift hits both alike. Prints throughput and p99 of a
 * FHIR read and a FHIR search, the median enforced / open ratio over the paired slices (aim ≥ 0.9),
 * and the CPU time per request of this process (less sensitive to other load on the machine).
 *
 * With `--workers-elsewhere` the follower, reconcile, snapshot and audit workers run in a child
 * process (bench/authz-workers.ts), the production shape; by default they share this process,
 * as in the embedded `npm start`.
 *
 * Run: `node bench/authz-overhead.ts [--workers-elsewhere]` (`--quick` for a short smoke run).
 */
// @ts-expect-error autocannon ships no type declarations
import autocannonUntyped from 'autocannon';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import type { FastifyInstance } from 'fastify';
import { openAccessPolicy, type AccessPolicy } from '../server/access/access-policy.ts';
import type { AccessContext } from '../server/access/access-context.ts';
import { startRedisServer } from '../server/embedded/redis-server.ts';
import { startEmbeddedChain } from '../server/embedded/chain.ts';
import { demoAddress } from '../server/embedded/demo-identities.ts';
import { startAuthorization } from '../server/authz/authorization.ts';
import { demoApp } from '../test/fhir/fhir-app.ts';
import { contextFor, embeddedDemoSources, eventually, scope } from '../test/authz/support/authz-fixtures.ts';

interface AutocannonResult { requests: { average: number }; latency: { p99: number }; errors: number; non2xx: number }
const autocannon = autocannonUntyped as (o: { url: string; connections: number; duration: number; pipelining: number }) => Promise<AutocannonResult>;

const quick = process.argv.includes('--quick');
const workersElsewhere = process.argv.includes('--workers-elsewhere');
const DURATION_S = 2;
const ROUNDS = quick ? 2 : 8;
const CONNECTIONS = 16;

const alice = demoAddress('alice');
const pharmacy: AccessContext = contextFor(demoAddress('pharmacy'), [scope('system', '*')], { clientId: 'corner-pharmacy' });

async function appWith(policy: AccessPolicy, sources: Awaited<ReturnType<typeof embeddedDemoSources>>): Promise<{ app: FastifyInstance; url: string }> {
  const app = await demoApp({ sources, accessPolicy: policy });
  // Stands in for the SMART layer: both apps get the same access context the same way.
  app.addHook('onRequest', async (request) => {
    request.accessContext = pharmacy;
  });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return { app, url };
}

interface Run { rps: number; p99: number; errors: number; cpuUsPerRequest: number }

/** One slice of load; also the CPU this process spent per request (server and load generator). */
async function load(url: string): Promise<Run> {
  const cpu = process.cpuUsage();
  const r = await autocannon({ url, connections: CONNECTIONS, duration: DURATION_S, pipelining: 1 });
  const used = process.cpuUsage(cpu);
  const requests = Math.max(1, r.requests.average * DURATION_S);
  return { rps: r.requests.average, p99: r.latency.p99, errors: r.errors + r.non2xx, cpuUsPerRequest: (used.user + used.system) / requests };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? (s[(s.length - 1) / 2] as number) : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2;
};

const redis = await startRedisServer();
const chain = await startEmbeddedChain({ blockTime: 1 });
const sources = await embeddedDemoSources();
const shared = {
  redisUrl: redis.url,
  chain: { rpcUrl: chain.rpcUrl, chainId: chain.chainId, contracts: chain.addresses, fromBlock: chain.deployment.fromBlock },
  keyPrefix: 'bench-overhead:',
  queuePrefix: 'bench-overhead',
};
const workers = workersElsewhere
  ? spawn(process.execPath, [new URL('./authz-workers.ts', import.meta.url).pathname, JSON.stringify(shared)], { stdio: ['ignore', 'pipe', 'inherit'] })
  : undefined;
if (workers?.stdout) await once(createInterface({ input: workers.stdout }), 'line');
const authz = await startAuthorization({ ...shared, workers: !workersElsewhere, sources: () => sources });
console.log(`workers ${workersElsewhere ? 'in a separate process' : 'in the server process'}`);
try {
  const head = await chain.provider.getBlockNumber();
  await eventually('synced', () => (authz.freshness.state().cursor >= head ? true : undefined));
  const enforced = await appWith(authz.policy, sources);
  const open = await appWith(openAccessPolicy, sources);

  const searchPath = `/fhir/MedicationRequest?patient=${alice}`;
  const first = (await (await fetch(enforced.url + searchPath)).json()) as { entry?: { resource: { id: string } }[] };
  const id = first.entry?.[0]?.resource.id;
  if (!id) throw new Error('the pharmacy sees no MedicationRequest of alice: is the demo seeded?');
  const readPath = `/fhir/MedicationRequest/${id}`;
  for (const [label, path] of [['read', readPath], ['search', searchPath]] as const) {
    const on: Run[] = [];
    const off: Run[] = [];
    await load(open.url + path); // warm-up of both code paths
    await load(enforced.url + path);
    for (let i = 0; i < ROUNDS; i++) {
      off.push(await load(open.url + path));
      on.push(await load(enforced.url + path));
    }
    // Pairs of adjacent slices share the machine's momentary load: compare within pairs.
    const ratios = on.map((r, i) => r.rps / (off[i]?.rps ?? NaN));
    const p99s = on.map((r, i) => (off[i]?.p99 ?? NaN) / r.p99);
    const cpu = (runs: Run[]) => median(runs.map((r) => r.cpuUsPerRequest));
    const errors = [...on, ...off].reduce((s, r) => s + r.errors, 0);
    console.log(
      `${label.padEnd(7)} open ${median(off.map((r) => r.rps)).toFixed(0)} req/s p99 ${median(off.map((r) => r.p99)).toFixed(1)} ms | ` +
        `enforced ${median(on.map((r) => r.rps)).toFixed(0)} req/s p99 ${median(on.map((r) => r.p99)).toFixed(1)} ms | ` +
        `throughput ratio (median of ${ROUNDS} paired slices) ${median(ratios).toFixed(3)} [${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}]  ` +
        `p99 ratio open/enforced ${median(p99s).toFixed(3)} | CPU per request open ${cpu(off).toFixed(0)} µs, enforced ${cpu(on).toFixed(0)} µs (ratio ${(cpu(off) / cpu(on)).toFixed(3)})` +
        (errors ? `  (${errors} errors)` : ''),
    );
  }
  await enforced.app.close();
  await open.app.close();
} finally {
  await authz.close();
  workers?.kill('SIGTERM');
  if (workers) await once(workers, 'exit');
  await Promise.all(sources.map((s) => s.adapter.close()));
  await chain.stop();
  await redis.stop();
}
