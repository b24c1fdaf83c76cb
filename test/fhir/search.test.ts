import t from 'tap';
import type { Resource } from '@medplum/fhirtypes';
import type { EhrAdapter } from '../../adapters/ehr-adapter.ts';
import { EmbeddedAdapter } from '../../adapters/embedded/embedded-adapter.ts';
import { alice, bob, carol, demoApp, demoFederatedSources, demoLinks, json, source } from './fhir-app.ts';

const app = await demoApp();
t.teardown(() => app.close());

const get = (url: string, headers: Record<string, string> = {}) => app.inject({ method: 'GET', url, headers });
const ids = (bundle: any, mode = 'match') => (bundle.entry ?? []).filter((e: any) => e.search?.mode === mode).map((e: any) => e.resource.id);

t.test('a MedicationRequest search for one person merges every provider holding records for them', async (t) => {
  const res = await get(`/fhir/MedicationRequest?patient=${alice}`);
  t.equal(res.statusCode, 200);
  t.match(res.headers['content-type'], /^application\/fhir\+json/);
  const bundle = json(res);
  t.equal(bundle.type, 'searchset');
  t.equal(bundle.total, 7, 'four hospital, two clinic and one pharmacy prescription');
  const sources = new Set(bundle.entry.map((e: any) => e.resource.meta.source.split('#')[1]));
  t.same([...sources].sort(), ['clinic', 'hospital', 'pharmacy-records']);
  for (const e of bundle.entry) {
    t.equal(e.resource.subject.reference, `Patient/${alice}`, 'source-local patient references become the patient key');
    t.match(e.resource.id, /^(hospital|clinic|pharmacy-records)\./);
    t.equal(e.fullUrl, `http://localhost:80/fhir/MedicationRequest/${e.resource.id}`);
  }
  t.equal(bundle.link[0].relation, 'self');
});

t.test('paging walks every match exactly once across sources, with previous links back', async (t) => {
  const all = ids(json(await get(`/fhir/MedicationRequest?_count=100&_sort=-authoredon`)));
  t.ok(all.length >= 10);
  const seen: string[] = [];
  let url: string | undefined = `/fhir/MedicationRequest?_count=3&_sort=-authoredon`;
  let pages = 0;
  let last: any;
  while (url && pages < 20) {
    const bundle = json(await get(url));
    t.equal(bundle.total, all.length, 'total stays the sum of the sources');
    seen.push(...ids(bundle));
    last = bundle;
    const next = bundle.link.find((l: any) => l.relation === 'next');
    url = next ? new URL(next.url).pathname + new URL(next.url).search : undefined;
    pages++;
  }
  t.same(seen, all, 'same order as one big page: the k-way merge is exact');
  const previous = last.link.find((l: any) => l.relation === 'previous');
  t.ok(previous, 'a later page links back');
  const back = json(await get(new URL(previous.url).pathname + new URL(previous.url).search));
  t.same(ids(back), all.slice((pages - 2) * 3, (pages - 1) * 3));
});

t.test('_sort orders the merged result by the sort key across providers', async (t) => {
  const bundle = json(await get(`/fhir/MedicationRequest?patient=${alice}&_sort=-authoredon`));
  const dates = bundle.entry.map((e: any) => Date.parse(e.resource.authoredOn));
  t.same(dates, [...dates].sort((a, b) => b - a));
  t.equal(bundle.entry[0].resource.id, 'pharmacy-records.rx-880001', 'the newest prescription is the pharmacy one');
});

t.test('without _sort the order is deterministic: source order, then each source\'s own order', async (t) => {
  const a = ids(json(await get(`/fhir/MedicationRequest?patient=${alice}`)));
  const b = ids(json(await get(`/fhir/MedicationRequest?patient=${alice}`)));
  t.same(a, b);
  t.match(a[0], /^hospital\./);
  t.match(a[a.length - 1], /^pharmacy-records\./);
});

t.test('compartment search Patient/[id]/[type] equals a search by patient', async (t) => {
  const a = json(await get(`/fhir/Patient/${alice}/MedicationRequest?status=active`));
  const b = json(await get(`/fhir/MedicationRequest?patient=${alice}&status=active`));
  t.same(ids(a), ids(b));
  t.ok(ids(a).length >= 3);
  t.ok(a.entry.every((e: any) => e.resource.status === 'active'));
  t.match(a.link[0].url, new RegExp(`/fhir/Patient/${alice}/MedicationRequest\\?status=active$`));
});

