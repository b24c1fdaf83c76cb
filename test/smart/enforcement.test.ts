/**
 * What Inferno never checks: a token is confined to its patient, its scopes and the on-chain
 * grants, through every door of the FHIR API (read, search, compartment, _include/_revinclude),
 * and the pharmacy's Backend Services token reads exactly its granted MedicationRequests across
 * providers. Whole server; the policy is the chain-backed one fed by snapshots.
 */
import t from 'tap';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, importJWK, SignJWT, type CryptoKey } from 'jose';
import { demoAddress, demoWallet } from '../../server/embedded/demo-identities.ts';
import { DEMO_PHARMACY_PRIVATE_JWK } from '../../smart-on-fhir/demo-clients.ts';
import { authorizeAs, Browser } from './support/smart-server.ts';
import { startFullStack } from './support/full-stack.ts';

// A second pharmacy system, jose-only too, authenticating with RS384 instead of the demo's ES384.
const rsa = await generateKeyPair('RS384', { extractable: true });
const stack = await startFullStack([
  {
    clientId: 'pharmacy-rs384',
    name: 'Pharmacy system (RS384)',
    type: 'backend',
    redirectUris: [],
    jwks: { keys: [{ ...(await exportJWK(rsa.publicKey)), kid: 'rs-1', alg: 'RS384' }] },
    address: demoAddress('pharmacy'),
    allowedScope: 'system/MedicationRequest.rs',
  },
]);
t.teardown(() => stack.close());
const alice = demoAddress('alice');
const bob = demoAddress('bob');

