import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Operator } from '@medplum/core';
import t from 'tap';
import type { Resource } from '@medplum/fhirtypes';
import { SourceUnavailableError, type SourcePage, type SourceQuery } from '../../adapters/ehr-adapter.ts';
import { createFhirAdapter, type FhirUpstreamAdapter } from '../../adapters/fhir/fhir-adapter.ts';
import { clinicalRecords, recordingLogger, signal, sourceConfig, testContext } from './support/fixtures.ts';
import { startTestUpstream } from './support/test-upstream.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'medrec-upstream-search-'));

async function allPages(adapter: FhirUpstreamAdapter, query: SourceQuery): Promise<{ pages: SourcePage[]; ids: string[] }> {
  const pages: SourcePage[] = [];
  let page: string | undefined;
  for (let i = 0; i < 50; i++) {
    const result = await adapter.search({ ...query, page }, signal());
    pages.push(result);
    page = result.next;
    if (!page) break;
  }
  return { pages, ids: pages.flatMap((p) => p.resources.map((r) => r.id as string)) };
}

t.test('capabilities come from the upstream CapabilityStatement', async (t) => {
  const upstream = await startTestUpstream({ resources: clinicalRecords() });
  t.teardown(() => upstream.close());
  const adapter = (await createFhirAdapter(sourceConfig('hosp', { baseUrl: upstream.baseUrl }), testContext(dataDir))) as FhirUpstreamAdapter;
  t.teardown(() => adapter.close());
  const resources = adapter.capabilities().resources;
  t.same(Object.keys(resources).sort(), ['Condition', 'MedicationRequest', 'Observation', 'Organization', 'Patient']);
  t.ok(resources.Observation?.searchParams.includes('category'));
  t.notOk(resources.Immunization, 'a compartment type the upstream cannot restrict to a patient is not offered');
  t.equal((await adapter.health(signal())).status, 'up');

  const limited = (await createFhirAdapter(sourceConfig('hosp2', { baseUrl: upstream.baseUrl, resourceTypes: ['Observation'] }), testContext(dataDir))) as FhirUpstreamAdapter;
  t.teardown(() => limited.close());
  t.same(Object.keys(limited.capabilities().resources), ['Observation'], 'resourceTypes narrows what is offered');
});

t.test('an upstream that is down at start is offered empty, then discovered when it answers', async (t) => {
  const upstream = await startTestUpstream({ resources: clinicalRecords() });
  t.teardown(() => upstream.close());
  upstream.faults.failAll = 503;
  const adapter = (await createFhirAdapter(sourceConfig('late', { baseUrl: upstream.baseUrl, maxAttempts: 1, discoveryRetryMs: 60_000 }), testContext(dataDir))) as FhirUpstreamAdapter;
  t.teardown(() => adapter.close());
  t.same(adapter.capabilities().resources, {});
  t.equal((await adapter.health(signal())).status, 'down');
  await t.rejects(adapter.search({ resourceType: 'Observation', filters: [], patients: ['p1'], count: 5 }, signal()), SourceUnavailableError);
  upstream.faults.failAll = undefined;
  await adapter.discover();
  t.ok(adapter.capabilities().resources.Observation);
});

t.test('a hanging upstream holds the node start for one timeout only; discovery completes behind it', async (t) => {
  const upstream = await startTestUpstream({ resources: clinicalRecords() });
  t.teardown(() => upstream.close());
  upstream.faults.hang = true;
  const adapter = (await createFhirAdapter(sourceConfig('slowstart', { baseUrl: upstream.baseUrl, timeoutMs: 300, maxAttempts: 5, retryBaseMs: 10 }), testContext(dataDir))) as FhirUpstreamAdapter;
  t.teardown(() => adapter.close());
  t.same(adapter.capabilities().resources, {}, 'started without capabilities');
  upstream.faults.hang = false;
  await adapter.discover();
  t.ok(adapter.capabilities().resources.Observation, 'a retry of the same discovery found them');
});

t.test('a patient search is restricted at the upstream and follows its next links inside opaque page tokens', async (t) => {
  const upstream = await startTestUpstream({ resources: clinicalRecords(7) });
  t.teardown(() => upstream.close());
  const adapter = (await createFhirAdapter(sourceConfig('hosp', { baseUrl: upstream.baseUrl }), testContext(dataDir))) as FhirUpstreamAdapter;
  t.teardown(() => adapter.close());
  const { pages, ids } = await allPages(adapter, { resourceType: 'Observation', filters: [], patients: ['p2'], count: 3, total: true });
  t.equal(pages.length, 3);
  t.equal(ids.length, 7);
  t.ok(ids.every((id) => id.startsWith('p2-')));
  t.equal(new Set(ids).size, 7, 'no duplicates across pages');
  t.equal(pages[0]?.total, 7);
  const host = new URL(upstream.baseUrl).host;
  for (const page of pages) {
    if (page.next) {
      t.notOk(page.next.includes(host), 'the page token does not show the upstream address');
      t.notOk(Buffer.from(page.next, 'base64url').toString('utf8').includes(host), 'nor does its decoded form: it is relative to the base');
    }
  }
  t.match(upstream.seen.filter((u) => u.includes('/Observation')).at(0), /patient=Patient%2Fp2/);
  t.ok(upstream.seen.some((u) => u.includes('_offset=3')), 'the second page came from the upstream next link');
});