t.test('a source-local patient reference in a search is resolved to the person', async (t) => {
  const bundle = json(await get(`/fhir/MedicationRequest?subject=Patient/clinic.rfc-1001`));
  t.equal(bundle.total, 7, 'clinic.rfc-1001 is alice, so all her providers answer');
});

t.test('POST _search with a form body (and URL parameters) answers like GET', async (t) => {
  const res = await app.inject({
    method: 'POST',
    url: `/fhir/MedicationRequest/_search?_count=50`,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: `patient=${alice}&status=active`,
  });
  t.equal(res.statusCode, 200);
  t.same(ids(json(res)), ids(json(await get(`/fhir/MedicationRequest?patient=${alice}&status=active&_count=50`))));
});

t.test('_count is capped and stated in the self link; _summary=count gives only the total', async (t) => {
  const capped = json(await get(`/fhir/Observation?_count=5000`));
  t.match(capped.link[0].url, /_count=1000/);
  const count = json(await get(`/fhir/MedicationRequest?patient=${bob}&_summary=count`));
  t.equal(count.total, 7);
  t.notOk(count.entry);
});

t.test('_elements subsets entries and tags them SUBSETTED; _summary=true keeps summary elements', async (t) => {
  const bundle = json(await get(`/fhir/MedicationRequest?patient=${alice}&_elements=status`));
  for (const e of bundle.entry) {
    t.equal(e.resource.status !== undefined, true);
    t.notOk(e.resource.dosageInstruction);
    t.ok(e.resource.meta.tag.some((tag: any) => tag.code === 'SUBSETTED'));
  }
  const summary = json(await get(`/fhir/Patient?_summary=true&_id=${alice}`));
  t.ok(summary.entry[0].resource.meta.tag.some((tag: any) => tag.code === 'SUBSETTED'));
});

t.test('_summary=data drops the narrative, _summary=text keeps it with the mandatory elements; both tagged SUBSETTED', async (t) => {
  const narrated = new EmbeddedAdapter('narr', [
    { resourceType: 'Patient', id: 'n1' } as Resource,
    {
      resourceType: 'Observation', id: 'o1', status: 'final', code: { text: 'Heart rate' }, subject: { reference: 'Patient/n1' },
      valueQuantity: { value: 72, unit: '/min' }, text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">Heart rate 72/min</div>' },
    } as Resource,
  ]);
  const links = demoLinks();
  links.add({ patient: carol, sourceId: 'narr', localId: 'n1' });
  const withText = await demoApp({ extraSources: [source('narr', narrated)], deps: { patientLinks: links } });
  t.teardown(() => withText.close());
  const one = async (summary: string) =>
    json(await withText.inject({ method: 'GET', url: `/fhir/Observation?_id=narr.o1${summary}` })).entry[0].resource;
  const [full, data, text] = [await one(''), await one('&_summary=data'), await one('&_summary=text')];
  t.ok(full.text && full.valueQuantity);
  t.notOk(data.text, 'data: no narrative');
  t.same(data.valueQuantity, full.valueQuantity, 'data: every other element');
  t.same(text.text, full.text, 'text: the narrative');
  t.same([text.status, text.code], [full.status, full.code], 'text: the mandatory elements');
  t.notOk(text.valueQuantity, 'text: nothing else');
  for (const r of [data, text]) t.ok(r.meta.tag.some((tag: any) => tag.code === 'SUBSETTED'));
  const read = json(await withText.inject({ method: 'GET', url: '/fhir/Observation/narr.o1?_summary=text' }));
  t.same([read.text, read.valueQuantity], [full.text, undefined], 'the same on read');
});

t.test('total is the sum of the sources\' totals; _total=none leaves it out', async (t) => {
  const bySource = await Promise.all(['hospital', 'clinic', 'pharmacy-records'].map(async (id) =>
    ids(json(await get(`/fhir/MedicationRequest?patient=${alice}&_count=100`))).filter((i: string) => i.startsWith(`${id}.`)).length));
  const paged = json(await get(`/fhir/MedicationRequest?patient=${alice}&_count=2`));
  t.equal(paged.total, bySource.reduce((a, b) => a + b, 0), 'on a page of two, the total of all three providers');
  t.ok(bySource.filter((n) => n > 0).length >= 2, 'records from more than one provider');
  const none = json(await get(`/fhir/MedicationRequest?patient=${alice}&_total=none`));
  t.equal(none.total, undefined);
  t.ok(ids(none).length > 0);
});

