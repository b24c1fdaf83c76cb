import t from 'tap';
import { alice, carol, demoApp, json } from './fhir-app.ts';

const app = await demoApp();
t.teardown(() => app.close());
const get = (url: string, headers: Record<string, string> = {}) => app.inject({ method: 'GET', url, headers });

t.test('Patient/<address> is one merged Patient linking each provider\'s own Patient', async (t) => {
  const res = await get(`/fhir/Patient/${alice}`);
  t.equal(res.statusCode, 200);
  const patient = json(res);
  t.equal(patient.id, alice);
  t.same(patient.link.map((l: any) => l.other.reference).sort(), [
    'Patient/clinic.rfc-1001',
    'Patient/hospital.ea877536-55b1-4ec8-a12b-e95594214c01',
    'Patient/pharmacy-records.cp-77001',
  ]);
  t.ok(patient.link.every((l: any) => l.type === 'seealso'));
  t.ok(patient.identifier.length >= 3, 'identifiers of every provider');
});

t.test('a provider\'s own Patient is readable by its global id', async (t) => {
  const res = await get(`/fhir/Patient/clinic.rfc-1002`);
  t.equal(res.statusCode, 200);
  t.equal(json(res).id, 'clinic.rfc-1002');
  t.match(json(res).meta.source, /#clinic$/);
  const merged = json(await get(`/fhir/Patient/${carol}`));
  t.equal(merged.link.length, 2, 'carol is known to the hospital and the clinic');
});

t.test('read gives the resource with rewritten references, ETag and Last-Modified, and 304 on a match', async (t) => {
  const res = await get('/fhir/MedicationRequest/pharmacy-records.rx-880001');
  t.equal(res.statusCode, 200);
  const mr = json(res);
  t.equal(mr.id, 'pharmacy-records.rx-880001');
  t.equal(mr.subject.reference, `Patient/${alice}`);
  t.equal(mr.medicationReference.reference, 'Medication/pharmacy-records.med-608139');
  t.match(mr.meta.source, /^urn:medrec:provider:0x[0-9a-f]{40}#pharmacy-records$/);
  t.match(res.headers.etag, /^W\/".+"$/);
  t.equal(res.headers['last-modified'], new Date(mr.meta.lastUpdated).toUTCString());
  const again = await get('/fhir/MedicationRequest/pharmacy-records.rx-880001', { 'if-none-match': res.headers.etag as string });
  t.equal(again.statusCode, 304);
  const medication = json(await get('/fhir/Medication/pharmacy-records.med-608139'));
  t.equal(medication.code.coding[0].code, '608139');
});

t.test('read honours _elements and _summary', async (t) => {
  const mr = json(await get('/fhir/MedicationRequest/clinic.mr-5001?_elements=authoredOn'));
  t.ok(mr.authoredOn);
  t.notOk(mr.dosageInstruction);
  t.ok(mr.meta.tag.some((x: any) => x.code === 'SUBSETTED'));
  t.equal(mr.status, 'active', 'mandatory elements stay');
});

t.test('unknown ids and types are 404, malformed ids 400, each with an OperationOutcome', async (t) => {
  for (const [url, status] of [
    ['/fhir/MedicationRequest/clinic.nope', 404],
    ['/fhir/MedicationRequest/nosuchsource.x1', 404],
    ['/fhir/MedicationRequest/no-dot', 404],
    [`/fhir/Patient/0x${'0'.repeat(40)}`, 404],
    ['/fhir/Spaceship/clinic.x', 404],
    ['/fhir/Spaceship', 404],
    ['/fhir/Questionnaire?name=x', 404],
    ['/fhir/MedicationRequest/bad$id', 400],
    [`/fhir/MedicationRequest/${'x'.repeat(65)}`, 400],
    ['/fhir/MedicationRequest/clinic.mr-5001/_history/1', 404],
  ] as const) {
    const res = await get(url);
    t.equal(res.statusCode, status, url);
    t.equal(json(res).resourceType, 'OperationOutcome', url);
  }
});

t.test('content negotiation: JSON flavours are served, anything else is 406; odd bodies 415', async (t) => {
  t.equal((await get('/fhir/metadata', { accept: 'application/json' })).statusCode, 200);
  t.equal((await get('/fhir/metadata', { accept: 'application/fhir+json;q=0.9, */*;q=0.1' })).statusCode, 200);
  t.equal((await get('/fhir/metadata?_format=json')).statusCode, 200);
  const xml = await get('/fhir/metadata', { accept: 'application/fhir+xml' });
  t.equal(xml.statusCode, 406);
  t.equal(json(xml).resourceType, 'OperationOutcome');
  t.equal((await get('/fhir/metadata?_format=xml')).statusCode, 406);
  const posted = await app.inject({ method: 'POST', url: '/fhir/MedicationRequest/_search', headers: { 'content-type': 'application/json' }, payload: '{"status":"active"}' });
  t.equal(posted.statusCode, 415);
  const weird = await app.inject({ method: 'POST', url: '/fhir/MedicationRequest/_search', headers: { 'content-type': 'application/xml' }, payload: '<x/>' });
  t.equal(weird.statusCode, 415);
  t.equal(json(weird).resourceType, 'OperationOutcome');
});

t.test('oversized bodies are refused with 413', async (t) => {
  const res = await app.inject({ method: 'POST', url: '/fhir/MedicationRequest/_search', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: `status=${'a'.repeat(70_000)}` });
  t.equal(res.statusCode, 413);
  t.equal(json(res).issue[0].code, 'too-long');
});

t.test('CORS preflight and exposed headers for browser apps', async (t) => {
  const res = await app.inject({ method: 'OPTIONS', url: '/fhir/Patient', headers: { origin: 'https://app.example', 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' } });
  t.equal(res.statusCode, 204);
  t.equal(res.headers['access-control-allow-origin'], 'https://app.example');
  const get2 = await get('/fhir/metadata', { origin: 'https://app.example' });
  t.match(String(get2.headers['access-control-expose-headers']), /etag/);
});

t.test('every response carries a request id; a well-formed incoming one is kept', async (t) => {
  const res = await get('/fhir/metadata', { 'x-request-id': 'trace-123' });
  t.equal(res.headers['x-request-id'], 'trace-123');
  t.match((await get('/fhir/metadata', { 'x-request-id': 'bad id!' })).headers['x-request-id'], /^[0-9a-f-]{36}$/);
});

t.test('$everything gives the merged Patient and every compartment record of every provider', async (t) => {
  const bundle = json(await get(`/fhir/Patient/${alice}/$everything`));
  const types = new Set(bundle.entry.map((e: any) => e.resource.resourceType));
  for (const type of ['Patient', 'MedicationRequest', 'Observation', 'AllergyIntolerance', 'Condition', 'MedicationDispense']) t.ok(types.has(type), type);
  t.equal(bundle.entry[0].resource.id, alice);
  const foreign = bundle.entry.filter((e: any) => e.resource.subject && e.resource.subject.reference !== `Patient/${alice}`);
  t.same(foreign, [], 'nothing of anyone else');
});