t.test('filters, several patients, sort and required params are translated to the upstream query', async (t) => {
  const upstream = await startTestUpstream({ resources: clinicalRecords() });
  t.teardown(() => upstream.close());
  upstream.faults.observationNeedsCodeOrCategory = true;
  const adapter = (await createFhirAdapter(sourceConfig('hosp', {
    baseUrl: upstream.baseUrl,
    requiredParams: [{ resourceType: 'Observation', unlessAnyOf: ['code', 'category'], add: { category: 'laboratory,vital-signs' } }],
  }), testContext(dataDir))) as FhirUpstreamAdapter;
  t.teardown(() => adapter.close());

  const all = await adapter.search({ resourceType: 'Observation', filters: [], patients: ['p1', 'p3'], count: 100 }, signal());
  t.equal(all.resources.length, 12, 'both patients, both categories via the injected category');
  t.match(upstream.seen.at(-1), /category=laboratory%2Cvital-signs/);

  const labs = await adapter.search({
    resourceType: 'Observation',
    filters: [{ code: 'category', operator: Operator.EQUALS, value: 'laboratory' }, { code: 'date', operator: Operator.GREATER_THAN_OR_EQUALS, value: '2024-03-01' }],
    patients: ['p1'],
    sort: [{ code: 'date', descending: true }],
    count: 100,
  }, signal());
  t.ok(labs.resources.length > 0);
  t.ok(labs.resources.every((r) => r.resourceType === 'Observation' && r.category?.[0]?.coding?.[0]?.code === 'laboratory' && (r.effectiveDateTime ?? '') >= '2024-03'));
  const dates = labs.resources.map((r) => (r.resourceType === 'Observation' ? r.effectiveDateTime : '') ?? '');
  t.same(dates, [...dates].sort().reverse(), 'in the asked order');
  const sent = upstream.seen.at(-1) ?? '';
  t.match(sent, /date=ge2024-03-01/);
  t.match(sent, /_sort=-date/);
  t.notMatch(sent, /category=laboratory%2Cvital-signs/, 'no injected category when the query has one');

  const patients = await adapter.search({ resourceType: 'Patient', filters: [], patients: ['p1', 'p2'], count: 10 }, signal());
  t.same(patients.resources.map((r) => r.id).sort(), ['p1', 'p2'], 'Patient is restricted by _id');
  const orgs = await adapter.search({ resourceType: 'Organization', filters: [], count: 10 }, signal());
  t.equal(orgs.resources.length, 1, 'types outside the compartment are searched without a patient restriction');
});

t.test('an upstream that ignores _sort is refused for sorted searches, within a page and across pages', async (t) => {
  const upstream = await startTestUpstream({ resources: clinicalRecords() });
  t.teardown(() => upstream.close());
  const adapter = (await createFhirAdapter(sourceConfig('hosp', { baseUrl: upstream.baseUrl }), testContext(dataDir))) as FhirUpstreamAdapter;
  t.teardown(() => adapter.close());
  const sorted = { resourceType: 'Observation', filters: [], patients: ['p1'], sort: [{ code: 'date', descending: true }] };
  const whole = await adapter.search({ ...sorted, count: 100 }, signal());
  t.equal(whole.resources.length, 6, 'an upstream that sorts is used');
  upstream.faults.ignoreSort = true;
  await t.rejects(adapter.search({ ...sorted, count: 100 }, signal()), { name: 'SourceCannotEvaluateError', what: '_sort=-date' });
  t.equal((await adapter.search({ ...sorted, sort: [], count: 100 }, signal())).resources.length, 6, 'unsorted searches still go there');

  // Pages of one entry each are trivially in order: only the page after shows the order broke.
  upstream.faults.ignoreSort = false;
  const first = await adapter.search({ ...sorted, count: 1 }, signal());
  upstream.faults.ignoreSort = true;
  const second = await adapter.search({ ...sorted, count: 1, page: first.next }, signal());
  t.ok((first.resources[0] as { effectiveDateTime: string }).effectiveDateTime > (second.resources[0] as { effectiveDateTime: string }).effectiveDateTime, 'by chance still descending');
  await t.rejects(adapter.search({ ...sorted, count: 1, page: second.next }, signal()), { name: 'SourceCannotEvaluateError' }, 'the third page rises again');
});

