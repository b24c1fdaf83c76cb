import t from 'tap';
import { Writable } from 'node:stream';
import pino from 'pino';
import type { Resource } from '@medplum/fhirtypes';
import type { EhrAdapter, SourcePage, SourceQuery } from '../../adapters/ehr-adapter.ts';
import { EmbeddedAdapter } from '../../adapters/embedded/embedded-adapter.ts';
import type { AccessPolicy } from '../../server/access/access-policy.ts';
import { alice, bob, demoApp, demoFederatedSources, demoLinks, json, source } from './fhir-app.ts';

/** A real in-memory source that holds alice's records under local id `x-1` but answers late or fails. */
function flakySource(behaviour: 'slow' | 'broken', calls: SourceQuery[] = []): EhrAdapter {
  const inner = new EmbeddedAdapter('flaky', [
    { resourceType: 'Patient', id: 'x-1' } as Resource,
    { resourceType: 'MedicationRequest', id: 'm1', status: 'active', intent: 'order', subject: { reference: 'Patient/x-1' } } as Resource,
  ]);
  return {
    sourceId: 'flaky',
    capabilities: () => inner.capabilities(),
    read: async (type, id, signal) => {
      if (behaviour === 'broken') throw new Error('connection refused by upstream');
      await new Promise((r, j) => { const tm = setTimeout(r, 10_000); signal.addEventListener('abort', () => (clearTimeout(tm), j(signal.reason)), { once: true }); });
      return inner.read(type, id, signal);
    },
    search: async (query: SourceQuery, signal: AbortSignal): Promise<SourcePage> => {
      calls.push(query);
      if (behaviour === 'broken') throw new Error('connection refused by upstream');
      await new Promise((r, j) => { const tm = setTimeout(r, 10_000); signal.addEventListener('abort', () => (clearTimeout(tm), j(signal.reason)), { once: true }); });
      return inner.search(query, signal);
    },
    health: async () => ({ status: behaviour === 'broken' ? 'down' : 'degraded', checkedAt: new Date().toISOString() }),
    close: async () => {},
  };
}

t.test('a slow source becomes a warning entry and the other providers still answer', async (t) => {
  const app = await demoApp({ extraSources: [source('flaky', flakySource('slow'))], sourceTimeoutMs: 150 });
  t.teardown(() => app.close());
  // flaky has no link for alice, so name the patient through an open search instead.
  const res = await app.inject({ method: 'GET', url: '/fhir/MedicationRequest?status=active' });
  t.equal(res.statusCode, 200);
  const bundle = json(res);
  const outcome = bundle.entry.find((e: any) => e.search.mode === 'outcome');
  t.ok(outcome, 'an outcome entry');
  t.equal(outcome.resource.issue[0].severity, 'warning');
  t.equal(outcome.resource.issue[0].code, 'timeout');
  t.match(outcome.resource.issue[0].diagnostics, /source=flaky/);
  t.ok(bundle.entry.filter((e: any) => e.search.mode === 'match').length >= 5, 'the others answered');
  t.equal(bundle.total, undefined, 'no total when a source could not count');
});

t.test('a failing source is a warning too; a read from it is a 503 OperationOutcome', async (t) => {
  const app = await demoApp({ extraSources: [source('flaky', flakySource('broken'))] });
  t.teardown(() => app.close());
  const bundle = json(await app.inject({ method: 'GET', url: '/fhir/MedicationRequest?status=active' }));
  const issue = bundle.entry.find((e: any) => e.search.mode === 'outcome').resource.issue[0];
  t.equal(issue.code, 'exception');
  t.notMatch(JSON.stringify(issue), /connection refused/, 'no upstream internals in the response');
  const read = await app.inject({ method: 'GET', url: '/fhir/MedicationRequest/flaky.m1' });
  t.equal(read.statusCode, 503);
  t.equal(json(read).resourceType, 'OperationOutcome');
  const ready = json(await app.inject({ method: 'GET', url: '/readyz' }));
  t.equal(ready.status, 'degraded');
  t.equal(ready.sources.find((s: any) => s.name === 'flaky').status, 'down');
});

t.test('a person whose only provider fails is a 503 naming it, not a 404', async (t) => {
  const person = '0x00000000000000000000000000000000000f00d9';
  const links = demoLinks();
  links.add({ patient: person, sourceId: 'flaky', localId: 'x-1' });
  const app = await demoApp({ extraSources: [source('flaky', flakySource('broken'))], deps: { patientLinks: links } });
  t.teardown(() => app.close());
  const res = await app.inject({ method: 'GET', url: `/fhir/Patient/${person}` });
  t.equal(res.statusCode, 503);
  t.match(json(res).issue[0], { severity: 'error', code: 'exception', diagnostics: 'source=flaky' });
  t.equal((await app.inject({ method: 'GET', url: '/fhir/Patient/0x00000000000000000000000000000000000f00da' })).statusCode, 404, 'a person no one holds is still not found');
});

