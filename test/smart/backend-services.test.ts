import t from 'tap';
import { createServer } from 'node:http';
import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, importJWK, SignJWT, type CryptoKey, type JWK } from 'jose';
import { demoAddress } from '../../server/embedded/demo-identities.ts';
import { DEMO_PHARMACY_PRIVATE_JWK, demoClients } from '../../smart-on-fhir/demo-clients.ts';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSmartClients } from '../../smart-on-fhir/embedded-component.ts';
import { startSmartServer } from './support/smart-server.ts';

// Backend clients built only on jose: one key pair per algorithm, one served from a JWKS URL.
const rsa = await generateKeyPair('RS384', { extractable: true });
const ec = await generateKeyPair('ES384', { extractable: true });
const rogue = await generateKeyPair('ES384', { extractable: true });
const rsaJwk: JWK = { ...(await exportJWK(rsa.publicKey)), kid: 'rsa-1', alg: 'RS384' };
const ecJwk: JWK = { ...(await exportJWK(ec.publicKey)), kid: 'ec-1', alg: 'ES384' };

const jwksServer = createServer((req, res) => {
  if (req.url === '/jwks.json') res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [ecJwk] }));
  else res.writeHead(404).end();
});
await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
const jwksUrl = `http://127.0.0.1:${(jwksServer.address() as { port: number }).port}/jwks.json`;
t.teardown(() => new Promise<void>((resolve) => jwksServer.close(() => resolve())));

// A JWKS host whose keys and Cache-Control each test sets per path, counting fetches.
const ec2 = await generateKeyPair('ES384', { extractable: true });
const ec2Jwk: JWK = { ...(await exportJWK(ec2.publicKey)), kid: 'ec-2', alg: 'ES384' };
const hosted: Record<string, { keys: JWK[]; cacheControl: string; fetches: number }> = {
  '/long': { keys: [ecJwk], cacheControl: 'public, max-age=3600', fetches: 0 },
  '/none': { keys: [ecJwk], cacheControl: 'no-store', fetches: 0 },
  '/rotating': { keys: [ecJwk], cacheControl: 'max-age=3600', fetches: 0 },
};
const keyHost = createServer((req, res) => {
  const set = hosted[req.url ?? ''];
  if (!set) return void res.writeHead(404).end();
  set.fetches++;
  res.writeHead(200, { 'content-type': 'application/json', 'cache-control': set.cacheControl }).end(JSON.stringify({ keys: set.keys }));
});
await new Promise<void>((resolve) => keyHost.listen(0, '127.0.0.1', resolve));
const keyHostUrl = `http://127.0.0.1:${(keyHost.address() as { port: number }).port}`;
t.teardown(() => new Promise<void>((resolve) => keyHost.close(() => resolve())));

const pharmacy = demoAddress('pharmacy');
const hostedClient = (clientId: string, path: string) => ({ clientId, name: clientId, type: 'backend' as const, redirectUris: [], jwksUri: `${keyHostUrl}${path}`, address: pharmacy, allowedScope: 'system/MedicationRequest.rs' });
const server = await startSmartServer({
  clients: [
    ...demoClients(),
    { clientId: 'pharm-rsa', name: 'Pharmacy (inline RS384)', type: 'backend', redirectUris: [], jwks: { keys: [rsaJwk] }, address: pharmacy, allowedScope: 'system/MedicationRequest.rs system/Patient.r' },
    { clientId: 'pharm-ec', name: 'Pharmacy (JWKS URL, ES384)', type: 'backend', redirectUris: [], jwksUri: jwksUrl, address: pharmacy, allowedScope: 'system/MedicationRequest.rs system/*.read' },
    { clientId: 'no-address', name: 'Unbound backend', type: 'backend', redirectUris: [], jwks: { keys: [rsaJwk] }, allowedScope: 'system/*.rs' },
    hostedClient('cached-long', '/long'),
    hostedClient('cached-never', '/none'),
    hostedClient('rotating', '/rotating'),
  ],
  resolveParticipantClient: async (id) => {
    const on: Record<string, string> = {
      [demoAddress('researcher')]: jwksUrl,
      // Registered on chain by whoever: a URL nothing answers, and a plain-http one elsewhere.
      [demoAddress('clinician')]: 'http://127.0.0.1:1/jwks.json',
      [demoAddress('proxy')]: 'http://jwks.example/keys.json',
    };
    return on[id] ? { address: id, displayName: 'On-chain system', jwksUri: on[id] } : undefined;
  },
});
t.teardown(() => server.close());
const tokenUrl = `${server.origin}/auth/token`;

