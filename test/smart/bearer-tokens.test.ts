import t from 'tap';
import { createHash, createSecretKey, randomBytes } from 'node:crypto';
import { decodeJwt, importJWK, SignJWT, type CryptoKey } from 'jose';
import { demoAddress, demoWallet } from '../../server/embedded/demo-identities.ts';
import { DEMO_PHARMACY_PRIVATE_JWK, demoClients } from '../../smart-on-fhir/demo-clients.ts';
import { startSmartServer, authorizeAs, Browser } from './support/smart-server.ts';

const server = await startSmartServer({
  clients: [
    { clientId: 'app', name: 'Test app', type: 'public', redirectUris: ['http://app.test/callback'], launchUrl: 'http://app.test/launch' },
    { clientId: 'other', name: 'Other app', type: 'public', redirectUris: ['http://other.test/cb'] },
    { clientId: 'introspector', name: 'Resource server', type: 'confidential-symmetric', secret: 'rs-secret', redirectUris: ['http://rs.test/cb'] },
    ...demoClients().filter((c) => c.type === 'backend'),
  ],
});
t.teardown(() => server.close());
const alice = demoWallet('alice');
const aliceId = demoAddress('alice');

async function userToken(scope = 'launch/patient offline_access patient/*.rs', clientId = 'app', redirectUri = 'http://app.test/callback'): Promise<Record<string, string>> {
  const verifier = randomBytes(48).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const url = `${server.origin}/auth/authorize?${new URLSearchParams({ response_type: 'code', client_id: clientId, redirect_uri: redirectUri, state: 's', aud: server.fhirBase, scope, code_challenge: challenge, code_challenge_method: 'S256' })}`;
  const out = await authorizeAs(new Browser(server.origin), url, alice);
  const res = await fetch(`${server.origin}/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code: out.redirect.searchParams.get('code')!, redirect_uri: redirectUri, client_id: clientId, code_verifier: verifier }).toString(),
  });
  return (await res.json()) as Record<string, string>;
}

/** A Backend Services token of the demo pharmacy system (ES384 assertion). */
async function backendToken(): Promise<string> {
  const assertion = await new SignJWT({ jti: randomBytes(12).toString('hex') })
    .setProtectedHeader({ alg: 'ES384', kid: DEMO_PHARMACY_PRIVATE_JWK.kid!, typ: 'JWT' })
    .setIssuer('medrec-demo-pharmacy-backend')
    .setSubject('medrec-demo-pharmacy-backend')
    .setAudience(`${server.origin}/auth/token`)
    .setExpirationTime('4m')
    .sign((await importJWK(DEMO_PHARMACY_PRIVATE_JWK, 'ES384')) as CryptoKey);
  const res = await form('/auth/token', { grant_type: 'client_credentials', scope: 'system/MedicationRequest.rs', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion });
  return ((await res.json()) as { access_token: string }).access_token;
}

const read = (token: string | undefined) => fetch(`${server.fhirBase}/Probe/1`, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });
const form = (path: string, body: Record<string, string>, headers: Record<string, string> = {}) =>
  fetch(`${server.origin}${path}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(body).toString() });

/** Re-signs the claims of a real token with another key/alg, as an attacker would. */
async function forge(claims: Record<string, unknown>, key: CryptoKey | Uint8Array | ReturnType<typeof createSecretKey>, alg: string, kid: string): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg, kid, typ: 'at+jwt' }).sign(key as CryptoKey);
}

const good = await userToken();
const claims = decodeJwt(good.access_token!) as Record<string, unknown>;
const kid = server.app.smartAuth.keys.signingKey().kid;
const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');

t.test('no token is 401 with WWW-Authenticate: Bearer and an OperationOutcome (R1); metadata and discovery stay open', async (t) => {
  const res = await read(undefined);
  t.equal(res.status, 401);
  t.match(res.headers.get('www-authenticate'), /^Bearer realm=/);
  t.equal(((await res.json()) as { resourceType: string }).resourceType, 'OperationOutcome');
  t.equal((await fetch(`${server.fhirBase}/metadata`)).status, 200);
  t.equal((await fetch(`${server.fhirBase}/.well-known/smart-configuration`)).status, 200);
  t.equal((await read(good.access_token)).status, 200, 'the genuine token works');
});

t.test('a percent-encoded FHIR base still needs a token (the router decodes what the raw URL hides)', async (t) => {
  for (const path of ['/%66hir/Probe/1', '/f%68ir/Probe/1', '/fhir/%50robe/1']) {
    const res = await fetch(`${server.origin}${path}`);
    t.equal(res.status, 401, `${path}: 401`);
  }
  t.equal((await fetch(`${server.origin}/fhir/%6detadata`)).status, 200, 'an encoded metadata path is still metadata');
});

