import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, createRemoteJWKSet, jwtVerify } from 'jose';
import { demoAddress, demoWallet } from '../../server/embedded/demo-identities.ts';
import { DEMO_CLINICIAN_SECRET } from '../../smart-on-fhir/demo-clients.ts';
import { authorizeAs, Browser, startSmartServer } from './support/smart-server.ts';

const server = await startSmartServer({
  clients: [
    { clientId: 'app', name: 'Test app', type: 'public', redirectUris: ['http://app.test/callback'] },
    { clientId: 'legacy', name: 'Legacy v1 app', type: 'public', redirectUris: ['http://legacy.test/cb'], pkceOptional: true },
    { clientId: 'conf', name: 'Confidential app', type: 'confidential-symmetric', secret: DEMO_CLINICIAN_SECRET, redirectUris: ['http://conf.test/cb'] },
    { clientId: 'meds-only', name: 'Meds app', type: 'public', redirectUris: ['http://meds.test/cb'], allowedScope: 'launch/patient openid fhirUser patient/MedicationRequest.rs' },
  ],
});
t.teardown(() => server.close());

const alice = demoWallet('alice');
const aliceId = demoAddress('alice');
const pkce = () => {
  const verifier = randomBytes(48).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
};

function authorizeUrl(p: Record<string, string | undefined>): string {
  const url = new URL(`${server.origin}/auth/authorize`);
  const defaults = { response_type: 'code', client_id: 'app', redirect_uri: 'http://app.test/callback', state: 'st4te', aud: server.fhirBase, code_challenge_method: 'S256' };
  for (const [k, v] of Object.entries({ ...defaults, ...p })) if (v !== undefined) url.searchParams.set(k, v);
  return url.toString();
}