t.test('_include adds the referenced Medication from the same provider; _revinclude adds dispenses', async (t) => {
  const bundle = json(await get(`/fhir/MedicationRequest?patient=${alice}&_include=MedicationRequest:medication&_revinclude=MedicationDispense:prescription`));
  const included = ids(bundle, 'include');
  t.ok(included.includes('pharmacy-records.med-608139'), 'medication included');
  t.ok(included.includes('pharmacy-records.disp-1'), 'dispense rev-included');
  const dispense = bundle.entry.find((e: any) => e.resource.id === 'pharmacy-records.disp-1').resource;
  t.equal(dispense.authorizingPrescription[0].reference, 'MedicationRequest/pharmacy-records.rx-880001');
  const subject = json(await get(`/fhir/MedicationRequest?patient=${alice}&_include=MedicationRequest:subject`));
  t.same(ids(subject, 'include'), [alice], 'the subject included is the merged Patient');
});

t.test('Patient search runs over merged Patients', async (t) => {
  const bundle = json(await get(`/fhir/Patient?family=Hermiston71`));
  t.same(ids(bundle), [alice]);
  const all = json(await get(`/fhir/Patient`));
  t.equal(all.total, 4);
});

t.test('Patient searches add _include and _revinclude entries for the merged Patients of the page', async (t) => {
  const rev = json(await get(`/fhir/Patient?_id=${alice}&_revinclude=MedicationRequest:patient`));
  t.same(ids(rev), [alice]);
  const own = json(await get(`/fhir/MedicationRequest?patient=${alice}&_count=100`));
  t.ok(ids(own).length > 1);
  t.same(ids(rev, 'include').sort(), ids(own).sort(), "every provider's MedicationRequests of the person");

  // A provider whose Patient names a general practitioner: the include follows it.
  const gp = new EmbeddedAdapter('gp', [
    { resourceType: 'Patient', id: 'g1', generalPractitioner: [{ reference: 'Practitioner/dr1' }] } as Resource,
    { resourceType: 'Practitioner', id: 'dr1', name: [{ family: 'Osler' }] } as Resource,
  ]);
  const links = demoLinks();
  links.add({ patient: carol, sourceId: 'gp', localId: 'g1' });
  const withGp = await demoApp({ extraSources: [source('gp', gp)], deps: { patientLinks: links } });
  t.teardown(() => withGp.close());
  const included = json(await withGp.inject({ method: 'GET', url: `/fhir/Patient?_id=${carol}&_include=Patient:general-practitioner` }));
  t.same(ids(included), [carol]);
  t.same(ids(included, 'include'), ['gp.dr1']);
});

t.test('an _include target that many matches reference is read from its source once', async (t) => {
  const inner = new EmbeddedAdapter('meds', [
    { resourceType: 'Patient', id: 'q1' } as Resource,
    { resourceType: 'Medication', id: 'm1', code: { text: 'amoxicillin' } } as Resource,
    ...Array.from({ length: 12 }, (_, i) => ({
      resourceType: 'MedicationRequest', id: `mr${i}`, status: 'active', intent: 'order',
      subject: { reference: 'Patient/q1' }, medicationReference: { reference: 'Medication/m1' },
    }) as Resource),
  ]);
  const reads: string[] = [];
  const counted: EhrAdapter = {
    sourceId: 'meds',
    capabilities: () => inner.capabilities(),
    read: (type, id, signal) => (reads.push(`${type}/${id}`), inner.read(type, id, signal)),
    search: (query, signal) => inner.search(query, signal),
    health: () => inner.health(),
    close: () => inner.close(),
  };
  const links = demoLinks();
  links.add({ patient: carol, sourceId: 'meds', localId: 'q1' });
  const withMeds = await demoApp({ extraSources: [source('meds', counted)], deps: { patientLinks: links } });
  t.teardown(() => withMeds.close());
  const bundle = json(await withMeds.inject({ method: 'GET', url: `/fhir/MedicationRequest?patient=${carol}&_include=MedicationRequest:medication&_count=50` }));
  t.equal(ids(bundle).filter((id: string) => id.startsWith('meds.')).length, 12);
  t.same(ids(bundle, 'include').filter((id: string) => id.startsWith('meds.')), ['meds.m1']);
  t.same(reads, ['Medication/m1'], 'one read for twelve references');
});

