/**
 * The official `fhirclient` library, unchanged, driven headlessly in Node the way its own tests
 * do (support/fhirclient-app.ts), against the whole server.
 */
import t from 'tap';
import { exportJWK, generateKeyPair } from 'jose';
import { demoAddress, demoWallet } from '../../server/embedded/demo-identities.ts';
import { authorizeAs, Browser } from './support/smart-server.ts';
import { fhirclientApp } from './support/fhirclient-app.ts';
import { startFullStack } from './support/full-stack.ts';

const APP = { clientId: 'fhirclient-app', name: 'fhirclient test app', type: 'public' as const, redirectUris: ['http://app.test/callback'], launchUrl: 'http://app.test/launch' };
const keys = await generateKeyPair('RS384', { extractable: true });
const privateJwk = { ...(await exportJWK(keys.privateKey)), alg: 'RS384', kid: 'app-rs384' };
const publicJwk = { ...(await exportJWK(keys.publicKey)), alg: 'RS384', kid: 'app-rs384' };
const ASYMMETRIC = { clientId: 'fhirclient-asymmetric', name: 'fhirclient confidential app', type: 'confidential-asymmetric' as const, redirectUris: ['http://app.test/callback'], jwks: { keys: [publicJwk] } };
const stack = await startFullStack([APP, ASYMMETRIC]);
t.teardown(() => stack.close());

const aliceId = demoAddress('alice');

t.test('standalone launch with PKCE: reads the patient, searches MedicationRequest, refreshes with offline_access', async (t) => {
  const app = fhirclientApp();
  const authUrl = await app.authorize('/launch', {
    iss: stack.fhirBase,
    clientId: APP.clientId,
    scope: 'launch/patient openid fhirUser offline_access patient/*.rs',
    redirectUri: 'http://app.test/callback',
    pkceMode: 'required',
  });
  const asked = new URL(authUrl);
  t.equal(asked.searchParams.get('code_challenge_method'), 'S256', 'fhirclient found S256 in discovery and used PKCE');
  t.equal(asked.searchParams.get('aud'), stack.fhirBase);

  const { redirect } = await authorizeAs(new Browser(stack.origin), authUrl, demoWallet('alice'));
  const client = await app.ready(redirect);
  t.equal(client.patient.id, aliceId);
  t.equal(client.user.fhirUser, `Patient/${aliceId}`);
  t.equal(client.user.resourceType, 'Patient');

  const patient = (await client.request(`Patient/${client.patient.id}`)) as { resourceType: string; id: string };
  t.equal(patient.resourceType, 'Patient');
  t.equal(patient.id, aliceId);
  const meds = (await client.patient.request('MedicationRequest')) as { resourceType: string; entry?: { resource: { resourceType: string; subject?: { reference?: string } } }[] };
  t.equal(meds.resourceType, 'Bundle');
  t.ok((meds.entry ?? []).length > 0, 'alice has medication requests across providers');
  for (const e of meds.entry ?? []) if (e.resource.resourceType === 'MedicationRequest') t.equal(e.resource.subject?.reference, `Patient/${aliceId}`);

  const before = client.state.tokenResponse!.access_token;
  await client.refresh();
  t.not(client.state.tokenResponse!.access_token, before, 'a new access token');
  t.equal(client.patient.id, aliceId, 'context survives the refresh');
  const again = (await client.request(`Patient/${aliceId}`)) as { id: string };
  t.equal(again.id, aliceId, 'the refreshed token reads');
});

t.test('EHR launch: the EHR user starts the app with a patient; fhirclient completes it', async (t) => {
  const browser = new Browser(stack.origin);
  await browser.signIn(demoWallet('clinician'), '/auth/clients');
  const launched = await browser.request(`/auth/ehr-launch?client_id=${APP.clientId}&patient=${aliceId}`);
  t.equal(launched.status, 302);
  const launchUrl = new URL(launched.headers.get('location')!);
  t.equal(launchUrl.searchParams.get('iss'), stack.fhirBase);

  const app = fhirclientApp();
  const authUrl = await app.authorize(launchUrl.pathname + launchUrl.search, {
    clientId: APP.clientId,
    scope: 'launch openid fhirUser user/*.rs',
    redirectUri: 'http://app.test/callback',
  });
  t.ok(new URL(authUrl).searchParams.get('launch'), 'fhirclient passed the launch id on');

  const { redirect } = await authorizeAs(browser, authUrl, demoWallet('clinician'));
  const client = await app.ready(redirect);
  t.equal(client.patient.id, aliceId);
  t.equal(((await client.patient.read()) as { id: string }).id, aliceId, 'the app reads the patient in context');
  t.equal(client.user.fhirUser, `Practitioner/directory.${demoAddress('clinician')}`);
  const user = (await client.user.read()) as { resourceType: string; name?: { text?: string }[] };
  t.equal(user.resourceType, 'Practitioner', 'the clinician’s fhirUser record exists (Inferno O6)');
  t.equal(user.name?.[0]?.text, 'Dr. Demo Clinician', 'with the display name from the directory');
  t.equal(client.state.tokenResponse!.need_patient_banner, false);
  const meds = (await client.request(`MedicationRequest?patient=${aliceId}`)) as { resourceType: string; entry?: unknown[] };
  t.equal(meds.resourceType, 'Bundle');
  t.ok((meds.entry ?? []).length > 0, 'the clinician sees alice’s medications through the on-chain grant');
  await t.rejects(client.request(`Patient/${demoAddress('bob')}`), 'but not a patient without a grant');
});