t.test('forged and damaged tokens are refused with invalid_token', async (t) => {
  const now = Math.floor(Date.now() / 1000);
  const [h, p, s] = good.access_token!.split('.');
  const publicJwk = server.app.smartAuth.keys.jwks().keys.find((k) => k.kid === kid)!;
  const cases: [string, string][] = [
    ['alg none', `${b64({ alg: 'none', typ: 'at+jwt', kid })}.${p}.`],
    ['HS256 keyed with the public key', await forge(claims, createSecretKey(Buffer.from(JSON.stringify(publicJwk))), 'HS256', kid)],
    ['HS256 keyed with the public modulus', await forge(claims, createSecretKey(Buffer.from(publicJwk.n!, 'base64url')), 'HS256', kid)],
    ['tampered payload (another patient)', `${h}.${b64({ ...claims, patient: demoAddress('bob') })}.${s}`],
    ['tampered payload (more scope)', `${h}.${b64({ ...claims, scope: 'user/*.cruds' })}.${s}`],
    ['signed by a stranger key', await forge(claims, (await importJWK(DEMO_PHARMACY_PRIVATE_JWK, 'ES384')) as CryptoKey, 'ES384', kid)],
    ['garbage', 'not.a.jwt'],
  ];
  for (const [label, token] of cases) {
    const res = await read(token);
    t.equal(res.status, 401, label);
    t.match(res.headers.get('www-authenticate'), /error="invalid_token"/, label);
  }
  // Expired / wrong aud / wrong iss, signed with the server's own key: only the claim is wrong.
  const keys = server.app.smartAuth.keys;
  const own = (c: Record<string, unknown>) => new SignJWT(c).setProtectedHeader({ alg: 'RS256', kid, typ: 'at+jwt' }).sign(keys.signingKey().key);
  t.equal((await read(await own({ ...claims, exp: now - 10, iat: now - 100 }))).status, 401, 'expired');
  t.equal((await read(await own({ ...claims, aud: 'http://elsewhere.example/fhir' }))).status, 401, 'wrong aud');
  t.equal((await read(await own({ ...claims, iss: 'http://evil.example' }))).status, 401, 'wrong iss');
  t.equal((await read(await own({ ...claims, gid: 'no-such-grant' }))).status, 401, 'unknown grant');
});

t.test('a token keeps working across key rotation, and new tokens use the new key', async (t) => {
  const before = await userToken('launch/patient patient/Patient.rs');
  await server.app.smartAuth.keys.rotate();
  t.equal((await read(before.access_token)).status, 200);
  const after = await userToken('launch/patient patient/Patient.rs');
  t.equal((await read(after.access_token)).status, 200);
});

t.test('introspection (RFC 7662, I1): active with scope, client_id, exp and context; inactive otherwise', async (t) => {
  const tok = await userToken('launch/patient openid fhirUser offline_access patient/Patient.rs');
  const basic = { authorization: `Basic ${Buffer.from('introspector:rs-secret').toString('base64')}` };
  const res = await form('/auth/introspect', { token: tok.access_token! }, basic);
  t.equal(res.status, 200);
  t.match(res.headers.get('cache-control'), /no-store/);
  const body = (await res.json()) as Record<string, unknown>;
  t.equal(body.active, true);
  t.equal(body.scope, tok.scope);
  t.equal(body.client_id, 'app');
  t.equal(body.patient, aliceId);
  t.equal(body.sub, aliceId);
  t.equal(body.iss, server.origin);
  t.type(body.exp, 'number');
  t.equal(body.fhirUser, `${server.fhirBase}/Patient/${aliceId}`);
  t.equal(body.need_patient_banner, true, 'the launch context of the token response (§1.10)');
  t.equal(body.smart_style_url, `${server.origin}/auth/smart-style.json`);

  const viaBearer = await form('/auth/introspect', { token: tok.access_token! }, { authorization: `Bearer ${tok.access_token!}` });
  t.equal(((await viaBearer.json()) as { active: boolean }).active, true, 'a SMART bearer token may authorize introspection of its own tokens');
  const otherApp = await userToken('launch/patient patient/Patient.rs', 'other', 'http://other.test/cb');
  const nosy = await form('/auth/introspect', { token: tok.access_token! }, { authorization: `Bearer ${otherApp.access_token!}` });
  t.same(await nosy.json(), { active: false }, 'but another app’s token learns nothing about it');
  const systemToken = await backendToken();
  const bySystem = (await (await form('/auth/introspect', { token: tok.access_token! }, { authorization: `Bearer ${systemToken}` })).json()) as Record<string, unknown>;
  t.equal(bySystem.active, true, 'a Backend Services (system) token may introspect any token, as a resource server');
  t.equal(bySystem.client_id, 'app');
  const refresh = (await (await form('/auth/introspect', { token: tok.refresh_token!, token_type_hint: 'refresh_token' }, basic)).json()) as Record<string, unknown>;
  t.equal(refresh.active, true);
  t.equal(refresh.patient, aliceId);
  t.equal(refresh.need_patient_banner, true);
  t.equal(refresh.smart_style_url, `${server.origin}/auth/smart-style.json`);
  const bogus = await form('/auth/introspect', { token: 'nonsense' }, basic);
  t.equal(bogus.status, 200);
  t.same(await bogus.json(), { active: false });
  t.equal((await form('/auth/introspect', { token: tok.access_token! })).status, 401, 'anonymous callers may not introspect');
});

