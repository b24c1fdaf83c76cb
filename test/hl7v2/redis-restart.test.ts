/**
 * Redis killed (and restarted) while a sender streams 10,000 messages to a two-node deployment on
 * a shared PostgreSQL inbox: node A listens (no converter), node B converts, woken across nodes
 * through Redis. Acceptance never depends on Redis (the inbox is PostgreSQL), so every message
 * still gets AA during the outage, every AA'd message is in the store exactly once, and node B
 * converts each exactly once (falling back to looking in the store while Redis is away).
 */
import t from 'tap';
import pg from 'pg';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Observation } from '@medplum/fhirtypes';
import { startRedisServer, type RedisServer } from '../../server/embedded/redis-server.ts';
import { requireServer } from '../support/database-servers.ts';
import { postgresDatabase } from '../support/postgres-database.ts';
import { message, msaOf, msh, openSource, pid, RawMllp, seg } from './support/hl7v2-harness.ts';

const TOTAL = 10_000;
const WINDOW = 250;

function result(n: number): string {
  return message([
    msh({ type: 'ORU^R01^ORU_R01', control: `R-${n}`, app: 'LAB' }),
    pid(String(200_000 + (n % 500))),
    seg('OBR', { 1: '1', 3: `RF-${n}^LAB`, 4: '2345-7^Glucose^LN', 25: 'F' }),
    seg('OBX', { 1: '1', 2: 'NM', 3: '2345-7^Glucose^LN', 5: String(70 + (n % 50)), 6: 'mg/dL', 11: 'F' }),
  ]);
}

t.test('10,000 messages while Redis is killed and restarted: every AA stored and converted exactly once', async (t) => {
  if (!(await requireServer(t, 'postgres'))) return;
  const URL = await postgresDatabase(t, 'medrec_hl7v2_redis');

  const redisDir = mkdtempSync(join(tmpdir(), 'medrec-hl7v2-redis-'));
  let redis: RedisServer = await startRedisServer({ dir: redisDir, fsync: 'always' });
  t.teardown(() => redis.stop());
  const store = { kind: 'postgres', connectionString: URL, schema: 'hl7v2_redis' };
  const listener = await openSource({ store, convert: false }, 'hl7-redis', tmpdir(), { redisUrl: redis.url });
  t.teardown(() => listener.close());
  const converter = await openSource({ store, mllp: false }, 'hl7-redis', tmpdir(), { redisUrl: redis.url });
  t.teardown(() => converter.close());

  const acknowledged = new Set<number>();
  const codes = new Map<string, number>();
  let killed = false;
  let restarted = false;
  while (acknowledged.size < TOTAL) {
    const raw = await RawMllp.open(listener.port);
    const todo = Array.from({ length: TOTAL }, (_, n) => n).filter((n) => !acknowledged.has(n));
    for (let i = 0; i < todo.length; i += WINDOW) {
      const batch = todo.slice(i, i + WINDOW);
      const from = raw.frames.length;
      raw.write(Buffer.concat(batch.map((n) => RawMllp.frame(result(n)))));
      if (!killed && acknowledged.size >= 3_000) {
        await redis.kill(); // mid-window: these messages are being accepted right now
        killed = true;
      } else if (killed && !restarted && acknowledged.size >= 6_000) {
        redis = await startRedisServer({ dir: redisDir, port: redis.port, fsync: 'always' });
        restarted = true;
      }
      await raw.waitFor(from + batch.length);
      for (const frame of raw.frames.slice(from)) {
        const { code, controlId } = msaOf(frame);
        codes.set(code, (codes.get(code) ?? 0) + 1);
        if (code === 'AA') acknowledged.add(Number(controlId.slice(2)));
      }
    }
    raw.close();
  }
  t.ok(killed && restarted, 'Redis was killed mid-stream and restarted');
  t.same(Object.fromEntries(codes), { AA: TOTAL }, 'every message acknowledged AA, outage or not');

  const db = new pg.Client({ connectionString: URL });
  await db.connect();
  const { rows } = await db.query<{ n: string; distinct_ids: string }>('SELECT COUNT(*) AS n, COUNT(DISTINCT control_id) AS distinct_ids FROM hl7v2_redis.inbox');
  await db.end();
  t.equal(Number(rows[0]!.n), TOTAL, 'every acknowledged message is in the inbox');
  t.equal(Number(rows[0]!.distinct_ids), TOTAL, 'each exactly once');

  const observations = (await converter.all('Observation')) as Observation[];
  t.equal(observations.length, TOTAL, 'node B converted one Observation per message');
  t.ok(observations.every((o) => o.meta?.versionId === '1'), 'none applied twice');
});
