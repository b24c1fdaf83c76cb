/**
 * Cross-provider searches through the whole FHIR layer (server/app.ts buildApp) over three real
 * upstream FHIR servers, one per provider, each holding the same person under its own local id.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { createFhirAdapter } from '../../adapters/fhir/fhir-adapter.ts';
import type { AccessContext } from '../../server/access/access-context.ts';
import { buildApp } from '../../server/app.ts';
import { InMemoryPatientLinks } from '../../server/fhir/patient-links.ts';
import { parseResourceScope } from '../../smart-on-fhir/scopes.ts';
import { clinicalRecords, sourceConfig, testContext } from './support/fixtures.ts';
import { startTestUpstream } from './support/test-upstream.ts';

const person = '0x00000000000000000000000000000000000f00d1';
const dataDir = mkdtempSync(join(tmpdir(), 'medrec-upstream-fed-'));
const localIds = { 'hosp-a': 'p1', 'hosp-b': 'p2', 'hosp-c': 'p3' } as const;

const upstreams = await Promise.all(Object.keys(localIds).map(() => startTestUpstream({ resources: clinicalRecords() })));
t.teardown(() => Promise.all(upstreams.map((u) => u.close())));
const sources = await Promise.all(Object.keys(localIds).map(async (id, i) => {
  const config = { ...sourceConfig(id, { baseUrl: upstreams[i]!.baseUrl, maxAttempts: 1, timeoutMs: 5000 }), provider: `0x00000000000000000000000000000000000000a${i + 1}` };
  return { sourceId: id, provider: config.provider, name: `Hospital ${id}`, adapter: await createFhirAdapter(config, testContext(dataDir)) };
}));
t.teardown(() => Promise.all(sources.map((s) => s.adapter.close())));
const links = new InMemoryPatientLinks(Object.entries(localIds).map(([sourceId, localId]) => ({ patient: person, sourceId, localId })));
const app = await buildApp(
  { cursorSecret: 'upstream-fhir-federation-test-secret!', sourceTimeoutMs: 2500, bodyLimit: 64 * 1024, logLevel: 'silent' },
  { sources, patientLinks: links },
);
t.teardown(() => app.close());
// Requests marked `x-test-vitals` carry a token whose Observation scope is constrained to vital signs.
const vitalsOnly: AccessContext = {
  clientId: 'app', subject: person,
  scopes: [parseResourceScope('user/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|vital-signs')!],
};
app.addHook('onRequest', async (request) => {
  if (request.headers['x-test-vitals']) request.accessContext = vitalsOnly;
});

const get = async (url: string, headers: Record<string, string> = {}) => {
  const res = await app.inject({ method: 'GET', url, headers });
  return { status: res.statusCode, bundle: JSON.parse(res.body) as { total?: number; entry?: { resource: any; search?: { mode?: string } }[]; link?: { relation: string; url: string }[] } };
};
const matches = (bundle: Awaited<ReturnType<typeof get>>['bundle']) => (bundle.entry ?? []).filter((e) => e.search?.mode === 'match').map((e) => e.resource);
const warnings = (bundle: Awaited<ReturnType<typeof get>>['bundle']) => (bundle.entry ?? []).filter((e) => e.search?.mode === 'outcome').flatMap((e) => e.resource.issue);

t.test('one search for a person merges the three upstreams, each asked for its own local patient', async (t) => {
  const { status, bundle } = await get(`/fhir/Observation?patient=${person}&_count=100`);
  t.equal(status, 200);
  const found = matches(bundle);
  t.equal(found.length, 18);
  t.ok(found.every((r) => r.subject.reference === `Patient/${person}`), 'local patient references rewritten to the person');
  t.same(new Set(found.map((r) => r.meta.source.split('#')[1])), new Set(Object.keys(localIds)));
  t.same(warnings(bundle), []);
  upstreams.forEach((u, i) => t.match(u.seen.at(-1), new RegExp(`patient=Patient%2F${Object.values(localIds)[i]}`)));
});

t.test('an exact count is asked of the upstreams only when the client asks for one', async (t) => {
  const plain = await get(`/fhir/Observation?patient=${person}`);
  t.equal(plain.bundle.total, 18, 'the totals the upstreams send anyway are summed');
  upstreams.forEach((u) => t.notMatch(u.seen.at(-1), /_total=/));
  for (const asked of ['_total=accurate', '_summary=count']) {
    const { bundle } = await get(`/fhir/Observation?patient=${person}&${asked}`);
    t.equal(bundle.total, 18);
    upstreams.forEach((u) => t.match(u.seen.at(-1), /_total=accurate/, asked));
  }
});

t.test('a sorted search interleaves the three upstreams in order across pages', async (t) => {
  const dates: string[] = [];
  let url: string | undefined = `/fhir/Observation?patient=${person}&_sort=-date&_count=4`;
  for (let pages = 0; url && pages < 20; pages++) {
    const { status, bundle } = await get(url);
    t.equal(status, 200);
    dates.push(...matches(bundle).map((r) => r.effectiveDateTime as string));
    const next = bundle.link?.find((l) => l.relation === 'next')?.url;
    url = next ? new URL(next).pathname + new URL(next).search : undefined;
  }
  t.equal(dates.length, 18);
  t.same(dates, [...dates].sort().reverse());
});

t.test('an upstream that ignores _sort is left out of a sorted search with a warning, so the order holds', async (t) => {
  upstreams[0]!.faults.ignoreSort = true;
  t.teardown(() => { upstreams[0]!.faults.ignoreSort = false; });
  const { status, bundle } = await get(`/fhir/Observation?patient=${person}&_sort=-date&_count=100`);
  t.equal(status, 200);
  const found = matches(bundle);
  t.equal(found.length, 12);
  t.notOk(found.some((r) => r.meta.source.endsWith('#hosp-a')));
  const dates = found.map((r) => r.effectiveDateTime as string);
  t.same(dates, [...dates].sort().reverse());
  const issues = warnings(bundle);
  t.equal(issues.length, 1);
  t.equal(issues[0].code, 'not-supported');
  t.match(issues[0].details.text, /cannot evaluate _sort=-date/);
  t.match(issues[0].diagnostics, /hosp-a/);
});

t.test('paging across the three upstreams follows their next links without ever showing them', async (t) => {
  const ids: string[] = [];
  let url: string | undefined = `/fhir/Observation?patient=${person}&_count=4`;
  for (let pages = 0; url && pages < 20; pages++) {
    const { status, bundle } = await get(url);
    t.equal(status, 200);
    ids.push(...matches(bundle).map((r) => r.id));
    const next = bundle.link?.find((l) => l.relation === 'next')?.url;
    if (next) {
      for (const u of upstreams) t.notOk(next.includes(new URL(u.baseUrl).host), 'no upstream address in our next link');
      t.notOk(next.includes('_offset'), 'no upstream paging parameter in our next link');
    }
    url = next ? new URL(next).pathname + new URL(next).search : undefined;
  }
  t.equal(ids.length, 18);
  t.equal(new Set(ids).size, 18, 'every record exactly once');
  t.ok(upstreams.every((u) => u.seen.some((s) => s.includes('_offset='))), 'each upstream was paged by its own next link');
});

t.test('an upstream that is down leaves a partial result with a warning entry naming it', async (t) => {
  upstreams[1]!.faults.failAll = 503;
  t.teardown(() => { upstreams[1]!.faults.failAll = undefined; });
  const { status, bundle } = await get(`/fhir/Observation?patient=${person}&_count=100`);
  t.equal(status, 200);
  const found = matches(bundle);
  t.equal(found.length, 12);
  t.notOk(found.some((r) => r.meta.source.endsWith('#hosp-b')));
  const issues = warnings(bundle);
  t.equal(issues.length, 1);
  t.equal(issues[0].severity, 'warning');
  t.match(issues[0].diagnostics, /hosp-b/);
});

t.test('a hanging upstream is cut off by the per-source deadline; the others still answer', async (t) => {
  upstreams[2]!.faults.hang = true;
  t.teardown(() => { upstreams[2]!.faults.hang = false; });
  const { status, bundle } = await get(`/fhir/MedicationRequest?patient=${person}`);
  t.equal(status, 200);
  t.equal(matches(bundle).length, 2);
  const issues = warnings(bundle);
  t.equal(issues.length, 1);
  t.equal(issues[0].code, 'timeout');
  t.match(issues[0].diagnostics, /hosp-c/);
});

t.test('an upstream that silently ignores a scope constraint parameter still yields only records within the constraint', async (t) => {
  upstreams[0]!.faults.ignoredParams = ['category'];
  t.teardown(() => { upstreams[0]!.faults.ignoredParams = []; });
  const { status, bundle } = await get(`/fhir/Observation?patient=${person}&_count=100`, { 'x-test-vitals': '1' });
  t.equal(status, 200);
  t.match(upstreams[0]!.seen.at(-1), /category=/, 'the constraint was sent to the upstream');
  const found = matches(bundle);
  const categories = found.map((r) => r.category[0].coding[0].code as string);
  t.equal(found.length, 9, 'three vital signs from each upstream');
  t.ok(categories.every((c) => c === 'vital-signs'), 'nothing of another category');
  t.ok(found.some((r) => r.meta.source.endsWith('#hosp-a')), 'the ignoring upstream still contributes its vital signs');
  t.equal(bundle.total, 9, 'one page: the total is what it shows, not what the upstream counted');
});

t.test("under a scope constraint an upstream's count is never passed on: it may count the records the constraint hides", async (t) => {
  upstreams[0]!.faults.ignoredParams = ['category'];
  t.teardown(() => { upstreams[0]!.faults.ignoredParams = []; });
  const count = await get(`/fhir/Observation?patient=${person}&_summary=count`, { 'x-test-vitals': '1' });
  t.equal(count.status, 200);
  t.match(upstreams[0]!.seen.at(-1), /category=/, 'the constraint was sent to the upstream');
  t.equal(count.bundle.total, undefined, '_summary=count answers without a total rather than the ignoring upstream\'s count');
  t.same(matches(count.bundle), []);
  const firstPage = await get(`/fhir/Observation?patient=${person}&_total=accurate&_count=1`, { 'x-test-vitals': '1' });
  t.equal(matches(firstPage.bundle).length, 1, 'a first page whose records are all within the constraint');
  t.ok(firstPage.bundle.link?.some((l) => l.relation === 'next'));
  t.equal(firstPage.bundle.total, undefined, 'still no total: it cannot be recounted from one page');
});
