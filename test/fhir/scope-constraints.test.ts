/**
 * SMART v2 scope constraints (`user/Patient.rs?gender=female`) are enforced by the FHIR layer on
 * every resource it hands out: merged Patients (which no source search narrows), reads, included
 * resources, and alternatives one query cannot express. The sources' own narrowing only makes
 * pages and totals exact; it is never trusted alone.
 */
import t from 'tap';
import type { AccessContext } from '../../server/access/access-context.ts';
import { parseResourceScope } from '../../smart-on-fhir/scopes.ts';
import { demoApp, json } from './fhir-app.ts';

const app = await demoApp();
const subject = '0x00000000000000000000000000000000000c1a1c';
const context = (...scopes: string[]): AccessContext => ({ clientId: 'app', subject, scopes: scopes.map((s) => parseResourceScope(s)!) });
const contexts: Record<string, AccessContext> = {
  all: context('user/*.rs'),
  female: context('user/Patient.rs?gender=female', 'user/Observation.rs'),
  nobody: context('user/Patient.rs?gender=nonexistent-gender'),
  // Two parameters in two scopes: no single query says "vital signs, or this code".
  either: context('user/Observation.rs?category=vital-signs', 'user/Observation.rs?code=http://loinc.org|no-such-code'),
};
app.addHook('onRequest', async (request) => {
  request.accessContext = contexts[String(request.headers['x-test-caller'])];
});
t.teardown(() => app.close());

type Entry = { resource: { resourceType: string; id: string; gender?: string; category?: { coding?: { code?: string }[] }[] }; search?: { mode?: string } };
const get = async (caller: string, url: string, headers: Record<string, string> = {}) => {
  const res = await app.inject({ url, headers: { 'x-test-caller': caller, ...headers } });
  return { status: res.statusCode, etag: res.headers.etag as string | undefined, body: json(res) as { total?: number; entry?: Entry[]; link?: { relation: string }[] } };
};
const ofMode = (body: { entry?: Entry[] }, mode: string) => (body.entry ?? []).filter((e) => e.search?.mode === mode).map((e) => e.resource);

const everyone = ofMode((await get('all', '/fhir/Patient?_count=50')).body, 'match');
const women = everyone.filter((p) => p.gender === 'female');
const man = everyone.find((p) => p.gender !== 'female')!;
t.ok(women.length > 0 && man, 'the demo has women and a man');

t.test('a Patient search returns only the merged Patients that match the constraint, with an exact total', async (t) => {
  const { body } = await get('female', '/fhir/Patient?_count=50');
  t.same(ofMode(body, 'match').map((p) => p.id).sort(), women.map((p) => p.id).sort());
  t.equal(body.total, women.length);
  const none = await get('nobody', '/fhir/Patient?_count=50');
  t.equal(none.status, 200);
  t.same(ofMode(none.body, 'match'), [], 'a constraint nothing matches shows nobody');
  t.equal(none.body.total, 0);
  t.equal((await get('female', '/fhir/Patient?_summary=count')).body.total, women.length, '_summary=count counts the visible Patients only');
  t.equal((await get('female', `/fhir/Patient?_id=${man.id}`)).body.entry?.some((e) => e.search?.mode === 'match') ?? false, false, 'naming a hidden Patient finds nothing');
});

t.test('_elements that leave out the constrained element do not hide the matching records', async (t) => {
  const { body } = await get('female', '/fhir/Patient?_elements=id&_count=50');
  t.equal(ofMode(body, 'match').length, women.length);
});

t.test('a read of a resource outside the constraint is 403, one inside it is read', async (t) => {
  t.equal((await get('female', `/fhir/Patient/${women[0]!.id}`)).status, 200);
  const refused = await get('female', `/fhir/Patient/${man.id}`);
  t.equal(refused.status, 403);
  t.match(JSON.stringify(refused.body), /outside the granted scope constraints/);
  const etag = (await get('all', `/fhir/Patient/${man.id}`)).etag!;
  t.equal((await get('female', `/fhir/Patient/${man.id}`, { 'if-none-match': etag })).status, 403, 'a conditional read with the right ETag is not answered 304');
});

t.test('included resources outside the constraint are left out', async (t) => {
  const path = '/fhir/Observation?_include=Observation:patient&_count=100';
  const included = (caller: string) => get(caller, path).then((r) => ofMode(r.body, 'include').filter((x) => x.resourceType === 'Patient'));
  t.ok((await included('all')).some((p) => p.id === man.id), 'unconstrained, the man comes in through _include');
  const constrained = await included('female');
  t.ok(constrained.length > 0, 'women still come in');
  t.ok(constrained.every((p) => p.gender === 'female'), 'the man does not');
});

t.test('alternatives one query cannot express are filtered after the search; the total is recounted on a single page, dropped when paged', async (t) => {
  const vital = (e: Entry['resource']) => (e.category ?? []).some((c) => (c.coding ?? []).some((x) => x.code === 'vital-signs'));
  const all = ofMode((await get('all', '/fhir/Observation?_count=200')).body, 'match');
  const vitals = all.filter(vital).length;
  t.ok(vitals > 0 && vitals < all.length, 'the demo has vital signs and other observations');
  const single = await get('either', '/fhir/Observation?_count=200');
  t.equal(ofMode(single.body, 'match').length, vitals);
  t.ok(ofMode(single.body, 'match').every(vital));
  t.equal(single.body.total, vitals, 'one page: the total is what it shows');
  const paged = await get('either', '/fhir/Observation?_count=5');
  t.ok(paged.body.link?.some((l) => l.relation === 'next'), 'several pages');
  t.ok(ofMode(paged.body, 'match').every(vital));
  t.equal(paged.body.total, undefined, 'paged: the sources’ total would count hidden records, so none is given');
  t.equal((await get('either', '/fhir/Observation?_summary=count')).body.total, undefined, '_summary=count gives no count it cannot know');
});