t.test('Patient search criteria go to the sources first: only persons who may match are read', async (t) => {
  const reads: string[] = [];
  const counting = (adapter: EhrAdapter): EhrAdapter => ({
    sourceId: adapter.sourceId,
    capabilities: () => adapter.capabilities(),
    read: (type, id, signal) => (reads.push(`${adapter.sourceId}/${type}`), adapter.read(type, id, signal)),
    search: (query, signal) => adapter.search(query, signal),
    health: (signal) => adapter.health(signal),
    close: () => adapter.close(),
  });
  const person = '0x00000000000000000000000000000000000f00d1';
  const other = '0x00000000000000000000000000000000000f00d2';
  // The person's birth date is on one provider's record, the name searched for on another's.
  const xa = new EmbeddedAdapter('xa', [{ resourceType: 'Patient', id: 'a1', name: [{ family: 'Quill' }], birthDate: '1970-01-01' } as Resource]);
  const xb = new EmbeddedAdapter('xb', [{ resourceType: 'Patient', id: 'b1', name: [{ family: 'Zeta' }], birthDate: '1999-09-09' } as Resource]);
  // A source that evaluates no Patient parameter: its persons stay candidates, matched afterwards.
  const plain = new EmbeddedAdapter('plain', [{ resourceType: 'Patient', id: 'c1', name: [{ family: 'Nope' }] } as Resource]);
  const blind: EhrAdapter = { ...counting(plain), capabilities: () => ({ resources: { Patient: { searchParams: [] } } }) };
  const links = demoLinks();
  links.add({ patient: person, sourceId: 'xa', localId: 'a1' });
  links.add({ patient: person, sourceId: 'xb', localId: 'b1' });
  links.add({ patient: other, sourceId: 'plain', localId: 'c1' });
  const sources = [...(await demoFederatedSources()).map((s) => ({ ...s, adapter: counting(s.adapter) })), source('xa', counting(xa)), source('xb', counting(xb)), source('plain', blind)];
  const pushed = await demoApp({ sources, deps: { patientLinks: links } });
  t.teardown(() => pushed.close());
  const search = async (query: string) => {
    reads.length = 0;
    return ids(json(await pushed.inject({ method: 'GET', url: `/fhir/Patient?${query}` })));
  };

  t.same(await search('family=Hermiston71'), [alice]);
  const aliceLinks = links.linksOf(alice).filter((l) => sources.some((s) => s.sourceId === l.sourceId)).length;
  t.equal(reads.filter((r) => r.endsWith('/Patient') && !r.startsWith('plain/')).length, aliceLinks, "only alice's records are read, not every person's");
  t.same(await search('family=Zeta&birthdate=1970-01-01'), [person], 'criteria met through different providers still match the person');
  t.same(await search('family=Zeta&birthdate=1999-09-09'), [], 'the merged Patient decides: its birth date is the first provider\'s');
  t.same(await search('family=Nope'), [other], 'a source that cannot evaluate the criterion keeps its persons in play');
});

t.test('unknown parameters are ignored and left out of the self link, or refused under handling=strict', async (t) => {
  const lenient = json(await get(`/fhir/MedicationRequest?patient=${alice}&colour=blue`));
  t.equal(lenient.total, 7);
  t.notMatch(lenient.link[0].url, /colour/);
  const strict = await get(`/fhir/MedicationRequest?patient=${alice}&colour=blue`, { prefer: 'handling=strict' });
  t.equal(strict.statusCode, 400);
  t.equal(json(strict).resourceType, 'OperationOutcome');
  t.match(json(strict).issue[0].details.text, /colour/);
});