async function patientToken(scope: string, handle = 'alice', chooseScopes?: (o: { checked: string[]; categories: string[] }) => string[]): Promise<string> {
  const verifier = randomBytes(48).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const params = { response_type: 'code', client_id: 'medrec-demo-patient-app', redirect_uri: 'http://127.0.0.1:43210/callback', state: 's', aud: stack.fhirBase, scope, code_challenge: challenge, code_challenge_method: 'S256' };
  const { redirect } = await authorizeAs(new Browser(stack.origin), `${stack.origin}/auth/authorize?${new URLSearchParams(params)}`, demoWallet(handle), chooseScopes ? { chooseScopes } : {});
  const res = await fetch(`${stack.origin}/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code: redirect.searchParams.get('code')!, redirect_uri: params.redirect_uri, client_id: params.client_id, code_verifier: verifier }).toString(),
  });
  return ((await res.json()) as { access_token: string }).access_token;
}

async function get(token: string, path: string): Promise<{ status: number; body: { resourceType: string; total?: number; entry?: { resource: Record<string, unknown>; search?: { mode: string } }[] } }> {
  const res = await fetch(`${stack.fhirBase}/${path}`, { headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+json' } });
  return { status: res.status, body: (await res.json()) as never };
}

const patientsIn = (entries: { resource: Record<string, unknown> }[] = []): Set<string> => {
  const out = new Set<string>();
  for (const { resource } of entries) {
    if (resource.resourceType === 'Patient') out.add(resource.id as string);
    for (const field of ['subject', 'patient']) {
      const ref = (resource[field] as { reference?: string } | undefined)?.reference;
      if (ref?.startsWith('Patient/')) out.add(ref.slice(8));
    }
  }
  return out;
};

const aliceAll = await patientToken('launch/patient patient/*.rs');

t.test('a patient token reads its own patient and is refused on another (cross-patient read)', async (t) => {
  t.equal((await get(aliceAll, `Patient/${alice}`)).status, 200);
  const other = await get(aliceAll, `Patient/${bob}`);
  t.ok([403, 404].includes(other.status), `another patient: ${other.status}`);
  t.equal(other.body.resourceType, 'OperationOutcome');
});

t.test('searches naming another patient are refused; unnamed searches are narrowed to the token patient', async (t) => {
  for (const path of [`MedicationRequest?patient=${bob}`, `Observation?subject=Patient/${bob}`, `Patient/${bob}/MedicationRequest`, `Patient?_id=${bob}`]) {
    const res = await get(aliceAll, path);
    if (res.status === 200) t.same([...patientsIn(res.body.entry)].filter((p) => p !== alice), [], `${path} returns nothing of bob`);
    else t.ok([403, 404].includes(res.status), `${path}: ${res.status}`);
  }
  const unnamed = await get(aliceAll, 'MedicationRequest');
  t.equal(unnamed.status, 200);
  t.ok((unnamed.body.entry ?? []).length > 0);
  t.same([...patientsIn(unnamed.body.entry)], [alice], 'only alice in an unnamed search');
});

t.test('a token for one patient cannot be pointed at another by editing the query', async (t) => {
  const res = await get(aliceAll, `MedicationRequest?patient=${alice},${bob}`);
  if (res.status === 200) t.same([...patientsIn(res.body.entry)], [alice]);
  else t.ok([403, 404].includes(res.status), `mixed patients: ${res.status}`);
});

t.test('_include and _revinclude cannot reach types the scopes do not grant', async (t) => {
  const medsOnly = await patientToken('launch/patient patient/MedicationRequest.rs');
  t.equal((await get(medsOnly, `Patient/${alice}`)).status, 403, 'Patient not in scope');
  t.equal((await get(medsOnly, 'Observation')).status, 403, 'Observation not in scope');
  const included = await get(medsOnly, `MedicationRequest?patient=${alice}&_include=MedicationRequest:patient`);
  if (included.status === 200) {
    const types = new Set((included.body.entry ?? []).map((e) => e.resource.resourceType));
    t.notOk(types.has('Patient'), 'no Patient smuggled in through _include');
  } else t.equal(included.status, 403);
  // The same search with a token that may see Observations brings them in: the check below can fail.
  const revPath = `Encounter?patient=${alice}&_revinclude=Observation:encounter&_count=100`;
  const withObservations = await get(aliceAll, revPath);
  t.ok((withObservations.body.entry ?? []).some((e) => e.resource.resourceType === 'Observation' && e.search?.mode === 'include'), 'patient/*.rs: Observations come in through _revinclude');
  const encountersOnly = await patientToken('launch/patient patient/Encounter.rs');
  const rev = await get(encountersOnly, revPath);
  if (rev.status === 200) {
    t.ok((rev.body.entry ?? []).some((e) => e.resource.resourceType === 'Encounter'), 'patient/Encounter.rs: the encounters');
    t.notOk((rev.body.entry ?? []).some((e) => e.resource.resourceType === 'Observation'), 'but no Observation smuggled in through _revinclude');
  } else t.equal(rev.status, 403);
});

t.test('a patient token cannot read another patient’s non-Patient resource by id', async (t) => {
  const bobToken = await patientToken('launch/patient patient/*.rs', 'bob');
  const bobRecord = (await get(bobToken, 'MedicationRequest?_count=1')).body.entry![0]!.resource;
  t.equal((await get(bobToken, `MedicationRequest/${bobRecord.id as string}`)).status, 200, 'bob reads it');
  const res = await get(aliceAll, `MedicationRequest/${bobRecord.id as string}`);
  t.ok([403, 404].includes(res.status), `alice’s token: ${res.status}`);
  t.equal(res.body.resourceType, 'OperationOutcome');
});

t.test('CORS on an authenticated FHIR read: the app’s Origin is echoed and the preflight allows Authorization (C4)', async (t) => {
  const origin = 'https://app.example';
  const preflight = await fetch(`${stack.fhirBase}/Patient/${alice}`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' } });
  t.ok(preflight.status < 300, `preflight ${preflight.status}`);
  t.equal(preflight.headers.get('access-control-allow-origin'), origin);
  t.match(preflight.headers.get('access-control-allow-headers') ?? '', /authorization/i);
  const read = await fetch(`${stack.fhirBase}/Patient/${alice}`, { headers: { origin, authorization: `Bearer ${aliceAll}` } });
  t.equal(read.status, 200);
  t.equal(read.headers.get('access-control-allow-origin'), origin);
});

t.test('limited consent (L1): a type the user unticked is 403 at the FHIR API, the kept one is readable', async (t) => {
  const limited = await patientToken('launch/patient patient/MedicationRequest.rs patient/Observation.rs', 'alice', ({ checked }) => checked.filter((s) => !s.startsWith('patient/Observation')));
  t.equal((await get(limited, `MedicationRequest?patient=${alice}`)).status, 200);
  const refused = await get(limited, `Observation?patient=${alice}`);
  t.equal(refused.status, 403);
  t.equal(refused.body.resourceType, 'OperationOutcome');
});

t.test('category-constrained Observation scope returns only that category (S2)', async (t) => {
  const vitals = await patientToken('launch/patient patient/Observation.rs', 'alice', ({ categories }) => ['launch/patient', ...categories.filter((c) => c.endsWith('|vital-signs'))]);
  const categoriesOf = (r: Record<string, unknown>) => ((r.category as { coding?: { code?: string }[] }[] | undefined) ?? []).flatMap((c) => (c.coding ?? []).map((x) => x.code));
  const everything = await get(aliceAll, 'Observation?_count=100');
  const other = (everything.body.entry ?? []).find((e) => !categoriesOf(e.resource).includes('vital-signs'));
  t.ok(other, 'alice has observations of other categories');
  t.ok((everything.body.entry ?? []).some((e) => categoriesOf(e.resource).includes('vital-signs')), 'and vital signs');

  const res = await get(vitals, 'Observation?_count=100');
  t.equal(res.status, 200);
  t.ok((res.body.entry ?? []).length > 0, 'the vital-signs token still sees vital signs');
  t.ok((res.body.entry ?? []).every((e) => categoriesOf(e.resource).includes('vital-signs')), 'and only vital signs');
  const countOf = async (token: string) => ((await get(token, 'Observation?_summary=count')).body as unknown as { total?: number }).total;
  const fullCount = await countOf(aliceAll);
  t.ok(typeof fullCount === 'number' && fullCount > (res.body.entry ?? []).length, 'the whole-type count is larger');
  const counted = await countOf(vitals);
  t.not(counted, fullCount, 'a count cannot reveal the hidden categories');
  t.ok(counted === undefined || counted <= (res.body.entry ?? []).length, 'it is absent or at most what is visible');
  const read = await get(vitals, `Observation/${other!.resource.id as string}`);
  t.equal(read.status, 403, 'reading an observation of another category is refused');
});

t.test('scope constraints hold on every path to the FHIR routes: percent-encoded base, compartment searches, counts, paging, conditional reads', async (t) => {
  const vitals = await patientToken('launch/patient patient/Observation.rs', 'alice', ({ categories }) => ['launch/patient', ...categories.filter((c) => c.endsWith('|vital-signs'))]);
  const categoriesOf = (r: Record<string, unknown>) => ((r.category as { coding?: { code?: string }[] }[] | undefined) ?? []).flatMap((c) => (c.coding ?? []).map((x) => x.code));
  const raw = async (token: string, path: string, headers: Record<string, string> = {}) => {
    const res = await fetch(`${stack.origin}${path}`, { headers: { authorization: `Bearer ${token}`, ...headers } });
    return { status: res.status, etag: res.headers.get('etag'), body: (await res.json().catch(() => undefined)) as { resourceType?: string; total?: number; entry?: { resource: Record<string, unknown> }[]; link?: { relation: string }[] } | undefined };
  };
  const everything = (await get(aliceAll, 'Observation?_count=100')).body.entry ?? [];
  const vitalCount = everything.filter((e) => categoriesOf(e.resource).includes('vital-signs')).length;
  const hidden = everything.find((e) => !categoriesOf(e.resource).includes('vital-signs'))!.resource;
  t.ok(vitalCount > 0 && vitalCount < everything.length, 'alice has vital signs and other observations');

  const encoded = await raw(vitals, '/%66hir/Observation?_count=100');
  t.equal(encoded.status, 200, 'a percent-encoded base reaches the search');
  t.equal(encoded.body?.entry?.length, vitalCount, 'and returns the vital signs');
  t.ok(encoded.body?.entry?.every((e) => categoriesOf(e.resource).includes('vital-signs')), 'only them');
  t.equal((await raw(vitals, `/%66hir/Observation/${hidden.id as string}`)).status, 403, 'a percent-encoded read of a hidden observation is refused');
  t.equal((await raw(vitals, `/%66hir/Patient/${alice}/Observation?_summary=count`)).body?.total, vitalCount, 'a percent-encoded compartment count counts the vital signs only');

  const compartment = await get(vitals, `Patient/${alice}/Observation?_count=100`);
  t.equal(compartment.status, 200);
  t.equal(compartment.body.entry?.length, vitalCount, 'a compartment search returns the vital signs');
  t.ok(compartment.body.entry?.every((e) => categoriesOf(e.resource).includes('vital-signs')), 'and nothing else');
  t.equal((await get(vitals, `Patient/${alice}/Observation?_summary=count`)).body.total, vitalCount, 'a compartment count is the visible count');
  t.equal((await get(vitals, 'Observation?_summary=count')).body.total, vitalCount, 'so is a type-level count (the search itself is narrowed)');

  const hiddenCategory = categoriesOf(hidden)[0]!;
  const empty = await raw(vitals, `/fhir/Observation?category=${hiddenCategory}&_count=1`);
  t.equal(empty.body?.entry, undefined, 'a search for a hidden category finds nothing');
  t.notOk(empty.body?.link?.some((l) => l.relation === 'next'), 'and no next link hints at hidden records');
  t.equal(empty.body?.total, 0);

  const paged = await raw(vitals, '/fhir/Observation?_count=2');
  t.equal(paged.body?.entry?.length, 2, 'pages are full pages of visible records');
  const slim = await raw(vitals, '/fhir/Observation?_elements=id,status&_count=100');
  t.equal(slim.body?.entry?.length, vitalCount, '_elements does not hide the visible records');

  const etag = (await raw(aliceAll, `/fhir/Observation/${hidden.id as string}`)).etag!;
  t.equal((await raw(vitals, `/fhir/Observation/${hidden.id as string}`, { 'if-none-match': etag })).status, 403, 'a conditional read with the right ETag does not answer 304 for a hidden resource');
});

t.test('an EHR launch names only an encounter of the launch patient that the user may see; the app reads it (R3) and the launch works once', async (t) => {
  const firstEncounter = async (token: string) => (await get(token, 'Encounter?_count=1')).body.entry![0]!.resource.id as string;
  const aliceEncounter = await firstEncounter(aliceAll);
  const bobEncounter = await firstEncounter(await patientToken('launch/patient patient/*.rs', 'bob'));
  const browser = new Browser(stack.origin);
  await browser.signIn(demoWallet('clinician'), '/auth/clients');
  const launchWith = (encounter: string) => browser.request(`/auth/ehr-launch?client_id=medrec-demo-patient-app&patient=${alice}&encounter=${encounter}`);
  t.equal((await launchWith(bobEncounter)).status, 400, 'an encounter of another patient, even one the clinician may see, is refused');
  t.equal((await launchWith('hospital.no-such-encounter')).status, 400, 'a made-up encounter is refused');
  const launched = await launchWith(aliceEncounter);
  t.equal(launched.status, 302);
  const launch = new URL(launched.headers.get('location')!).searchParams.get('launch')!;

  const verifier = randomBytes(48).toString('base64url');
  const params = {
    response_type: 'code', client_id: 'medrec-demo-patient-app', redirect_uri: 'http://127.0.0.1:43210/callback', state: 's', aud: stack.fhirBase,
    scope: 'launch openid fhirUser user/*.rs', launch, code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256',
  };
  const { redirect } = await authorizeAs(browser, `${stack.origin}/auth/authorize?${new URLSearchParams(params)}`, demoWallet('clinician'));
  const token = (await (await fetch(`${stack.origin}/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code: redirect.searchParams.get('code')!, redirect_uri: params.redirect_uri, client_id: params.client_id, code_verifier: verifier }).toString(),
  })).json()) as { access_token: string; patient: string; encounter: string };
  t.equal(token.patient, alice);
  t.equal(token.encounter, aliceEncounter);
  const read = await get(token.access_token, `Encounter/${token.encounter}`);
  t.equal(read.status, 200, 'the launched app reads the encounter in context');
  t.equal((read.body as unknown as { subject?: { reference?: string } }).subject?.reference, `Patient/${alice}`);
  t.equal((await get(token.access_token, `Encounter/${bobEncounter}`)).status, 200, 'bob’s encounter was refused for being his, not for being hidden');
  const introspected = (await (await fetch(`${stack.origin}/auth/introspect`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Bearer ${token.access_token}` },
    body: new URLSearchParams({ token: token.access_token }).toString(),
  })).json()) as Record<string, unknown>;
  t.equal(introspected.active, true);
  t.equal(introspected.encounter, aliceEncounter, 'introspection repeats the encounter in context (I1)');
  t.equal(introspected.patient, alice);
  t.equal(introspected.need_patient_banner, false);

  const again = await fetch(`${stack.origin}/auth/authorize?${new URLSearchParams(params)}`, { redirect: 'manual' });
  t.equal(new URL(again.headers.get('location')!).searchParams.get('error'), 'invalid_request', 'a launch id starts one authorization only');
});

t.test('the pharmacy backend (jose only, ES384) reads granted MedicationRequests across providers, nothing else', async (t) => {
  const key = (await importJWK(DEMO_PHARMACY_PRIVATE_JWK, 'ES384')) as CryptoKey;
  const assertion = await new SignJWT({ jti: randomUUID() })
    .setProtectedHeader({ alg: 'ES384', kid: DEMO_PHARMACY_PRIVATE_JWK.kid!, typ: 'JWT' })
    .setIssuer('medrec-demo-pharmacy-backend')
    .setSubject('medrec-demo-pharmacy-backend')
    .setAudience(`${stack.origin}/auth/token`)
    .setExpirationTime('5m')
    .sign(key);
  const res = await fetch(`${stack.origin}/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'system/MedicationRequest.rs system/Patient.r', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion }).toString(),
  });
  const { access_token: token } = (await res.json()) as { access_token: string };
  const meds = await get(token, `MedicationRequest?patient=${alice}`);
  t.equal(meds.status, 200);
  const sources = new Set((meds.body.entry ?? []).map((e) => (e.resource.meta as { source?: string } | undefined)?.source));
  t.ok((meds.body.entry ?? []).length > 0);
  t.ok(sources.size >= 2, `records from ${sources.size} providers`);
  const all = await get(token, 'MedicationRequest');
  t.equal(all.status, 200);
  const seen = patientsIn(all.body.entry);
  t.ok(seen.has(alice) && seen.has(bob), 'alice and bob granted the pharmacy');
  t.notOk(seen.has(demoAddress('carol')), 'carol did not');
  t.ok([403, 404].includes((await get(token, `MedicationRequest?patient=${demoAddress('carol')}`)).status), 'a named ungranted patient is refused');
  t.equal((await get(token, `Observation?patient=${alice}`)).status, 403, 'no scope for observations');
  t.ok([403, 404].includes((await get(token, `Patient/${alice}`)).status), 'the chain grants medications only, whatever the scope says');
});