t.test('an upstream sorting as FHIR says is used: several values sort by the lowest ascending and the highest descending, a Period by its start ascending and its end descending', async (t) => {
  const subject = { reference: 'Patient/p1' };
  const observation = (id: string, effective: Record<string, unknown>) => ({ resourceType: 'Observation', id, status: 'final', code: { text: 'weight' }, subject, ...effective }) as Resource;
  const goal = (id: string, dues: string[]) => ({ resourceType: 'Goal', id, lifecycleStatus: 'active', description: { text: 'goal' }, subject, target: dues.map((dueDate) => ({ dueDate })) }) as Resource;
  // The first value of each is not the one FHIR sorts by.
  const periodYear = observation('year', { effectivePeriod: { start: '2020-01-01', end: '2020-12-31' } });
  const june = observation('june', { effectiveDateTime: '2020-06-01' });
  const july = observation('july', { effectivePeriod: { start: '2020-07-01', end: '2020-07-02' } });
  const undated = observation('undated', {});
  const late = goal('late-first', ['2025-01-01', '2021-01-01']);
  const middle = goal('one-target', ['2023-01-01']);
  const early = goal('early-first', ['2022-01-01', '2024-01-01']);
  const cases: Array<{ type: string; sort: string; order: Resource[] }> = [
    { type: 'Observation', sort: 'date', order: [periodYear, june, july, undated] },
    { type: 'Observation', sort: '-date', order: [periodYear, july, june, undated] },
    { type: 'Goal', sort: 'target-date', order: [late, early, middle] },
    { type: 'Goal', sort: '-target-date', order: [late, early, middle] },
  ];
  for (const { type, sort, order } of cases) {
    // It answers in the order the records were stored in: the FHIR order, whatever our comparator thinks.
    const upstream = await startTestUpstream({ resources: order, capability: { Observation: ['patient', 'subject', 'date'], Goal: ['patient', 'subject', 'target-date'] } });
    t.teardown(() => upstream.close());
    upstream.faults.ignoreSort = true;
    const adapter = (await createFhirAdapter(sourceConfig(`sorted-${type.toLowerCase()}`, { baseUrl: upstream.baseUrl }), testContext(dataDir))) as FhirUpstreamAdapter;
    t.teardown(() => adapter.close());
    const rule = { code: sort.replace(/^-/, ''), descending: sort.startsWith('-') };
    const query = { resourceType: type, filters: [], patients: ['p1'], sort: [rule] };
    const whole = await adapter.search({ ...query, count: 100 }, signal());
    t.same(whole.resources.map((r) => r.id), order.map((r) => r.id), `_sort=${sort} on one page`);
    const paged = await allPages(adapter, { ...query, count: 1 });
    t.same(paged.ids, order.map((r) => r.id), `_sort=${sort} across pages`);
  }
});

t.test('reads return the resource, undefined when the upstream does not have it', async (t) => {
  const upstream = await startTestUpstream({ resources: clinicalRecords() });
  t.teardown(() => upstream.close());
  const adapter = (await createFhirAdapter(sourceConfig('hosp', { baseUrl: upstream.baseUrl }), testContext(dataDir))) as FhirUpstreamAdapter;
  t.teardown(() => adapter.close());
  t.equal((await adapter.read('Observation', 'p1-obs0', signal()))?.id, 'p1-obs0');
  t.equal(await adapter.read('Observation', 'nope', signal()), undefined);
  t.equal(await adapter.read('Observation', '../metadata', signal()), undefined, 'ids that are not FHIR ids never reach the upstream');
});

t.test('an upstream next link with its internal origin is taken onto the configured base; others are refused', async (t) => {
  const upstream = await startTestUpstream({ resources: clinicalRecords() });
  t.teardown(() => upstream.close());
  const adapter = (await createFhirAdapter(sourceConfig('hosp', { baseUrl: upstream.baseUrl }), testContext(dataDir))) as FhirUpstreamAdapter;
  t.teardown(() => adapter.close());
  upstream.faults.advertisedOrigin = 'http://hapi-internal:8080';
  const { ids } = await allPages(adapter, { resourceType: 'Observation', filters: [], patients: ['p1'], count: 4 });
  t.equal(ids.length, 6, 'paged through although the links name another origin');

  const forged = Buffer.from(JSON.stringify({ u: 'http://169.254.169.254/latest/meta-data', s: 0 })).toString('base64url');
  await t.rejects(adapter.search({ resourceType: 'Observation', filters: [], patients: ['p1'], count: 4, page: forged }, signal()), { name: 'OperationOutcomeError', message: /page position/ });
  const escaping = Buffer.from(JSON.stringify({ u: '../../../admin', s: 0 })).toString('base64url');
  await t.rejects(adapter.search({ resourceType: 'Observation', filters: [], patients: ['p1'], count: 4, page: escaping }, signal()), { name: 'OperationOutcomeError', message: /page position/ });
  await t.rejects(adapter.search({ resourceType: 'Observation', filters: [], patients: ['p1'], count: 4, page: 'garbage' }, signal()), { name: 'OperationOutcomeError', message: /page position/ });
});

