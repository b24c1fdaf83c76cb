import t from 'tap';
import { alice, demoApp, json } from './fhir-app.ts';

const app = await demoApp();
t.teardown(() => app.close());

const odd = [
  '/fhir/MedicationRequest?_sort=',
  '/fhir/MedicationRequest?_sort=-',
  '/fhir/MedicationRequest?_sort=status&_sort=-status',
  '/fhir/MedicationRequest?_include=MedicationRequest:subject:Patient',
  '/fhir/MedicationRequest?_include=MedicationRequest:nope',
  '/fhir/MedicationRequest?_revinclude=Nope:thing',
  '/fhir/MedicationRequest?patient=',
  '/fhir/MedicationRequest?patient=,,,',
  '/fhir/MedicationRequest?patient=Patient/',
  '/fhir/MedicationRequest?patient=Group/1',
  '/fhir/MedicationRequest?_id=,,,',
  '/fhir/MedicationRequest?_count=0',
  '/fhir/MedicationRequest?_count=99999999999999999999',
  '/fhir/MedicationRequest?_count=1.5',
  '/fhir/MedicationRequest?_count=1&_count=2',
  '/fhir/MedicationRequest?_elements=',
  '/fhir/MedicationRequest?_elements=a.b',
  '/fhir/MedicationRequest?_summary=count&_count=5',
  '/fhir/MedicationRequest?authoredon=ge',
  '/fhir/MedicationRequest?authoredon=gt2020-01-01T25:99',
  '/fhir/MedicationRequest?authoredon=xx2020',
  '/fhir/MedicationRequest?status:not=active',
  '/fhir/MedicationRequest?status:weird=active',
  '/fhir/MedicationRequest?subject:missing=maybe',
  '/fhir/MedicationRequest?code=|',
  '/fhir/MedicationRequest?code=http://x|',
  '/fhir/MedicationRequest?_lastUpdated=lt',
  '/fhir/RiskAssessment?probability=abc',
  '/fhir/Observation?value-quantity=gt5',
  '/fhir/Observation?combo-code-value-quantity=1$2',
  '/fhir/Patient?birthdate=notadate',
  '/fhir/Patient?_sort=-birthdate,family&name=',
  '/fhir/Patient?_cursor=' + 'A'.repeat(9000),
  `/fhir/Patient/${alice}/MedicationRequest?_cursor=%00`,
  '/fhir/MedicationRequest?%ZZ=1',
  '/fhir/MedicationRequest?_format=',
  '/fhir/MedicationRequest?_format=json&_format=xml',
  '/fhir/Patient/0xZZ',
  '/fhir/Patient/..',
  '/fhir/MedicationRequest/clinic..0123456789abcdef0123456789abcdef',
  '/fhir/%E0%A4%A',
  '/fhir/Patient/x/$everything',
  `/fhir/Patient/${alice}/$everything?_count=abc`,
];

t.test('nothing a client sends produces a 500: odd input gets a 2xx or a 4xx OperationOutcome', async (t) => {
  for (const url of odd) {
    const res = await app.inject({ method: 'GET', url });
    t.ok(res.statusCode < 500, `${url} → ${res.statusCode}`);
    if (res.statusCode >= 400) t.equal(json(res).resourceType, 'OperationOutcome', url);
    if (res.statusCode === 200) {
      const body = json(res);
      const warnings = (body.entry ?? []).filter((e: any) => e.search?.mode === 'outcome').flatMap((e: any) => e.resource.issue);
      t.notOk(warnings.some((i: any) => i.code === 'exception'), `${url}: no source blamed for the client's input`);
    }
  }
});

t.test('odd headers and bodies are 4xx too', async (t) => {
  const cases = [
    { method: 'POST' as const, url: '/fhir/MedicationRequest/_search', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: '%%%=&&&' },
    { method: 'POST' as const, url: '/fhir/MedicationRequest/_search', headers: { 'content-type': 'application/json' }, payload: '{bad json' },
    { method: 'POST' as const, url: '/fhir/MedicationRequest/_search', headers: { 'content-type': 'application/fhir+json' }, payload: '{}' },
    { method: 'PUT' as const, url: '/fhir/MedicationRequest/clinic.mr-5001', headers: { 'content-type': 'application/fhir+json' }, payload: '{}' },
    { method: 'DELETE' as const, url: '/fhir/MedicationRequest/clinic.mr-5001' },
    { method: 'GET' as const, url: '/fhir/metadata', headers: { accept: ';;;,,,q=abc' } },
    { method: 'GET' as const, url: '/fhir/MedicationRequest', headers: { prefer: 'handling=strict', accept: 'application/fhir+json; fhirVersion=4.0' } },
  ];
  for (const c of cases) {
    const res = await app.inject(c);
    t.ok(res.statusCode < 500, `${c.method} ${c.url} ${c.headers?.['content-type'] ?? ''} → ${res.statusCode}`);
    if (res.statusCode >= 400) t.equal(json(res).resourceType, 'OperationOutcome');
  }
});