async function token(form: Record<string, string>, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const res = await fetch(`${server.origin}/auth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(form).toString() });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers };
}

async function codeFor(scope: string, extra: Record<string, string> = {}, chooseScopes?: (offered: { checked: string[]; categories: string[] }) => string[]) {
  const { verifier, challenge } = pkce();
  const browser = new Browser(server.origin);
  const out = await authorizeAs(browser, authorizeUrl({ scope, code_challenge: challenge, ...extra }), alice, chooseScopes ? { chooseScopes } : {});
  return { code: out.redirect.searchParams.get('code')!, redirect: out.redirect, verifier, consentHtml: out.consentHtml, browser };
}

t.test('standalone patient launch: SIWE sign-in, consent, code, token with patient, id_token, refresh (A1-A5, R2, O1-O6)', async (t) => {
  const scope = 'launch/patient openid fhirUser offline_access patient/Patient.rs patient/MedicationRequest.rs patient/Observation.read unknown/thing';
  const { code, redirect, verifier, consentHtml } = await codeFor(scope, { nonce: 'n-123' });
  t.equal(redirect.origin + redirect.pathname, 'http://app.test/callback');
  t.equal(redirect.searchParams.get('state'), 'st4te');
  t.match(code, /^[A-Za-z0-9_-]{40,}$/, 'URL-safe code');
  t.match(consentHtml, /On-chain grants/);
  t.match(consentHtml, /laboratory/, 'category sub-scopes offered for Observation');

  const res = await token({ grant_type: 'authorization_code', code, redirect_uri: 'http://app.test/callback', client_id: 'app', code_verifier: verifier });
  t.equal(res.status, 200);
  t.match(res.headers.get('cache-control'), /no-store/);
  t.match(res.headers.get('pragma'), /no-cache/);
  const body = res.body;
  t.equal(body.token_type, 'Bearer');
  t.type(body.expires_in, 'number');
  t.ok((body.expires_in as number) <= 3600);
  t.equal(body.patient, aliceId, 'patient is the plain address');
  t.equal(body.scope, 'launch/patient openid fhirUser offline_access patient/Patient.rs patient/MedicationRequest.rs patient/Observation.read', 'v1 answered as v1; unknown dropped');
  t.type(body.refresh_token, 'string');
  t.equal(body.need_patient_banner, true);
  t.equal(body.smart_style_url, `${server.origin}/auth/smart-style.json`);

  const access = decodeJwt(body.access_token as string);
  t.equal(access.aud, server.fhirBase);
  t.equal(access.sub, aliceId);
  t.equal(access.client_id, 'app');
  t.ok(access.jti);

  const idHeader = decodeProtectedHeader(body.id_token as string);
  t.equal(idHeader.alg, 'RS256');
  const jwks = createRemoteJWKSet(new URL(`${server.origin}/auth/jwks`));
  const { payload } = await jwtVerify(body.id_token as string, jwks, { issuer: server.origin, audience: 'app' });
  t.equal(payload.sub, aliceId);
  t.equal(payload.fhirUser, `${server.fhirBase}/Patient/${aliceId}`);
  t.equal(payload.nonce, 'n-123');

  const probe = await fetch(`${server.fhirBase}/Probe/1`, { headers: { authorization: `Bearer ${body.access_token as string}` } });
  const ctx = ((await probe.json()) as { context: { subject: string; patient: string; clientId: string; scopes: { resourceType: string; interactions: string }[] } }).context;
  t.equal(ctx.subject, aliceId);
  t.equal(ctx.patient, aliceId);
  t.same(ctx.scopes.map((s) => `${s.resourceType}.${s.interactions}`), ['Patient.rs', 'MedicationRequest.rs', 'Observation.rs']);

  t.test('refresh without scope keeps the grant, rotates the refresh token (F1)', async (t) => {
    const r1 = await token({ grant_type: 'refresh_token', refresh_token: body.refresh_token as string });
    t.equal(r1.status, 200);
    t.equal(r1.body.scope, body.scope);
    t.equal(r1.body.patient, aliceId);
    t.type(r1.body.expires_in, 'number');
    t.not(r1.body.refresh_token, body.refresh_token);

    t.match(r1.headers.get('cache-control'), /no-store/, 'refresh responses are not cached (A4)');
    t.match(r1.headers.get('pragma'), /no-cache/);

    const narrowed = await token({ grant_type: 'refresh_token', refresh_token: r1.body.refresh_token as string, scope: 'offline_access patient/Patient.rs made-up/scope' });
    t.equal(narrowed.status, 200, 'an unknown scope in a refresh is dropped, not fatal');
    t.equal(narrowed.body.scope, 'offline_access patient/Patient.rs');
    const widened = await token({ grant_type: 'refresh_token', refresh_token: narrowed.body.refresh_token as string, scope: 'offline_access patient/Patient.rs patient/Observation.rs' });
    t.equal(widened.status, 400, 'refresh may not widen scope');
    t.equal(widened.body.error, 'invalid_scope');
    const nothingKnown = await token({ grant_type: 'refresh_token', refresh_token: narrowed.body.refresh_token as string, scope: 'made-up/scope' });
    t.equal(nothingKnown.body.error, 'invalid_scope', 'a refresh asking only unknown scopes gets nothing');
    const other = await token({ grant_type: 'refresh_token', refresh_token: narrowed.body.refresh_token as string, client_id: 'legacy' });
    t.equal(other.status, 400, 'refresh token bound to its client');
    const bogus = await token({ grant_type: 'refresh_token', refresh_token: 'not-a-token' });
    t.equal(bogus.status, 400, 'invalid refresh token (F2)');

    // Reuse detection: the first refresh token, rotated out long ago, comes back.
    const latest = narrowed.body.refresh_token as string;
    const reused = await token({ grant_type: 'refresh_token', refresh_token: body.refresh_token as string });
    t.equal(reused.status, 400, 'a used refresh token is refused');
    t.equal(reused.body.error, 'invalid_grant');
    t.equal((await token({ grant_type: 'refresh_token', refresh_token: latest })).status, 400, 'and the whole grant is revoked: a copied token is in play');
    const probe = await fetch(`${server.fhirBase}/Probe/1`, { headers: { authorization: `Bearer ${narrowed.body.access_token as string}` } });
    t.equal(probe.status, 401, 'its access tokens too');
  });
});

t.test('a refresh that narrows offline_access away gets no new refresh token, and the chain ends', async (t) => {
  const { code, verifier } = await codeFor('launch/patient offline_access patient/*.rs');
  const first = await token({ grant_type: 'authorization_code', code, redirect_uri: 'http://app.test/callback', client_id: 'app', code_verifier: verifier });
  t.type(first.body.refresh_token, 'string');
  const last = await token({ grant_type: 'refresh_token', refresh_token: first.body.refresh_token as string, scope: 'launch/patient patient/*.rs' });
  t.equal(last.status, 200);
  t.equal(last.body.scope, 'launch/patient patient/*.rs');
  t.equal(last.body.refresh_token, undefined, 'no refresh token without offline_access or online_access');
  t.type(last.body.access_token, 'string');
  const again = await token({ grant_type: 'refresh_token', refresh_token: first.body.refresh_token as string });
  t.equal(again.status, 400, 'the spent refresh token does not come back to life');
});

t.test('authorize POST works like GET (authorize-post, A1): the app gets its code and state back', async (t) => {
  const { verifier, challenge } = pkce();
  const browser = new Browser(server.origin);
  const res = await browser.request('/auth/authorize', {
    form: { response_type: 'code', client_id: 'app', redirect_uri: 'http://app.test/callback', state: 'posted-state', aud: server.fhirBase, scope: 'launch/patient patient/Patient.rs', code_challenge: challenge, code_challenge_method: 'S256' },
  });
  t.equal(res.status, 302);
  t.match(res.headers.get('location'), /^\/auth\/interaction\//);
  const { redirect } = await authorizeAs(browser, `${server.origin}${res.headers.get('location')!}`, alice);
  t.equal(redirect.origin + redirect.pathname, 'http://app.test/callback');
  t.equal(redirect.searchParams.get('state'), 'posted-state');
  const code = redirect.searchParams.get('code');
  t.ok(code);
  const exchanged = await token({ grant_type: 'authorization_code', code: code!, redirect_uri: 'http://app.test/callback', client_id: 'app', code_verifier: verifier });
  t.equal(exchanged.status, 200, 'and the code works');
});

t.test('unknown client or unregistered redirect URI is an error page, never a redirect', async (t) => {
  for (const p of [{ client_id: 'nobody' }, { redirect_uri: 'http://evil.test/cb' }, { redirect_uri: undefined }]) {
    const res = await fetch(authorizeUrl({ scope: 'patient/*.rs', code_challenge: pkce().challenge, ...p }), { redirect: 'manual' });
    t.equal(res.status, 400);
    t.notOk(res.headers.get('location'));
    t.match(res.headers.get('content-type'), /text\/html/);
  }
});

t.test('bad requests go back to the app with error and state, and no code', async (t) => {
  const cases: [Record<string, string | undefined>, string][] = [
    [{ aud: 'http://other.example/fhir' }, 'invalid_request'], // N1 invalid aud
    [{ code_challenge: undefined }, 'invalid_request'], // PKCE required
    [{ code_challenge_method: 'plain' }, 'invalid_request'],
    [{ response_type: 'token' }, 'unsupported_response_type'],
    [{ launch: 'no-such-launch' }, 'invalid_request'],
    [{ scope: 'system/*.rs' }, 'invalid_scope'],
    [{ prompt: 'none' }, 'interaction_required'],
  ];
  for (const [p, error] of cases) {
    const res = await fetch(authorizeUrl({ scope: 'patient/*.rs', code_challenge: pkce().challenge, ...p }), { redirect: 'manual' });
    t.equal(res.status, 302, JSON.stringify(p));
    const loc = new URL(res.headers.get('location')!);
    t.equal(loc.searchParams.get('error'), error, JSON.stringify(p));
    t.equal(loc.searchParams.get('state'), 'st4te');
    t.notOk(loc.searchParams.get('code'));
  }
  const trailing = await fetch(authorizeUrl({ scope: 'patient/*.rs', code_challenge: pkce().challenge, aud: `${server.fhirBase}/` }), { redirect: 'manual' });
  t.match(trailing.headers.get('location'), /^\/auth\/interaction\//, 'aud with a trailing slash is the same base');
});

t.test('token endpoint negatives: invalid code (N2), client (N3), PKCE (N4), reused code, redirect mismatch', async (t) => {
  const { code, verifier } = await codeFor('launch/patient patient/Patient.rs');
  const base = { grant_type: 'authorization_code', code, redirect_uri: 'http://app.test/callback', client_id: 'app', code_verifier: verifier };
  t.equal((await token({ ...base, code: 'bogus' })).status, 400, 'invalid code');
  t.equal((await token({ ...base, grant_type: 'password' })).body.error, 'unsupported_grant_type');
  const json = await fetch(`${server.origin}/auth/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(base) });
  t.equal(json.status, 400, 'token requests must be form-encoded');

  for (const [label, v] of [['missing', undefined], ['blank', ''], ['wrong', pkce().verifier]] as const) {
    const c = await codeFor('launch/patient patient/Patient.rs');
    const form: Record<string, string> = { ...base, code: c.code };
    if (v === undefined) delete form.code_verifier;
    else form.code_verifier = v;
    const res = await token(form);
    t.ok(res.status === 400 || res.status === 401, `${label} verifier refused`);
  }
  {
    const c = await codeFor('launch/patient patient/Patient.rs');
    const challenge = createHash('sha256').update(c.verifier).digest('base64url');
    t.equal((await token({ ...base, code: c.code, code_verifier: challenge })).status, 400, 'verifier equal to the challenge refused');
  }
  {
    const c = await codeFor('launch/patient patient/Patient.rs');
    t.equal((await token({ ...base, code: c.code, code_verifier: c.verifier, client_id: 'nobody' })).status, 401, 'unknown client_id (N3)');
  }
  {
    const c = await codeFor('launch/patient patient/Patient.rs');
    t.equal((await token({ ...base, code: c.code, code_verifier: c.verifier, redirect_uri: 'http://app.test/other' })).body.error, 'invalid_grant');
  }

  const first = await token(base);
  t.equal(first.status, 200);
  const again = await token(base);
  t.equal(again.status, 400, 'a reused code is refused');
  t.equal(again.body.error, 'invalid_grant');
  const probe = await fetch(`${server.fhirBase}/Probe/1`, { headers: { authorization: `Bearer ${first.body.access_token as string}` } });
  t.equal(probe.status, 401, 'and the tokens the code bought are revoked');
});

