import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { demoAddress, demoWallet } from '../../server/embedded/demo-identities.ts';
import { describeDemoParticipant, demoClients, demoSigners } from '../../smart-on-fhir/demo-clients.ts';
import { authorizeAs, Browser, startSmartServer } from './support/smart-server.ts';
import { demoSnapshot } from './support/full-stack.ts';

const server = await startSmartServer({
  clients: demoClients(),
  permissionSnapshot: async (subject) => demoSnapshot(subject),
  describeParticipant: describeDemoParticipant,
  demoSigners: demoSigners(),
});
t.teardown(() => server.close());
const alice = demoAddress('alice');

const pkce = () => {
  const verifier = randomBytes(48).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
};
const authorizeUrl = (clientId: string, redirectUri: string, scope: string, challenge: string) =>
  `${server.origin}/auth/authorize?${new URLSearchParams({ response_type: 'code', client_id: clientId, redirect_uri: redirectUri, state: 'st', aud: server.fhirBase, scope, code_challenge: challenge, code_challenge_method: 'S256' })}`;

t.test('RFC 7591: a public app registers itself and can then authorize; confidential self-registration is refused', async (t) => {
  const post = (body: unknown) => fetch(`${server.origin}/auth/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const res = await post({ client_name: 'My tracker', redirect_uris: ['https://tracker.example/cb'], scope: 'launch/patient patient/Observation.rs system/*.rs' });
  t.equal(res.status, 201);
  const reg = (await res.json()) as { client_id: string; token_endpoint_auth_method: string; scope: string };
  t.equal(reg.token_endpoint_auth_method, 'none');
  t.equal(reg.scope, 'launch/patient patient/Observation.rs', 'system scopes are never self-registered');
  const { challenge } = pkce();
  const out = await authorizeAs(new Browser(server.origin), authorizeUrl(reg.client_id, 'https://tracker.example/cb', 'launch/patient patient/*.rs patient/Observation.rs', challenge), demoWallet('alice'));
  t.ok(out.redirect.searchParams.get('code'));
  t.equal((await post({ redirect_uris: ['https://x.example/cb'], token_endpoint_auth_method: 'client_secret_basic' })).status, 400);
  t.equal((await post({ redirect_uris: ['http://x.example/cb'] })).status, 400, 'plain http only on loopback');
  t.equal((await post({ redirect_uris: ['https://x.example/cb#frag'] })).status, 400);
});

t.test('a self-registered app is forgotten after 90 days without use; each use renews it', async (t) => {
  const reg = (await (await fetch(`${server.origin}/auth/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ redirect_uris: ['https://ttl.example/cb'] }) })).json()) as { client_id: string };
  const key = `t${new URL(server.origin).port}:client:${reg.client_id}`;
  const ninetyDays = 90 * 86400;
  t.ok((await server.redis.ttl(key)) > ninetyDays - 60, 'registered for 90 days');
  await server.redis.expire(key, 100);
  const { challenge } = pkce();
  const res = await fetch(authorizeUrl(reg.client_id, 'https://ttl.example/cb', 'launch/patient patient/*.rs', challenge), { redirect: 'manual' });
  t.equal(res.status, 302, 'the app is used');
  t.ok((await server.redis.ttl(key)) > ninetyDays - 60, 'and has 90 days again');
});

