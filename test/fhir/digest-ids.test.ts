/**
 * Digested ids (`<source>..<digest>`, for local ids too long or not FHIR ids) decode on every
 * replica sharing Redis, including one that never issued them and one started afterwards.
 */
import t from 'tap';
import { Redis } from 'ioredis';
import type { Resource } from '@medplum/fhirtypes';
import { EmbeddedAdapter } from '../../adapters/embedded/embedded-adapter.ts';
import { startRedisServer } from '../../server/embedded/redis-server.ts';
import { RedisDigestMap } from '../../server/fhir/redis-digest-map.ts';
import { alice, demoApp, demoLinks, json, source } from './fhir-app.ts';

const redisServer = await startRedisServer();
t.teardown(() => redisServer.stop());
const keyPrefix = `digest-ids-test-${process.pid}:`;

// A provider whose local ids are 60-character keys: with the source prefix they exceed 64.
const longId = 'x'.repeat(60);
const links = demoLinks();
links.add({ patient: alice, sourceId: 'longids', localId: 'p' });
const records = [
  { resourceType: 'Patient', id: 'p' },
  { resourceType: 'MedicationRequest', id: longId, status: 'active', intent: 'order', subject: { reference: 'Patient/p' } },
] as Resource[];

async function replica(shared: boolean) {
  const redis = new Redis(redisServer.url, { maxRetriesPerRequest: 1 });
  const app = await demoApp({
    extraSources: [source('longids', new EmbeddedAdapter('longids', records))],
    deps: { patientLinks: links, ...(shared ? { idDigests: new RedisDigestMap(redis, { keyPrefix }) } : {}) },
  });
  t.teardown(async () => {
    await app.close();
    redis.disconnect();
  });
  return app;
}

const [issuer, other] = await Promise.all([replica(true), replica(true)]);

t.test('an id issued by one replica is read, searched and used as a reference on another', async (t) => {
  const bundle = json(await issuer.inject({ method: 'GET', url: `/fhir/MedicationRequest?patient=${alice}&_count=100` }));
  const id = bundle.entry.map((e: any) => e.resource.id).find((i: string) => i.startsWith('longids.'));
  t.match(id, /^longids\.\.[0-9a-f]{32}$/);
  t.ok(id.length <= 64);

  const read = await other.inject({ method: 'GET', url: `/fhir/MedicationRequest/${id}` });
  t.equal(read.statusCode, 200);
  t.equal(json(read).id, id);
  const byId = json(await other.inject({ method: 'GET', url: `/fhir/MedicationRequest?_id=${id}` }));
  t.same(byId.entry.map((e: any) => e.resource.id), [id]);

  const restarted = await replica(true);
  t.equal((await restarted.inject({ method: 'GET', url: `/fhir/MedicationRequest/${id}` })).statusCode, 200, 'and on a replica started later');
  const alone = await replica(false);
  t.equal((await alone.inject({ method: 'GET', url: `/fhir/MedicationRequest/${id}` })).statusCode, 404, 'without the shared store only the issuer knows it');
});