t.test('consent narrowing: the user can drop scopes and pick categories instead of a whole type (S2, S3, L1)', async (t) => {
  const { code, verifier } = await codeFor('launch/patient patient/Observation.rs patient/Condition.rs patient/MedicationRequest.rs', {}, ({ categories }) => [
    'launch/patient',
    'patient/Condition.rs',
    ...categories.filter((c) => c.endsWith('|laboratory') || c.endsWith('|vital-signs')),
  ]);
  const res = await token({ grant_type: 'authorization_code', code, redirect_uri: 'http://app.test/callback', client_id: 'app', code_verifier: verifier });
  t.equal(res.status, 200);
  t.equal(
    res.body.scope,
    'launch/patient patient/Condition.rs patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|vital-signs',
  );
  const probe = await fetch(`${server.fhirBase}/Probe/1`, { headers: { authorization: `Bearer ${res.body.access_token as string}` } });
  const scopes = ((await probe.json()) as { context: { scopes: { resourceType: string; constraints?: [string, string][] }[] } }).context.scopes;
  t.same(scopes[1]!.constraints, [['category', 'http://terminology.hl7.org/CodeSystem/observation-category|laboratory']]);
});

t.test('a forged consent cannot add scopes that were never asked', async (t) => {
  const { code, verifier } = await codeFor('launch/patient patient/Observation.rs', {}, () => ['launch/patient', 'patient/Observation.rs', 'patient/*.cruds', 'user/*.rs']);
  const res = await token({ grant_type: 'authorization_code', code, redirect_uri: 'http://app.test/callback', client_id: 'app', code_verifier: verifier });
  t.equal(res.body.scope, 'launch/patient patient/Observation.rs');
});

