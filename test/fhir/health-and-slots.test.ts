import t from 'tap';
import type { AccessContext } from '../../server/access/access-context.ts';
import type { AccessPolicy } from '../../server/access/access-policy.ts';
import { alice, demoApp, demoFederatedSources, json } from './fhir-app.ts';

t.test('/healthz is alive; /readyz lists every source and is 503 when a required check is down', async (t) => {
  const ready = await demoApp();
  t.teardown(() => ready.close());
  t.same(json(await ready.inject({ method: 'GET', url: '/healthz' })), { status: 'ok' });
  const body = json(await ready.inject({ method: 'GET', url: '/readyz' }));
  t.equal(body.status, 'ready');
  t.same(body.sources.map((s: any) => [s.name, s.status]), [['hospital', 'up'], ['clinic', 'up'], ['pharmacy-records', 'up']]);

  const lagging = await demoApp({
    deps: { readinessChecks: [{ name: 'chain-sync', check: async () => ({ status: 'down', detail: 'behind by 40 blocks', checkedAt: new Date().toISOString() }) }] },
  });
  t.teardown(() => lagging.close());
  const res = await lagging.inject({ method: 'GET', url: '/readyz' });
  t.equal(res.statusCode, 503);
  t.equal(json(res).checks[0].detail, 'behind by 40 blocks');
});

t.test('/readyz reuses sources\' health for a few seconds: frequent probes do not reach every upstream each time', async (t) => {
  let probes = 0;
  const sources = (await demoFederatedSources()).map((s) => ({
    ...s,
    adapter: { ...s.adapter, sourceId: s.adapter.sourceId, capabilities: () => s.adapter.capabilities(), read: s.adapter.read.bind(s.adapter), search: s.adapter.search.bind(s.adapter), close: s.adapter.close.bind(s.adapter),
      health: (signal: AbortSignal) => (probes++, s.adapter.health(signal)) },
  }));
  const app = await demoApp({ sources });
  t.teardown(() => app.close());
  const answers = await Promise.all(Array.from({ length: 5 }, () => app.inject({ method: 'GET', url: '/readyz' })));
  t.ok(answers.every((a) => json(a).status === 'ready'));
  t.equal(probes, sources.length, 'one probe per source for five concurrent probes');
});

t.test('an onRequest hook\'s request.accessContext is what the access policy is asked about', async (t) => {
  const contexts: Array<AccessContext | undefined> = [];
  const policy: AccessPolicy = {
    async decide(context) {
      contexts.push(context);
      return context ? { allowed: true, grant: { patients: '*', allows: () => true } } : { allowed: false, status: 403, reason: 'no token' };
    },
  };
  const app = await demoApp({ accessPolicy: policy });
  // What the SMART layer does from a verified bearer token.
  app.addHook('onRequest', async (request) => {
    if (request.headers.authorization === 'Bearer test') {
      request.accessContext = { clientId: 'c', subject: alice, scopes: [], patient: alice };
    }
  });
  t.teardown(() => app.close());
  t.equal((await app.inject({ method: 'GET', url: '/fhir/MedicationRequest' })).statusCode, 403);
  const ok = await app.inject({ method: 'GET', url: '/fhir/MedicationRequest', headers: { authorization: 'Bearer test' } });
  t.equal(ok.statusCode, 200);
  t.equal(contexts[1]?.subject, alice);
});