t.test('records of other patients an upstream returns despite the restriction are dropped and logged without ids', async (t) => {
  const upstream = await startTestUpstream({ resources: clinicalRecords() });
  t.teardown(() => upstream.close());
  const log = recordingLogger();
  const adapter = (await createFhirAdapter(sourceConfig('leaky', { baseUrl: upstream.baseUrl }), testContext(dataDir, log))) as FhirUpstreamAdapter;
  t.teardown(() => adapter.close());
  upstream.faults.ignorePatientFilter = true;
  const page = await adapter.search({ resourceType: 'Observation', filters: [], patients: ['p1'], count: 100 }, signal());
  t.equal(page.resources.length, 6);
  t.ok(page.resources.every((r) => r.resourceType === 'Observation' && r.subject?.reference === 'Patient/p1'));
  const warning = log.lines.find((l) => l.text.includes('dropped'));
  t.ok(warning, 'the drop is logged');
  t.match(warning?.text, /"outsideCompartment":12/);
  t.notMatch(log.lines.map((l) => l.text).join('\n'), /p1|p2|p3/, 'no patient id in any log line');
});

t.test('wrong resource types and ids that are not FHIR ids: dropped from searches, a read answering another type fails the source', async (t) => {
  const upstream = await startTestUpstream({ resources: clinicalRecords() });
  t.teardown(() => upstream.close());
  const adapter = (await createFhirAdapter(sourceConfig('hosp', { baseUrl: upstream.baseUrl }), testContext(dataDir))) as FhirUpstreamAdapter;
  t.teardown(() => adapter.close());
  upstream.faults.wrongTypes = true;
  upstream.faults.badIds = true;
  const page = await adapter.search({ resourceType: 'MedicationRequest', filters: [], patients: ['p1'], count: 10 }, signal());
  t.same(page.resources.map((r) => `${r.resourceType}/${r.id}`), ['MedicationRequest/p1-mr1'], 'neither the Patient nor the entry with a path for an id');
  upstream.faults.badIds = false;
  await t.rejects(adapter.read('MedicationRequest', 'p1-mr1', signal()), { name: 'SourceUnavailableError', message: /a Patient instead/ });
});

t.test('huge pages: more entries than asked are handed out in pages of the asked size; oversized bodies fail', async (t) => {
  const upstream = await startTestUpstream({ resources: clinicalRecords(300) });
  t.teardown(() => upstream.close());
  const adapter = (await createFhirAdapter(sourceConfig('hosp', { baseUrl: upstream.baseUrl }), testContext(dataDir))) as FhirUpstreamAdapter;
  t.teardown(() => adapter.close());
  upstream.faults.ignoreCount = true;
  const { pages, ids } = await allPages(adapter, { resourceType: 'Observation', filters: [], patients: ['p3'], count: 50 });
  t.equal(pages.length, 6);
  t.ok(pages.every((p) => p.resources.length === 50));
  t.equal(new Set(ids).size, 300);

  const small = (await createFhirAdapter(sourceConfig('small', { baseUrl: upstream.baseUrl, maxResponseBytes: 64 * 1024 }), testContext(dataDir))) as FhirUpstreamAdapter;
  t.teardown(() => small.close());
  await t.rejects(small.search({ resourceType: 'Observation', filters: [], patients: ['p3'], count: 50 }, signal()), { name: 'SourceUnavailableError', message: /larger than 65536 bytes/ });
});

t.test('malformed JSON from the upstream fails the source with a clear message', async (t) => {
  const upstream = await startTestUpstream({ resources: clinicalRecords() });
  t.teardown(() => upstream.close());
  const adapter = (await createFhirAdapter(sourceConfig('hosp', { baseUrl: upstream.baseUrl }), testContext(dataDir))) as FhirUpstreamAdapter;
  t.teardown(() => adapter.close());
  upstream.faults.malformedJson = true;
  await t.rejects(adapter.search({ resourceType: 'Observation', filters: [], patients: ['p1'], count: 5 }, signal()), { name: 'SourceUnavailableError', message: /malformed JSON/ });
  upstream.faults.malformedJson = false;
  const answer = await adapter.search({ resourceType: 'Observation', filters: [], patients: ['p1'], count: 5 }, signal());
  t.equal(answer.resources.length, 5);
});