t.test('denied consent sends access_denied back to the app', async (t) => {
  const browser = new Browser(server.origin);
  const out = await authorizeAs(browser, authorizeUrl({ scope: 'patient/*.rs', code_challenge: pkce().challenge }), alice, { decision: 'deny' });
  t.equal(out.redirect.searchParams.get('error'), 'access_denied');
  t.equal(out.redirect.searchParams.get('state'), 'st4te');
});

t.test('a client registered for fewer scopes only gets those', async (t) => {
  const { challenge, verifier } = pkce();
  const out = await authorizeAs(new Browser(server.origin), authorizeUrl({ client_id: 'meds-only', redirect_uri: 'http://meds.test/cb', scope: 'launch/patient patient/*.rs patient/MedicationRequest.rs', code_challenge: challenge }), alice);
  const res = await token({ grant_type: 'authorization_code', code: out.redirect.searchParams.get('code')!, redirect_uri: 'http://meds.test/cb', client_id: 'meds-only', code_verifier: verifier });
  t.equal(res.body.scope, 'launch/patient patient/MedicationRequest.rs');
});

t.test('confidential symmetric client: Basic and post secrets; a wrong secret is invalid_client', async (t) => {
  const flow = async () => {
    const { challenge, verifier } = pkce();
    const out = await authorizeAs(new Browser(server.origin), authorizeUrl({ client_id: 'conf', redirect_uri: 'http://conf.test/cb', scope: 'launch/patient patient/*.rs', code_challenge: challenge }), alice);
    return { grant_type: 'authorization_code', code: out.redirect.searchParams.get('code')!, redirect_uri: 'http://conf.test/cb', code_verifier: verifier };
  };
  const basic = (secret: string) => ({ authorization: `Basic ${Buffer.from(`conf:${secret}`).toString('base64')}` });
  t.equal((await token(await flow(), basic(DEMO_CLINICIAN_SECRET))).status, 200, 'client_secret_basic');
  t.equal((await token({ ...(await flow()), client_id: 'conf', client_secret: DEMO_CLINICIAN_SECRET })).status, 200, 'client_secret_post');
  const wrong = await token(await flow(), basic('nope'));
  t.equal(wrong.status, 401);
  t.equal(wrong.body.error, 'invalid_client');
  const none = await token({ ...(await flow()), client_id: 'conf' });
  t.equal(none.status, 401, 'a confidential client must authenticate');
});

