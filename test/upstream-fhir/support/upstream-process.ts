/**
 * Test upstreams in a child process (for the benchmark: their CPU work must not share the event
 * loop being measured). Usage: `node upstream-process.ts <count> <latencyMs> <observationsPerPatient>`;
 * prints one JSON line `{"baseUrls":[...]}` when listening, and stops on SIGTERM.
 */
import { clinicalRecords } from './fixtures.ts';
import { startTestUpstream } from './test-upstream.ts';

const [count = '1', latencyMs = '0', perPatient = '20'] = process.argv.slice(2);
const upstreams = await Promise.all(Array.from({ length: Number(count) }, () => startTestUpstream({ resources: clinicalRecords(Number(perPatient)) })));
for (const upstream of upstreams) upstream.faults.latencyMs = Number(latencyMs);
process.stdout.write(`${JSON.stringify({ baseUrls: upstreams.map((u) => u.baseUrl) })}\n`);
process.on('SIGTERM', () => {
  void Promise.all(upstreams.map((u) => u.close())).then(() => process.exit(0));
});
