/**
 * Our CapabilityStatement over an upstream FHIR source follows what the upstream declares now:
 * when its `/metadata` changes and the adapter rediscovers it, ours changes too (and its ETag).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { createFhirAdapter, type FhirUpstreamAdapter } from '../../adapters/fhir/fhir-adapter.ts';
import { buildApp } from '../../server/app.ts';
import { InMemoryPatientLinks } from '../../server/fhir/patient-links.ts';
import { clinicalRecords, sourceConfig, testContext } from './support/fixtures.ts';
import { startTestUpstream } from './support/test-upstream.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'medrec-upstream-meta-'));

/** Arrays anywhere in a JSON value that are empty (FHIR forbids them). */
function emptyArrays(value: unknown, path = ''): string[] {
  if (Array.isArray(value)) return value.length === 0 ? [path] : value.flatMap((v, i) => emptyArrays(v, `${path}[${i}]`));
  if (value && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => emptyArrays(v, `${path}.${k}`));
  return [];
}

t.test("metadata follows an upstream's rediscovered capabilities and never holds empty arrays", async (t) => {
  const capability: Record<string, readonly string[]> = { Observation: ['patient', 'code'] };
  const upstream = await startTestUpstream({ resources: clinicalRecords(), capability });
  t.teardown(() => upstream.close());
  const adapter = (await createFhirAdapter(sourceConfig('hosp', { baseUrl: upstream.baseUrl }), testContext(dataDir))) as FhirUpstreamAdapter;
  t.teardown(() => adapter.close());
  const app = await buildApp(
    { cursorSecret: 'upstream-fhir-metadata-test-secret!!', sourceTimeoutMs: 2000, bodyLimit: 65_536, logLevel: 'silent' },
    { sources: [{ sourceId: 'hosp', provider: '0x00000000000000000000000000000000000000a1', name: 'Hospital', adapter }], patientLinks: new InMemoryPatientLinks() },
  );
  t.teardown(() => app.close());
  const metadata = async () => {
    const res = await app.inject({ method: 'GET', url: '/fhir/metadata' });
    return { etag: res.headers.etag, statement: JSON.parse(res.body) as { rest: { resource?: { type: string; searchParam?: { name: string }[] }[] }[] } };
  };

  const first = await metadata();
  t.same(first.statement.rest[0]!.resource?.map((r) => r.type), ['Observation']);
  t.same(emptyArrays(first.statement), []);

  capability.Condition = ['patient'];
  capability.Observation = ['patient', 'code', 'date'];
  await adapter.discover();
  const second = await metadata();
  t.same(second.statement.rest[0]!.resource?.map((r) => r.type).sort(), ['Condition', 'Observation']);
  t.ok(second.statement.rest[0]!.resource?.find((r) => r.type === 'Observation')?.searchParam?.some((p) => p.name === 'date'));
  t.not(second.etag, first.etag, 'a new statement, a new ETag');
  t.same(emptyArrays(second.statement), []);

  // The upstream now declares nothing; ours changes only when the adapter reads that.
  delete capability.Condition;
  delete capability.Observation;
  const third = await metadata();
  t.equal(third.etag, second.etag, 'unchanged until the adapter rediscovers');
  await adapter.discover();
  const fourth = await metadata();
  t.equal(fourth.statement.rest[0]!.resource, undefined, 'an upstream that declares nothing leaves no empty resource list');
  t.same(emptyArrays(fourth.statement), []);
});