t.test('legacy clients may opt out of PKCE; others may not', async (t) => {
  const out = await authorizeAs(new Browser(server.origin), authorizeUrl({ client_id: 'legacy', redirect_uri: 'http://legacy.test/cb', scope: 'launch/patient patient/*.read', code_challenge_method: undefined }), alice);
  const res = await token({ grant_type: 'authorization_code', code: out.redirect.searchParams.get('code')!, redirect_uri: 'http://legacy.test/cb', client_id: 'legacy' });
  t.equal(res.status, 200);
  t.equal(res.body.scope, 'launch/patient patient/*.read');
});

t.test('a SIWE signature from another wallet, or a replayed message, does not sign in', async (t) => {
  const browser = new Browser(server.origin);
  const { message } = (await (await browser.request(`/auth/siwe/message?address=${alice.address}`)).json()) as { message: string };
  const forged = await demoWallet('bob').signMessage(message);
  t.equal((await browser.request('/auth/login', { form: { message, signature: forged, next: '/auth/clients' } })).status, 401);
  const good = await alice.signMessage(message);
  t.equal((await browser.request('/auth/login', { form: { message, signature: good, next: '/auth/clients' } })).status, 303);
  t.equal((await new Browser(server.origin).request('/auth/login', { form: { message, signature: good, next: '/auth/clients' } })).status, 401, 'nonce single use');
});