t.test('/auth/clients lists every client with what it may ask for: configured, self-registered, and on chain', async (t) => {
  const reg = (await (await fetch(`${server.origin}/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ client_name: 'Step counter', redirect_uris: ['https://steps.example/cb'], scope: 'launch/patient patient/Observation.rs' }),
  })).json()) as { client_id: string };
  const page = await (await fetch(`${server.origin}/auth/clients`)).text();
  const row = (clientId: string) => page.split('<tr>').find((r) => r.includes(`<code>${clientId}</code>`)) ?? '';
  t.match(row(reg.client_id), /Step counter/, 'a self-registered app is listed');
  t.match(row(reg.client_id), /self-registered/);
  t.match(row(reg.client_id), /launch\/patient patient\/Observation\.rs/, 'with the scopes it registered for');
  t.match(row(reg.client_id), /https:\/\/steps\.example\/cb/);
  t.match(row('medrec-demo-pharmacy-backend'), /configured/);
  t.match(row('medrec-demo-pharmacy-backend'), /system\/MedicationRequest\.rs/, 'a configured backend client with its allowed scopes');
  t.match(row('medrec-demo-patient-app'), /any supported patient\/ or user\/ scope/, 'a configured app without a limit says so');
});

t.test('the patient picker lists the patients a proxy may act for, and only those can be chosen', async (t) => {
  const { challenge } = pkce();
  const browser = new Browser(server.origin);
  let res = await browser.request(authorizeUrl('medrec-demo-patient-app', 'http://localhost:8000/callback', 'launch/patient patient/*.rs', challenge));
  const interaction = res.headers.get('location')!;
  res = await browser.signIn(demoWallet('proxy'), interaction);
  res = await browser.request(res.headers.get('location')!);
  const html = await res.text();
  t.match(html, /Choose a patient/);
  t.match(html, new RegExp(alice));
  t.match(html, /Demo patient Alice/);
  t.notMatch(html, new RegExp(demoAddress('bob')));
  t.match(html, /<label for="p0">/, 'labelled radio buttons');
  const forbidden = await browser.request(`${interaction}/patient`, { form: { patient: demoAddress('bob') } });
  t.equal(forbidden.status, 403);
  const chosen = await browser.request(`${interaction}/patient`, { form: { patient: alice } });
  t.equal(chosen.status, 303);
  const consent = await (await browser.request(interaction)).text();
  t.match(consent, /for patient Demo patient Alice/);
  t.match(consent, /delegation/, 'the consent screen shows the on-chain basis');

  // Someone else who gets hold of the same sign-in request cannot consent for Alice.
  const bob = new Browser(server.origin);
  const signedIn = await bob.signIn(demoWallet('bob'), interaction);
  const page = await (await bob.request(signedIn.headers.get('location')!)).text();
  t.notMatch(page, /for patient Demo patient Alice/, 'Bob is not shown a consent for Alice');
  t.match(page, /Choose a patient/, 'Bob picks among his own patients');
  const answer = await bob.request(`${interaction}/consent`, { form: { decision: 'approve', scope: 'patient/*.rs' } });
  const back = new URL(answer.headers.get('location')!);
  t.equal(back.searchParams.get('code'), null, 'no code for a patient Bob may not act for');
  t.equal(back.searchParams.get('error'), 'invalid_request');
});

t.test('the consent screen shows what on-chain grants allow: the pharmacy medication grant, nothing for other types', async (t) => {
  const { challenge } = pkce();
  let consentHtml = '';
  await authorizeAs(new Browser(server.origin), authorizeUrl('medrec-demo-patient-app', 'http://localhost:8000/callback', 'launch/patient patient/MedicationRequest.rs patient/Observation.rs', challenge), demoWallet('pharmacy'), {
    chooseScopes: () => [],
    decision: 'deny',
  }).then((o) => (consentHtml = o.consentHtml ?? ''));
  t.match(consentHtml, /MedicationRequest.*from every provider \(grant\)/s, 'the pharmacy grant covers medications');
  t.match(consentHtml, /none: the app will see no records of this type/, 'and nothing else');
});

t.test('demo one-click sign-in signs a real SIWE message with the dev key', async (t) => {
  const browser = new Browser(server.origin);
  const page = await (await browser.request('/auth/login?next=/auth/clients')).text();
  t.match(page, /Sign in as Demo patient Alice/);
  const res = await browser.request('/auth/login/demo', { form: { handle: 'alice', next: '/auth/clients' } });
  t.equal(res.status, 303);
  t.match(res.headers.get('set-cookie'), /HttpOnly; SameSite=Lax/);
  t.equal((await browser.request('/auth/login/demo', { form: { handle: 'hospital', next: '/auth/clients' } })).status, 400, 'providers are not demo sign-in identities');
});

t.test('every client is listed with what it is allowed', async (t) => {
  const html = await (await fetch(`${server.origin}/auth/clients`)).text();
  for (const c of demoClients()) t.match(html, c.clientId);
  t.match(html, /system\/MedicationRequest\.rs/);
  t.match(html, new RegExp(demoAddress('pharmacy')));
});

t.test('an open redirect through next= is not possible', async (t) => {
  const res = await new Browser(server.origin).request('/auth/login/demo', { form: { handle: 'alice', next: 'https://evil.example/' } });
  t.equal(res.headers.get('location'), '/auth/manage');
});

// Last: it uses up this address's registrations for the hour.
t.test('registration is limited to 20 an hour from one address', async (t) => {
  const statuses: number[] = [];
  let limited: Response | undefined;
  for (let i = 0; i < 45 && !limited; i++) {
    const res = await fetch(`${server.origin}/auth/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ redirect_uris: [`https://many${i}.example/cb`] }) });
    statuses.push(res.status);
    if (res.status === 429) limited = res;
  }
  t.ok(limited, `refused after ${statuses.length - 1} registrations`);
  t.equal(limited?.headers.get('retry-after'), '3600');
  t.equal(((await limited?.json()) as { error?: string } | undefined)?.error, 'temporarily_unavailable');
  t.ok(statuses.slice(0, -1).every((s) => s === 201), 'the ones before were accepted');
});