t.test('unsupported modifiers and malformed :missing values are refused, not ignored', async (t) => {
  for (const url of ['/fhir/MedicationRequest?status:weird=active', '/fhir/MedicationRequest?subject:missing=maybe', '/fhir/MedicationRequest?authoredon:exact=2020']) {
    const res = await app.inject({ method: 'GET', url });
    t.equal(res.statusCode, 400, url);
    t.match(json(res).issue[0].details.text, /modifier|missing/, url);
  }
  t.equal((await app.inject({ method: 'GET', url: '/fhir/MedicationRequest?status:not=active' })).statusCode, 200);
  t.equal((await app.inject({ method: 'GET', url: '/fhir/MedicationRequest?subject:Patient=x' })).statusCode, 200, 'type modifiers on references');
});

t.test('dates that do not exist are a 400 that names the value', async (t) => {
  for (const url of ['/fhir/MedicationRequest?authoredon=2020-02-30', '/fhir/Patient?birthdate=ge2021-02-29', '/fhir/MedicationRequest?_lastUpdated=2020-13', '/fhir/MedicationRequest?authoredon=2020-04-31T10:00:00Z']) {
    const res = await app.inject({ method: 'GET', url });
    t.equal(res.statusCode, 400, url);
    t.match(json(res).issue[0].details.text, /is not a real date/, url);
  }
  t.equal((await app.inject({ method: 'GET', url: '/fhir/Patient?birthdate=2020-02-29' })).statusCode, 200, 'a leap day is a day');
});

t.test('parameter names that are JavaScript object members are unknown parameters like any other', async (t) => {
  for (const name of ['constructor', 'hasOwnProperty', 'toString', '__proto__']) {
    const lenient = await app.inject({ method: 'GET', url: `/fhir/MedicationRequest?${name}=1&patient=${alice}` });
    t.equal(lenient.statusCode, 200, name);
    t.notMatch(json(lenient).link[0].url, new RegExp(name), `${name} left out of the self link`);
    const strict = await app.inject({ method: 'GET', url: `/fhir/MedicationRequest?${name}=1`, headers: { prefer: 'handling=strict' } });
    t.equal(strict.statusCode, 400, `${name} under handling=strict`);
  }
  t.equal((await app.inject({ method: 'GET', url: '/fhir/MedicationRequest?_sort=constructor' })).statusCode, 400, 'nor a sort key');
});

t.test('writes are 405 with an OperationOutcome and Allow: this server reads and searches', async (t) => {
  const cases = [
    { method: 'POST' as const, url: '/fhir/MedicationRequest', headers: { 'content-type': 'application/fhir+json' }, payload: '{"resourceType":"MedicationRequest"}' },
    { method: 'PUT' as const, url: '/fhir/MedicationRequest/clinic.mr-5001', headers: { 'content-type': 'application/fhir+json' }, payload: '{}' },
    { method: 'PATCH' as const, url: '/fhir/MedicationRequest/clinic.mr-5001', headers: { 'content-type': 'application/json-patch+json' }, payload: '[]' },
    { method: 'DELETE' as const, url: '/fhir/MedicationRequest/clinic.mr-5001' },
    { method: 'DELETE' as const, url: '/fhir/MedicationRequest?status=active' },
    { method: 'POST' as const, url: '/fhir', headers: { 'content-type': 'application/fhir+json' }, payload: '{"resourceType":"Bundle","type":"transaction"}' },
  ];
  for (const c of cases) {
    const res = await app.inject(c);
    t.equal(res.statusCode, 405, `${c.method} ${c.url}`);
    t.equal(json(res).resourceType, 'OperationOutcome');
    t.equal(res.headers.allow, 'GET, HEAD');
  }
  const search = await app.inject({ method: 'POST', url: '/fhir/MedicationRequest/_search', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: `patient=${alice}` });
  t.equal(search.statusCode, 200, 'POST _search is still a search');
});