async function assertion(clientId: string, key: CryptoKey, alg: string, kid: string, o: { aud?: string; exp?: number; jti?: string; jku?: string; iss?: string } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ jti: o.jti ?? randomUUID() })
    .setProtectedHeader({ alg, kid, typ: 'JWT', ...(o.jku ? { jku: o.jku } : {}) })
    .setIssuer(o.iss ?? clientId)
    .setSubject(clientId)
    .setAudience(o.aud ?? tokenUrl)
    .setExpirationTime(o.exp ?? now + 300)
    .sign(key);
}

async function token(form: Record<string, string>): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const res = await fetch(tokenUrl, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form).toString() });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers };
}

const cc = (clientAssertion: string, scope = 'system/MedicationRequest.rs') => ({
  grant_type: 'client_credentials',
  scope,
  client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
  client_assertion: clientAssertion,
});

t.test('RS384 assertion with inline JWKS gets a 5-minute system token bound to the pharmacy address', async (t) => {
  const res = await token(cc(await assertion('pharm-rsa', rsa.privateKey, 'RS384', 'rsa-1')));
  t.equal(res.status, 200);
  t.match(res.headers.get('cache-control'), /no-store/);
  t.equal(res.body.token_type, 'Bearer');
  t.ok((res.body.expires_in as number) <= 300);
  t.equal(res.body.scope, 'system/MedicationRequest.rs');
  t.notOk(res.body.refresh_token, 'no refresh token for backend services');
  const probe = await fetch(`${server.fhirBase}/Probe/1`, { headers: { authorization: `Bearer ${res.body.access_token as string}` } });
  const ctx = ((await probe.json()) as { context: { subject: string; clientId: string; scopes: { level: string }[] } }).context;
  t.equal(ctx.subject, pharmacy);
  t.equal(ctx.clientId, 'pharm-rsa');
  t.equal(ctx.scopes[0]!.level, 'system');
});

t.test('ES384 assertion verified with the JWKS URL, also with a matching jku', async (t) => {
  t.equal((await token(cc(await assertion('pharm-ec', ec.privateKey, 'ES384', 'ec-1'), 'system/MedicationRequest.read'))).status, 200);
  const withJku = await token(cc(await assertion('pharm-ec', ec.privateKey, 'ES384', 'ec-1', { jku: jwksUrl })));
  t.equal(withJku.status, 200);
});

t.test('the demo pharmacy backend works with its published key', async (t) => {
  const key = (await importJWK(DEMO_PHARMACY_PRIVATE_JWK, 'ES384')) as CryptoKey;
  const res = await token(cc(await assertion('medrec-demo-pharmacy-backend', key, 'ES384', DEMO_PHARMACY_PRIVATE_JWK.kid!)));
  t.equal(res.status, 200);
  t.equal(res.body.scope, 'system/MedicationRequest.rs');
});

t.test('an on-chain participant with a JWKS URL is a backend client without configuration', async (t) => {
  const researcher = demoAddress('researcher');
  const res = await token(cc(await assertion(researcher, ec.privateKey, 'ES384', 'ec-1'), 'system/Observation.rs'));
  t.equal(res.status, 200);
  t.equal(res.body.scope, 'system/Observation.rs');
});

t.test('a JWKS URL is fetched again only as its Cache-Control allows', async (t) => {
  for (let i = 0; i < 2; i++) t.equal((await token(cc(await assertion('cached-long', ec.privateKey, 'ES384', 'ec-1')))).status, 200);
  t.equal(hosted['/long']!.fetches, 1, 'max-age=3600: fetched once for two assertions');
  for (let i = 0; i < 2; i++) t.equal((await token(cc(await assertion('cached-never', ec.privateKey, 'ES384', 'ec-1')))).status, 200);
  t.equal(hosted['/none']!.fetches, 2, 'no-store: fetched for each assertion');
});

t.test('a kid the cached JWKS lacks makes one fetch of it again: a client rotating its keys is not locked out', async (t) => {
  t.equal((await token(cc(await assertion('rotating', ec.privateKey, 'ES384', 'ec-1')))).status, 200);
  t.equal(hosted['/rotating']!.fetches, 1);
  hosted['/rotating']!.keys = [ec2Jwk];
  t.equal((await token(cc(await assertion('rotating', ec2.privateKey, 'ES384', 'ec-2')))).status, 200, 'the new key works before max-age is up');
  t.equal(hosted['/rotating']!.fetches, 2, 'after exactly one more fetch');
  t.equal((await token(cc(await assertion('rotating', ec.privateKey, 'ES384', 'ec-1')))).status, 401, 'the retired key no longer does');
});

