/**
 * SMART apps against `npm start` itself (the real entry point as a child process: embedded chain
 * with the demo's on-chain grants, authorization, demo sources): the official fhirclient as alice
 * (standalone), as the clinician (confidential client, picking alice) whose on-chain grant covers
 * alice's hospital records only, and as the healthcare proxy who picks the patient they act for.
 */
import t from 'tap';
import { demoAddress, demoWallet } from '../../server/embedded/demo-identities.ts';
import { DEMO_CLINICIAN_SECRET } from '../../smart-on-fhir/demo-clients.ts';
import { startNpmStart } from '../support/npm-start.ts';
import { authorizeAs, Browser } from './support/smart-server.ts';
import { fhirclientApp } from './support/fhirclient-app.ts';

const { origin } = await startNpmStart(t, 'smart-e2e');
const fhirBase = `${origin}/fhir`;
const alice = demoAddress('alice');

type SearchSet = { resourceType: string; entry?: { resource: { resourceType: string; meta?: { source?: string } } }[] };
const sourcesOf = (b: SearchSet) => new Set((b.entry ?? []).filter((e) => e.resource.resourceType === 'MedicationRequest').map((e) => e.resource.meta?.source?.split('#')[1]));

t.test('alice with the demo patient app: standalone launch, her records from every provider, refresh, revocation', async (t) => {
  const app = fhirclientApp('127.0.0.1:8000');
  const authUrl = await app.authorize('/launch', {
    iss: fhirBase,
    clientId: 'medrec-demo-patient-app',
    scope: 'launch/patient openid fhirUser offline_access patient/*.rs',
    redirectUri: 'http://127.0.0.1:8000/callback',
    pkceMode: 'required',
  });
  const { redirect } = await authorizeAs(new Browser(origin), authUrl, demoWallet('alice'));
  const client = await app.ready(redirect);
  t.equal(client.patient.id, alice);
  t.equal(((await client.patient.read()) as { id: string }).id, alice);
  const meds = (await client.patient.request('MedicationRequest')) as SearchSet;
  t.ok(sourcesOf(meds).size >= 2, `alice's prescriptions from ${[...sourcesOf(meds)].join(', ')}`);
  await client.refresh();
  t.equal(((await client.request(`Patient/${alice}`)) as { id: string }).id, alice);

  const token = client.state.tokenResponse!.access_token!;
  const revoke = await fetch(`${origin}/auth/revoke`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token, client_id: 'medrec-demo-patient-app' }) });
  t.equal(revoke.status, 200);
  t.equal((await fetch(`${fhirBase}/Patient/${alice}`, { headers: { authorization: `Bearer ${token}` } })).status, 401, 'revoked at once');
});

t.test('the clinician with the confidential clinician app picks alice: her hospital records only, as her grant says', async (t) => {
  const app = fhirclientApp('127.0.0.1:8001');
  const authUrl = await app.authorize('/launch', {
    iss: fhirBase,
    clientId: 'medrec-demo-clinician-app',
    clientSecret: DEMO_CLINICIAN_SECRET,
    scope: 'launch/patient openid fhirUser user/*.rs',
    redirectUri: 'http://localhost:8001/callback',
  });
  const { redirect } = await authorizeAs(new Browser(origin), authUrl, demoWallet('clinician'), { patient: alice });
  const client = await app.ready(redirect);
  t.equal(client.patient.id, alice);
  t.equal(client.user.fhirUser, `Practitioner/directory.${demoAddress('clinician')}`, 'the chain says this is a clinician');
  t.equal(((await client.user.read()) as { resourceType: string }).resourceType, 'Practitioner', 'and the participant directory serves the record');
  const meds = (await client.request(`MedicationRequest?patient=${alice}`)) as SearchSet;
  t.same([...sourcesOf(meds)], ['hospital'], 'the grant names the hospital only');
  await t.rejects(client.request(`Patient/${demoAddress('bob')}`), 'no grant from bob');
});

t.test('the healthcare proxy picks dave, who delegated to them on chain, and reads his records', async (t) => {
  const app = fhirclientApp('127.0.0.1:8000');
  const authUrl = await app.authorize('/launch', {
    iss: fhirBase,
    clientId: 'medrec-demo-patient-app',
    scope: 'launch/patient patient/*.rs',
    redirectUri: 'http://127.0.0.1:8000/callback',
  });
  const { redirect } = await authorizeAs(new Browser(origin), authUrl, demoWallet('proxy'));
  const client = await app.ready(redirect);
  t.equal(client.patient.id, demoAddress('dave'));
  t.equal(((await client.patient.read()) as { id: string }).id, demoAddress('dave'));
});