t.test('revocation (RFC 7009, V1): a revoked token is refused at once; its refresh token too', async (t) => {
  const tok = await userToken();
  t.equal((await read(tok.access_token)).status, 200, 'works before (and is cached as active)');
  const wrongClient = await form('/auth/revoke', { token: tok.access_token!, client_id: 'other' });
  t.equal(wrongClient.status, 400, 'another client may not revoke it');
  t.equal((await read(tok.access_token)).status, 200);
  const res = await form('/auth/revoke', { token: tok.access_token!, client_id: 'app' });
  t.equal(res.status, 200);
  t.equal((await read(tok.access_token)).status, 401, 'refused on the very next request');
  const refreshed = await form('/auth/token', { grant_type: 'refresh_token', refresh_token: tok.refresh_token! });
  t.equal(refreshed.status, 400, 'the grant is gone for refreshes too');
  const introspected = (await (await form('/auth/introspect', { token: tok.access_token! }, { authorization: `Basic ${Buffer.from('introspector:rs-secret').toString('base64')}` })).json()) as { active: boolean };
  t.equal(introspected.active, false);
  t.equal((await form('/auth/revoke', { token: 'unknown', client_id: 'app' })).status, 200, 'unknown tokens are not an error');
  t.equal((await form('/auth/revoke', { token: 'unknown', client_id: 'introspector' })).status, 401, 'a confidential client that only names itself is refused');
  t.equal((await form('/auth/revoke', { token: 'unknown' }, { authorization: `Basic ${Buffer.from('introspector:rs-secret').toString('base64')}` })).status, 200, 'with its secret it is heard');

  const tok2 = await userToken();
  t.equal((await form('/auth/revoke', { token: tok2.refresh_token!, client_id: 'app', token_type_hint: 'refresh_token' })).status, 200);
  t.equal((await read(tok2.access_token)).status, 401, 'revoking the refresh token ends its access tokens');
});

t.test('revocation reaches another replica sharing the Redis at once (pub/sub)', async (t) => {
  const replica = await startSmartServer({ clients: [{ clientId: 'app', name: 'Test app', type: 'public', redirectUris: ['http://app.test/callback'] }], prefix: `t${new URL(server.origin).port}:` }, server.redisServer);
  t.teardown(() => replica.close());
  // Same prefix: the replica shares keys and grants, but has its own origin; tokens name the first origin.
  const tok = await userToken();
  const viaReplica = () => replica.app.smartAuth.tokens.verify(tok.access_token!).then(() => 'ok', (e: Error) => e.message);
  t.equal(await viaReplica(), 'the access token is invalid', 'iss/aud of another origin are refused');
  const sameOrigin = await import('../../smart-on-fhir/tokens.ts');
  const verifier = new sameOrigin.TokenService({ keys: replica.app.smartAuth.keys, store: replica.app.smartAuth.store, issuer: server.origin, fhirBaseUrl: server.fhirBase });
  await verifier.verify(tok.access_token!);
  await form('/auth/revoke', { token: tok.access_token!, client_id: 'app' });
  await t.rejects(verifier.verify(tok.access_token!), /revoked/);
});