t.test('JWKS URL failures are told in the server’s own words; non-https URLs off loopback are refused', async (t) => {
  const refused = await token(cc(await assertion(demoAddress('clinician'), ec.privateKey, 'ES384', 'ec-1')));
  t.equal(refused.status, 401);
  t.equal(refused.body.error, 'invalid_client');
  t.match(refused.body.error_description, /could not be fetched/);
  t.notMatch(refused.body.error_description, /127\.0\.0\.1|ECONNREFUSED|fetch failed|jwks\.json/, 'nothing of what the fetch ran into');
  const plain = await token(cc(await assertion(demoAddress('proxy'), ec.privateKey, 'ES384', 'ec-1')));
  t.equal(plain.status, 401);
  t.match(plain.body.error_description, /must be https/);

  const file = join(mkdtempSync(join(tmpdir(), 'medrec-clients-')), 'clients.json');
  writeFileSync(file, JSON.stringify([{ ...hostedClient('plain-http', '/long'), jwksUri: 'http://jwks.example/keys.json' }]));
  t.throws(() => readSmartClients(file), /plain-http\): jwksUri must be https/, 'a clients file with one is refused at start');
});

t.test('Backend Services negatives (B1-B5 and the SHALLs Inferno skips)', async (t) => {
  const good = () => assertion('pharm-rsa', rsa.privateKey, 'RS384', 'rsa-1');
  const expect = async (label: string, form: Record<string, string>, statuses: number[], error?: string) => {
    const res = await token(form);
    t.ok(statuses.includes(res.status), `${label}: status ${res.status}`);
    if (error) t.equal(res.body.error, error, label);
  };
  await expect('bad grant_type', { ...cc(await good()), grant_type: 'client_credential' }, [400], 'unsupported_grant_type');
  await expect('bad assertion type', { ...cc(await good()), client_assertion_type: 'urn:other' }, [400, 401], 'invalid_client');
  await expect('signed by another key', cc(await assertion('pharm-rsa', rogue.privateKey, 'ES384', 'rsa-1')), [400, 401], 'invalid_client');
  await expect('wrong aud', cc(await assertion('pharm-rsa', rsa.privateKey, 'RS384', 'rsa-1', { aud: `${server.origin}/other` })), [400, 401], 'invalid_client');
  await expect('exp more than 5 minutes ahead', cc(await assertion('pharm-rsa', rsa.privateKey, 'RS384', 'rsa-1', { exp: Math.floor(Date.now() / 1000) + 3600 })), [401], 'invalid_client');
  await expect('expired assertion', cc(await assertion('pharm-rsa', rsa.privateKey, 'RS384', 'rsa-1', { exp: Math.floor(Date.now() / 1000) - 120 })), [401], 'invalid_client');
  await expect('jku not the registered URL', cc(await assertion('pharm-ec', ec.privateKey, 'ES384', 'ec-1', { jku: 'http://127.0.0.1:1/evil.json' })), [401], 'invalid_client');
  await expect('unknown kid', cc(await assertion('pharm-rsa', rsa.privateKey, 'RS384', 'nope')), [401], 'invalid_client');
  await expect('unknown client', cc(await assertion('stranger', rsa.privateKey, 'RS384', 'rsa-1')), [401], 'invalid_client');
  await expect('iss differs from sub', cc(await assertion('pharm-rsa', rsa.privateKey, 'RS384', 'rsa-1', { iss: 'pharm-ec' })), [401], 'invalid_client');
  const unsigned = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT', kid: 'rsa-1' })).toString('base64url')}.${Buffer.from(JSON.stringify({ iss: 'pharm-rsa', sub: 'pharm-rsa', aud: tokenUrl, exp: Math.floor(Date.now() / 1000) + 60, jti: 'x' })).toString('base64url')}.`;
  await expect('alg none', cc(unsigned), [401], 'invalid_client');
  await expect('user scopes refused', cc(await good(), 'patient/*.rs'), [400], 'invalid_scope');
  await expect('scope beyond registration', cc(await good(), 'system/Observation.rs'), [400], 'invalid_scope');
  await expect('no scope', { ...cc(await good()), scope: '' }, [400], 'invalid_request');
  await expect('client without address binding', cc(await assertion('no-address', rsa.privateKey, 'RS384', 'rsa-1'), 'system/Patient.rs'), [400], 'unauthorized_client');

  const reused = await assertion('pharm-rsa', rsa.privateKey, 'RS384', 'rsa-1', { jti: 'same-jti' });
  t.equal((await token(cc(reused))).status, 200, 'first use of a jti');
  await expect('reused jti', cc(await assertion('pharm-rsa', rsa.privateKey, 'RS384', 'rsa-1', { jti: 'same-jti' })), [401], 'invalid_client');
  const partly = await token(cc(await good(), 'system/MedicationRequest.rs system/Observation.rs'));
  t.equal(partly.body.scope, 'system/MedicationRequest.rs', 'asked scopes beyond registration are dropped when some remain');
});