t.test('a filter no source evaluates is dropped with a warning entry, on every page, and paging still works', async (t) => {
  const url = `/fhir/Observation?patient=${alice}&value-quantity=gt5&_count=5`;
  const first = json(await get(url));
  const warning = (bundle: any) => bundle.entry.find((e: any) => e.search.mode === 'outcome')?.resource.issue.find((i: any) => i.expression?.[0] === 'value-quantity');
  t.match(warning(first), { severity: 'warning', code: 'not-supported', details: { text: /value-quantity .*not applied/ } });
  t.notMatch(first.link[0].url, /value-quantity/, 'the self link states the search as applied');
  const next = first.link.find((l: any) => l.relation === 'next').url;
  const second = await get(new URL(next).pathname + new URL(next).search);
  t.equal(second.statusCode, 200, 'the next link is the search as applied, and its cursor fits it');
  t.ok(ids(json(second)).length > 0);
  const strict = await get(url, { prefer: 'handling=strict' });
  t.equal(strict.statusCode, 400);
});

t.test('a sort no source can do is dropped with a warning (400 when strict), never an empty result', async (t) => {
  const res = json(await get(`/fhir/Observation?patient=${alice}&_sort=value-quantity&_count=100`));
  t.ok(res.total > 0);
  t.equal(ids(res).length, res.total);
  const issue = res.entry.find((e: any) => e.search.mode === 'outcome').resource.issue;
  t.match(issue, [{ severity: 'warning', code: 'not-supported', expression: ['_sort'], details: { text: /No source can sort Observation by value-quantity/ } }]);
  t.notMatch(res.link[0].url, /_sort/);
  const partly = json(await get(`/fhir/Observation?patient=${alice}&_sort=value-quantity,-date&_count=100`));
  t.match(partly.link[0].url, /_sort=-date/, 'the rules some source can do are applied');
  const dates = partly.entry.filter((e: any) => e.search.mode === 'match').map((e: any) => e.resource.effectiveDateTime ?? '');
  t.same(dates, [...dates].sort().reverse());
  t.equal((await get(`/fhir/Observation?patient=${alice}&_sort=value-quantity`, { prefer: 'handling=strict' })).statusCode, 400);
});

t.test('bad search input gets a 400 OperationOutcome that says what was wrong', async (t) => {
  for (const [query, why] of [
    ['authoredon=2020-13-45', /date/],
    ['_count=-1', /_count/],
    ['_count=lots', /_count/],
    ['_sort=shoe-size', /shoe-size/],
    ['_summary=maybe', /_summary/],
    ['_include=*', /_include/],
    ['_cursor=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', /_cursor/],
    ['_cursor=not a cursor', /_cursor/],
  ] as const) {
    const res = await get(`/fhir/MedicationRequest?${query}`);
    t.equal(res.statusCode, 400, query);
    const body = json(res);
    t.equal(body.resourceType, 'OperationOutcome');
    t.match(body.issue[0].details.text, why, query);
  }
});

t.test('a cursor only works for the search it was issued for', async (t) => {
  const first = json(await get(`/fhir/MedicationRequest?_count=2`));
  const next = new URL(first.link.find((l: any) => l.relation === 'next').url);
  const cursor = next.searchParams.get('_cursor') as string;
  const other = await get(`/fhir/MedicationRequest?status=active&_count=2&_cursor=${cursor}`);
  t.equal(other.statusCode, 400);
  const flipped = cursor.slice(0, 30) + (cursor[30] === 'A' ? 'B' : 'A') + cursor.slice(31);
  const tampered = await get(`/fhir/MedicationRequest?_count=2&_cursor=${flipped}`);
  t.equal(tampered.statusCode, 400);
  t.notMatch(Buffer.from(cursor, 'base64url').toString('latin1'), /hospital|"page"|"skip"/, 'positions are not readable in the link');
});

t.test('_id and reference values carry global ids and reach only the source they name', async (t) => {
  const byId = json(await get(`/fhir/MedicationRequest?_id=clinic.mr-5001,pharmacy-records.rx-880002`));
  t.same(ids(byId).sort(), ['clinic.mr-5001', 'pharmacy-records.rx-880002']);
  const byMedication = json(await get(`/fhir/MedicationRequest?medication=Medication/pharmacy-records.med-860975`));
  t.same(ids(byMedication), ['pharmacy-records.rx-880003']);
  const byRequester = json(await get(`/fhir/MedicationRequest?requester=Practitioner/clinic.dr-lee&subject=${alice}`));
  t.same(ids(byRequester).sort(), ['clinic.mr-5001', 'clinic.mr-5002']);
  const none = json(await get(`/fhir/MedicationRequest?_id=nosuch.x`));
  t.equal(none.total, 0);
});