t.test('the same with RS384: a pharmacy system signing with an RSA key reads the granted MedicationRequests across providers', async (t) => {
  const assertion = await new SignJWT({ jti: randomUUID() })
    .setProtectedHeader({ alg: 'RS384', kid: 'rs-1', typ: 'JWT' })
    .setIssuer('pharmacy-rs384')
    .setSubject('pharmacy-rs384')
    .setAudience(`${stack.origin}/auth/token`)
    .setExpirationTime('5m')
    .sign(rsa.privateKey);
  const res = await fetch(`${stack.origin}/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'system/MedicationRequest.rs', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion }).toString(),
  });
  t.equal(res.status, 200);
  const { access_token: token } = (await res.json()) as { access_token: string };
  const meds = await get(token, `MedicationRequest?patient=${bob}`);
  t.equal(meds.status, 200);
  t.ok((meds.body.entry ?? []).length > 0, 'bob granted the pharmacy his prescriptions');
  t.same([...patientsIn(meds.body.entry)], [bob]);
  const sources = new Set((meds.body.entry ?? []).map((e) => (e.resource.meta as { source?: string } | undefined)?.source));
  t.ok(sources.size >= 2, `records from ${sources.size} providers`);
  t.ok([403, 404].includes((await get(token, `MedicationRequest?patient=${demoAddress('carol')}`)).status));
});
