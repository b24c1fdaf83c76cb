/**
 * Enhanced-mode application ACKs when the node that listens is not the node that converts: two
 * sources on one PostgreSQL store, A listening without a converter, B converting without a
 * listener. The sender on A still gets CA, then AA (or AE with the reason) once B converted:
 * at once when the nodes share Redis (B's converter is woken by A's acceptance, A reads the
 * outcomes when B announces them), else at the nodes' fallback look at the store.
 */
import t, { type Test } from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Observation } from '@medplum/fhirtypes';
import { Redis } from 'ioredis';
import { startRedisServer } from '../../server/embedded/redis-server.ts';
import { requireServer } from '../support/database-servers.ts';
import { postgresDatabase } from '../support/postgres-database.ts';
import { localId, message, msaOf, msh, openSource, pid, RawMllp, ramTmpdir, seg } from './support/hl7v2-harness.ts';

/** Until both nodes subscribed to both channels and their publishers connected (2 × 2 clients besides ours). */
async function bothNodesOnRedis(t: Test, redisUrl: string): Promise<void> {
  const redis = new Redis(redisUrl);
  t.teardown(() => redis.disconnect());
  for (;;) {
    const counts = (await redis.pubsub('NUMSUB', 'medrec:hl7v2:hl7v2_appack:inbox', 'medrec:hl7v2:hl7v2_appack:converted')) as (string | number)[];
    const clients = String(await redis.client('LIST')).trim().split('\n').filter((line) => !line.includes('cmd=client')).length;
    if (Number(counts[1]) === 2 && Number(counts[3]) === 2 && clients >= 4) return;
    await sleep(20);
  }
}

async function listeningAndConvertingNodes(t: Test, storePollMs: number, redisUrl?: string): Promise<void> {
  const store = { kind: 'postgres', connectionString: await postgresDatabase(t, 'medrec_hl7v2_appack'), schema: 'hl7v2_appack' };
  const context = redisUrl ? { redisUrl } : {};
  const listening = await openSource({ store, convert: false, storePollMs }, 'hl7-appack', ramTmpdir(), context);
  t.teardown(() => listening.close());
  const converting = await openSource({ store, mllp: false, storePollMs }, 'hl7-appack', ramTmpdir(), context);
  t.teardown(() => converting.close());
  if (redisUrl) await bothNodesOnRedis(t, redisUrl);
  const raw = await RawMllp.open(listening.port);
  t.teardown(() => raw.close());

  const oru = (control: string, mrn: string, value: string): string => message([
    msh({ type: 'ORU^R01^ORU_R01', control, acceptAck: 'AL', appAck: 'AL' }), pid(mrn),
    seg('OBR', { 1: '1', 3: 'ACC1^LAB', 4: '2345-7^Glucose^LN', 25: 'F' }), `OBX|1|NM|2345-7^Glucose^LN||${value}|mg/dL|||||F`,
  ]);
  raw.write(RawMllp.frame(oru('APP-1', '6001', '95')));
  await raw.waitFor(2);
  t.same(raw.frames.map(msaOf), [{ code: 'CA', controlId: 'APP-1' }, { code: 'AA', controlId: 'APP-1' }], 'CA once stored, AA once the other node converted');
  t.same((await converting.all('Observation')).map((o) => (o as Observation).subject?.reference), [`Patient/${localId('6001')}`], 'converted by the other node');

  // The same accession for another patient: accepted (CA), then refused by conversion (AE 205).
  raw.write(RawMllp.frame(oru('APP-2', '6002', '300')));
  await raw.waitFor(4);
  t.same(raw.frames.slice(2).map(msaOf), [{ code: 'CA', controlId: 'APP-2' }, { code: 'AE', controlId: 'APP-2' }]);
  t.match(raw.frames[3], /\rERR\|\|\|205\^[^^|]*already filed under another patient\^HL70357\|E\|/, 'the reason the converter found');

  // Resent: the listening node answers from the outcome the other node stored.
  raw.write(RawMllp.frame(oru('APP-2', '6002', '300')));
  await raw.waitFor(6);
  t.same(raw.frames.slice(4).map(msaOf), [{ code: 'CA', controlId: 'APP-2' }, { code: 'AE', controlId: 'APP-2' }], 'the resend gets the same AE');
}

t.test('without Redis: the nodes find each other\'s work at their fallback look at the store', async (t) => {
  if (!(await requireServer(t, 'postgres'))) return;
  await listeningAndConvertingNodes(t, 100);
});

t.test('with Redis: signals carry the work across at once; no fallback look is needed', async (t) => {
  if (!(await requireServer(t, 'postgres'))) return;
  const redis = await startRedisServer({ dir: mkdtempSync(join(tmpdir(), 'medrec-hl7v2-redis-')) });
  t.teardown(() => redis.stop());
  // A fallback far beyond the test's time limit: only the signals can deliver the ACKs in time.
  await listeningAndConvertingNodes(t, 600_000, redis.url);
});