/** A standalone launch asking fhirUser and MedicationRequest only, signed in as `who`. */
async function narrowStandaloneLaunch(who: Parameters<typeof demoWallet>[0]) {
  const app = fhirclientApp();
  const authUrl = await app.authorize('/launch', {
    iss: stack.fhirBase,
    clientId: APP.clientId,
    scope: 'launch/patient openid fhirUser patient/MedicationRequest.rs',
    redirectUri: 'http://app.test/callback',
  });
  const { redirect } = await authorizeAs(new Browser(stack.origin), authUrl, demoWallet(who));
  return app.ready(redirect);
}

t.test('a patient’s own fhirUser is readable with fhirUser granted, even when the resource scopes leave Patient out (Inferno O6)', async (t) => {
  const client = await narrowStandaloneLaunch('alice');
  t.equal(client.user.fhirUser, `Patient/${aliceId}`);
  t.equal(((await client.user.read()) as { id: string }).id, aliceId, 'her own Patient record');
  await t.rejects(client.request(`Patient/${demoAddress('bob')}`), 'that is no key to other patients');
  await t.rejects(client.request(`Practitioner/directory.${demoAddress('clinician')}`), 'nor to other users’ records');
  await t.rejects(client.request('Observation'), 'nor to types outside the scopes');
});

t.test('a healthcare proxy’s fhirUser is a Person from the participant directory, readable with the proxy’s token', async (t) => {
  const client = await narrowStandaloneLaunch('proxy');
  t.equal(client.user.fhirUser, `Person/directory.${demoAddress('proxy')}`);
  const person = (await client.user.read()) as { resourceType: string; id: string; name?: { text?: string }[]; link?: unknown };
  t.equal(person.resourceType, 'Person');
  t.equal(person.id, `directory.${demoAddress('proxy')}`);
  t.equal(person.name?.[0]?.text, 'Healthcare proxy (demo)');
  t.equal(person.link, undefined, 'the record names no patient the proxy acts for');
});

t.test('client-confidential-asymmetric: fhirclient signs an RS384 assertion, and refreshes without one', async (t) => {
  const app = fhirclientApp();
  const authUrl = await app.authorize('/launch', {
    iss: stack.fhirBase,
    clientId: ASYMMETRIC.clientId,
    clientPrivateJwk: privateJwk as never,
    scope: 'launch/patient offline_access patient/*.rs',
    redirectUri: 'http://app.test/callback',
  });
  const { redirect } = await authorizeAs(new Browser(stack.origin), authUrl, demoWallet('bob'));
  const client = await app.ready(redirect);
  t.equal(client.patient.id, demoAddress('bob'));
  await client.refresh();
  t.equal(((await client.request(`Patient/${demoAddress('bob')}`)) as { id: string }).id, demoAddress('bob'));
});

t.test('CORS for browser apps: discovery, token endpoint and FHIR reads echo the Origin (Inferno C1-C3)', async (t) => {
  const origin = 'https://app.example';
  const wellKnown = await fetch(`${stack.fhirBase}/.well-known/smart-configuration`, { headers: { origin } });
  t.equal(wellKnown.headers.get('access-control-allow-origin'), origin);
  const preflight = await fetch(`${stack.origin}/auth/token`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } });
  t.ok(preflight.status < 300, `preflight ${preflight.status}`);
  t.equal(preflight.headers.get('access-control-allow-origin'), origin);
  const token = await fetch(`${stack.origin}/auth/token`, { method: 'POST', headers: { origin, 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=refresh_token&refresh_token=x' });
  t.equal(token.status, 400);
  t.equal(token.headers.get('access-control-allow-origin'), origin, 'even errors are readable by the app');
  const fhir = await fetch(`${stack.fhirBase}/metadata`, { headers: { origin } });
  t.equal(fhir.headers.get('access-control-allow-origin'), origin);
});