t.test('a merged Patient read while one of its sources fails is served tagged SUBSETTED', async (t) => {
  const links = demoLinks();
  links.add({ patient: alice, sourceId: 'flaky', localId: 'x-1' });
  const app = await demoApp({ extraSources: [source('flaky', flakySource('broken'))], deps: { patientLinks: links } });
  t.teardown(() => app.close());
  const subsetted = (patient: any) => (patient.meta?.tag ?? []).filter((tag: any) => tag.code === 'SUBSETTED' && tag.system === 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue');
  const res = await app.inject({ method: 'GET', url: `/fhir/Patient/${alice}` });
  t.equal(res.statusCode, 200, 'what the other providers hold is served');
  const partial = json(res);
  t.ok(partial.link.length > 0);
  t.equal(subsetted(partial).length, 1, 'tagged: part of the person is missing');
  t.equal(subsetted(json(await app.inject({ method: 'GET', url: `/fhir/Patient/${alice}?_summary=true` }))).length, 1, 'once, also when subsetted by _summary');
  const everything = json(await app.inject({ method: 'GET', url: `/fhir/Patient/${alice}/$everything` }));
  t.equal(subsetted(everything.entry.find((e: any) => e.resource.resourceType === 'Patient').resource).length, 1, 'and wherever else it is served');

  const whole = await demoApp();
  t.teardown(() => whole.close());
  t.same(subsetted(json(await whole.inject({ method: 'GET', url: `/fhir/Patient/${alice}` }))), [], 'a Patient every source answered for is not tagged');
});

t.test("Patient?_id with a provider's own Patient id finds what a read finds", async (t) => {
  const app = await demoApp();
  t.teardown(() => app.close());
  const read = json(await app.inject({ method: 'GET', url: '/fhir/Patient/clinic.rfc-1001' }));
  const found = json(await app.inject({ method: 'GET', url: `/fhir/Patient?_id=clinic.rfc-1001,${bob}` }));
  const matches = found.entry.filter((e: any) => e.search.mode === 'match').map((e: any) => e.resource);
  t.same(matches.map((r: any) => r.id).sort(), [bob, 'clinic.rfc-1001'].sort());
  t.same(matches.find((r: any) => r.id === 'clinic.rfc-1001'), read);
});

t.test('a source that failed on the first page is still named by a warning on the later pages', async (t) => {
  const app = await demoApp({ extraSources: [source('flaky', flakySource('broken'))] });
  t.teardown(() => app.close());
  const issuesOf = (bundle: any) => bundle.entry.filter((e: any) => e.search.mode === 'outcome').flatMap((e: any) => e.resource.issue);
  let bundle = json(await app.inject({ method: 'GET', url: '/fhir/MedicationRequest?status=active&_count=2' }));
  t.match(issuesOf(bundle), [{ code: 'exception', diagnostics: 'source=flaky' }]);
  for (let page = 2; page <= 3; page++) {
    const next = bundle.link.find((l: any) => l.relation === 'next').url;
    bundle = json(await app.inject({ method: 'GET', url: new URL(next).pathname + new URL(next).search }));
    t.match(issuesOf(bundle), [{ code: 'exception', diagnostics: 'source=flaky', details: { text: /failed on an earlier page/ } }], `page ${page}`);
  }
});

t.test('a paging cursor serves only the caller it was issued to (its total included)', async (t) => {
  const policy: AccessPolicy = { async decide() { return { allowed: true, grant: { patients: '*', allows: () => true } }; } };
  const app = await demoApp({ accessPolicy: policy });
  app.addHook('onRequest', async (request) => {
    const subject = request.headers['x-test-subject'];
    if (typeof subject === 'string') request.accessContext = { clientId: 'c', subject, scopes: [] };
  });
  t.teardown(() => app.close());
  const first = json(await app.inject({ method: 'GET', url: '/fhir/MedicationRequest?_count=2', headers: { 'x-test-subject': alice } }));
  const next = first.link.find((l: any) => l.relation === 'next').url;
  const path = new URL(next).pathname + new URL(next).search;
  t.equal((await app.inject({ method: 'GET', url: path, headers: { 'x-test-subject': alice } })).statusCode, 200);
  const stolen = await app.inject({ method: 'GET', url: path, headers: { 'x-test-subject': bob } });
  t.equal(stolen.statusCode, 400);
  t.match(json(stolen).issue[0].details.text, /_cursor/);
});

t.test('parameters a source cannot evaluate leave that source out with a warning instead of over-matching', async (t) => {
  const calls: SourceQuery[] = [];
  const limited = flakySource('broken', calls);
  const narrow: EhrAdapter = { ...limited, capabilities: () => ({ resources: { MedicationRequest: { searchParams: ['subject', 'patient'] } } }) };
  const app = await demoApp({ extraSources: [source('narrow', narrow)] });
  t.teardown(() => app.close());
  const bundle = json(await app.inject({ method: 'GET', url: '/fhir/MedicationRequest?status=active' }));
  t.equal(calls.length, 0, 'the source was never asked');
  const issue = bundle.entry.find((e: any) => e.search.mode === 'outcome').resource.issue[0];
  t.equal(issue.code, 'not-supported');
  t.match(issue.details.text, /status/);
});

t.test('the access policy is consulted before fan-out: only allowed sources and patients are asked', async (t) => {
  const asked: Array<{ patients?: readonly string[] }> = [];
  const sources = await demoFederatedSources();
  const spied = sources.map((s) => ({
    ...s,
    adapter: { ...s.adapter, capabilities: () => s.adapter.capabilities(), read: s.adapter.read.bind(s.adapter), health: s.adapter.health.bind(s.adapter), close: s.adapter.close.bind(s.adapter),
      search: (q: SourceQuery, sig: AbortSignal) => (asked.push({ patients: q.patients }), s.adapter.search(q, sig)) },
  }));
  const policy: AccessPolicy = {
    async decide(_context, request) {
      if (request.patients.includes(bob)) return { allowed: false, status: 403, reason: 'No grant covers this patient' };
      return {
        allowed: true,
        grant: { patients: [alice], allows: (patient, src, type) => patient === alice && src.sourceId === 'pharmacy-records' && type === 'MedicationRequest' },
      };
    },
  };
  const app = await demoApp({ sources: spied, accessPolicy: policy });
  t.teardown(() => app.close());
  const all = json(await app.inject({ method: 'GET', url: '/fhir/MedicationRequest' }));
  t.same(all.entry.map((e: any) => e.resource.id), ['pharmacy-records.rx-880001'], 'narrowed to what the grant covers');
  t.same(asked, [{ patients: ['cp-77001'] }], 'one source asked, for one local patient');
  const denied = await app.inject({ method: 'GET', url: `/fhir/MedicationRequest?patient=${bob}` });
  t.equal(denied.statusCode, 403);
  t.equal(json(denied).issue[0].code, 'forbidden');
  const hidden = await app.inject({ method: 'GET', url: '/fhir/MedicationRequest/clinic.mr-5001' });
  const madeUp = await app.inject({ method: 'GET', url: '/fhir/MedicationRequest/clinic.no-such-id' });
  t.equal(hidden.statusCode, 403, 'a read at a provider the grant does not reach is refused before the source is asked');
  t.same(json(hidden).issue, json(madeUp).issue, 'the same answer whatever the id: existence does not leak');
  const obs = json(await app.inject({ method: 'GET', url: `/fhir/Observation?patient=${alice}` }));
  t.equal(obs.total, 0, 'a type the grant does not cover yields nothing');
});

t.test('an unexpected failure is a 500 with an opaque id that is in the log, never a stack', async (t) => {
  const lines: string[] = [];
  const logger = pino({ level: 'error' }, new Writable({ write(chunk, _enc, cb) { lines.push(String(chunk)); cb(); } }));
  const policy: AccessPolicy = { async decide() { throw new TypeError('policy exploded at secret place'); } };
  const app = await demoApp({ accessPolicy: policy, logger });
  t.teardown(() => app.close());
  const res = await app.inject({ method: 'GET', url: '/fhir/MedicationRequest', headers: { 'x-request-id': 'req-500' } });
  t.equal(res.statusCode, 500);
  const body = json(res);
  t.equal(body.resourceType, 'OperationOutcome');
  t.match(body.issue[0].details.text, /req-500/);
  t.notMatch(res.body, /exploded|at .*\.ts/);
  t.ok(lines.some((l) => l.includes('req-500') && l.includes('policy exploded')), 'the log has the id and the error');
});

t.test('the policy is told which types _include and _revinclude would add', async (t) => {
  const seen: string[][] = [];
  const policy: AccessPolicy = {
    async decide(_context, request) {
      seen.push([...request.includeTypes].sort());
      return { allowed: true, grant: { patients: '*', allows: (_p, _s, type) => type !== 'Medication' } };
    },
  };
  const app = await demoApp({ accessPolicy: policy });
  t.teardown(() => app.close());
  const bundle = json(await app.inject({ method: 'GET', url: `/fhir/MedicationRequest?patient=${alice}&_include=MedicationRequest:medication&_revinclude=MedicationDispense:prescription` }));
  t.same(seen[0], ['Medication', 'MedicationDispense']);
  const included = bundle.entry.filter((e: any) => e.search.mode === 'include').map((e: any) => e.resource.resourceType);
  t.notOk(included.includes('Medication'), 'an included type the grant does not cover is left out');
  t.ok(included.includes('MedicationDispense'));
});