t.test('EHR launch: the signed-in EHR user launches an app for a patient; the launch is bound to that app', async (t) => {
  const browser = new Browser(server.origin);
  const start = await browser.request(`/auth/ehr-launch?client_id=app&patient=${aliceId}`);
  t.equal(start.status, 303, 'sign-in first');
  t.match(start.headers.get('location'), /^\/auth\/login\?next=/);
  await browser.signIn(alice, '/auth/clients');
  const unknownEncounter = await browser.request(`/auth/ehr-launch?client_id=app&patient=${aliceId}&encounter=enc-1`);
  t.equal(unknownEncounter.status, 400, 'an encounter the FHIR layer cannot show the user is refused');
  const launched = await browser.request(`/auth/ehr-launch?client_id=app&patient=${aliceId}`);
  t.equal(launched.status, 302);
  const loc = new URL(launched.headers.get('location')!);
  t.equal(loc.origin + loc.pathname, 'http://app.test/launch');
  t.equal(loc.searchParams.get('iss'), server.fhirBase);
  const launch = loc.searchParams.get('launch')!;
  t.ok(launch);

  const forbidden = await browser.request(`/auth/ehr-launch?client_id=app&patient=${demoAddress('bob')}`);
  t.equal(forbidden.status, 403, 'only patients the user may act for');

  const verifier = randomBytes(48).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const params = { response_type: 'code', client_id: 'app', redirect_uri: 'http://app.test/callback', state: 's', aud: server.fhirBase, scope: 'launch patient/*.rs openid fhirUser', launch, code_challenge: challenge, code_challenge_method: 'S256' };
  const out = await authorizeAs(browser, `${server.origin}/auth/authorize?${new URLSearchParams(params)}`, alice);
  const res = (await (await form('/auth/token', { grant_type: 'authorization_code', code: out.redirect.searchParams.get('code')!, redirect_uri: 'http://app.test/callback', client_id: 'app', code_verifier: verifier })).json()) as Record<string, unknown>;
  t.equal(res.patient, aliceId);
  t.equal(res.need_patient_banner, false, 'inside the EHR the EHR shows the banner');
  t.type(res.id_token, 'string');

  const fresh = new URL((await browser.request(`/auth/ehr-launch?client_id=app&patient=${aliceId}`)).headers.get('location')!).searchParams.get('launch')!;
  const other = await fetch(`${server.origin}/auth/authorize?${new URLSearchParams({ ...params, launch: fresh, client_id: 'other', redirect_uri: 'http://other.test/cb' })}`, { redirect: 'manual' });
  t.equal(new URL(other.headers.get('location')!).searchParams.get('error'), 'invalid_request', 'a launch for one app cannot start another');
});

t.test('the user sees the apps with access (management_endpoint) and revokes one; nobody else can', async (t) => {
  const tok = await userToken();
  const browser = new Browser(server.origin);
  t.equal((await browser.request('/auth/manage')).status, 303, 'sign-in first');
  await browser.signIn(alice, '/auth/manage');
  const page = await (await browser.request('/auth/manage')).text();
  t.match(page, /Test app/);
  const gid = decodeJwt(tok.access_token!).gid as string;
  t.match(page, new RegExp(`value="${gid}"`));

  const mallory = new Browser(server.origin);
  await mallory.signIn(demoWallet('bob'), '/auth/manage');
  t.equal((await mallory.request('/auth/manage/revoke', { form: { grant: gid } })).status, 404, 'another user cannot revoke it');
  t.equal((await read(tok.access_token)).status, 200);

  const res = await browser.request('/auth/manage/revoke', { form: { grant: gid } });
  t.equal(res.status, 200);
  t.match(await res.text(), /was revoked/);
  t.equal((await read(tok.access_token)).status, 401, 'its token stops at once');
  t.equal((await form('/auth/token', { grant_type: 'refresh_token', refresh_token: tok.refresh_token! })).status, 400, 'and its refresh token');
});

t.test('when the grant store is down, protected requests fail closed with 503, not 500 or 200', async (t) => {
  const rs = await (await import('../../server/embedded/redis-server.ts')).startRedisServer();
  const isolated = await startSmartServer({ clients: [{ clientId: 'app', name: 'Test app', type: 'public', redirectUris: ['http://app.test/callback'] }] }, rs);
  t.teardown(() => isolated.close());
  const smart = isolated.app.smartAuth;
  const grant = await smart.store.createGrant({ clientId: 'app', subject: aliceId, scope: 'patient/*.rs', patient: aliceId, kind: 'user', expiresAt: Math.floor(Date.now() / 1000) + 600 });
  const { token } = await smart.tokens.issueAccessToken(grant, 600);
  await rs.kill();
  const res = await fetch(`${isolated.fhirBase}/Probe/1`, { headers: { authorization: `Bearer ${token}` } });
  t.equal(res.status, 503);
  t.equal(((await res.json()) as { resourceType: string }).resourceType, 'OperationOutcome');
});
