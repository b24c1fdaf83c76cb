import t from 'tap';
import { runFhirRestSuite } from '../../conformance/fhir-rest-suite.ts';
import { demoApp } from './fhir-app.ts';

t.test('the FHIR REST conformance suite passes against our server over real HTTP', async (t) => {
  const app = await demoApp();
  t.teardown(() => app.close());
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as { port: number };
  const results = await runFhirRestSuite({ baseUrl: `http://127.0.0.1:${port}/fhir`, resourceType: 'MedicationRequest' });
  t.ok(results.length >= 15);
  for (const r of results) t.ok(r.ok, `${r.level} ${r.name}${r.detail ? `: ${r.detail}` : ''}`);
});

t.test('the suite notices a server that breaks the rules', async (t) => {
  const Fastify = (await import('fastify')).default;
  const liar = Fastify();
  liar.get('/fhir/metadata', async () => ({ resourceType: 'CapabilityStatement', fhirVersion: '4.0.1', rest: [{ resource: [{ type: 'Observation', interaction: [{ code: 'search-type' }] }] }] }));
  liar.get('/fhir/:type', async () => ({ resourceType: 'Bundle', type: 'collection' }));
  liar.get('/fhir/:type/:id', async (_req, reply) => reply.code(404).send('gone'));
  t.teardown(() => liar.close());
  await liar.listen({ port: 0, host: '127.0.0.1' });
  const { port } = liar.server.address() as { port: number };
  const results = await runFhirRestSuite({ baseUrl: `http://127.0.0.1:${port}/fhir` });
  const failed = results.filter((r) => !r.ok).map((r) => r.name);
  t.ok(failed.includes('search returns a searchset Bundle with a self link and typed entries'));
  t.ok(failed.includes('an unknown id is 404 with an OperationOutcome'));
});
