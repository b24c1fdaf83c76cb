import t from 'tap';
import { startSmartServer } from './support/smart-server.ts';

const server = await startSmartServer();
t.teardown(() => server.close());

t.test('smart-configuration is JSON for any Accept, any origin, with every required field (Inferno D1, D2, D3, C1)', async (t) => {
  const res = await fetch(`${server.fhirBase}/.well-known/smart-configuration`, { headers: { accept: 'text/html', origin: 'http://app.example' } });
  t.equal(res.status, 200);
  t.match(res.headers.get('content-type'), /^application\/json/);
  t.equal(res.headers.get('access-control-allow-origin'), 'http://app.example');
  const body = (await res.json()) as Record<string, unknown>;
  t.equal(body.authorization_endpoint, `${server.origin}/auth/authorize`);
  t.equal(body.token_endpoint, `${server.origin}/auth/token`);
  t.equal(body.issuer, server.origin);
  t.equal(body.jwks_uri, `${server.origin}/auth/jwks`);
  t.same(body.code_challenge_methods_supported, ['S256'], 'S256 only, never plain');
  t.ok((body.grant_types_supported as string[]).includes('authorization_code'));
  t.ok((body.grant_types_supported as string[]).includes('client_credentials'));
  t.ok((body.token_endpoint_auth_signing_alg_values_supported as string[]).includes('RS384'));
  t.ok((body.token_endpoint_auth_signing_alg_values_supported as string[]).includes('ES384'));
  const caps = body.capabilities as string[];
  const g10 = 'launch-standalone launch-ehr client-public client-confidential-symmetric client-confidential-asymmetric sso-openid-connect context-standalone-patient context-ehr-patient context-ehr-encounter context-banner context-style permission-offline permission-patient permission-user authorize-post permission-v2 permission-v1';
  for (const c of g10.split(' ')) t.ok(caps.includes(c), `capability ${c}`);
  for (const k of ['introspection_endpoint', 'revocation_endpoint', 'management_endpoint', 'registration_endpoint', 'scopes_supported', 'response_types_supported']) t.ok(body[k], k);
});

t.test('openid-configuration at the issuer names RS256 and a JWKS holding the signing key (Inferno O2, O3)', async (t) => {
  const conf = (await (await fetch(`${server.origin}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
  for (const k of ['issuer', 'authorization_endpoint', 'token_endpoint', 'jwks_uri', 'response_types_supported', 'subject_types_supported']) t.ok(conf[k], k);
  t.ok((conf.id_token_signing_alg_values_supported as string[]).includes('RS256'));
  const jwks = (await (await fetch(conf.jwks_uri as string)).json()) as { keys: Record<string, string>[] };
  t.equal(jwks.keys.length, 1);
  t.equal(jwks.keys[0]!.kty, 'RSA');
  t.equal(jwks.keys[0]!.alg, 'RS256');
  t.ok(jwks.keys[0]!.kid);
  t.notOk(jwks.keys[0]!.d, 'no private parts published');
});

t.test('key rotation publishes the new key and keeps the old one for tokens it signed', async (t) => {
  const before = server.app.smartAuth.keys.jwks().keys.map((k) => k.kid);
  const kid = await server.app.smartAuth.keys.rotate();
  const after = ((await (await fetch(`${server.origin}/auth/jwks`)).json()) as { keys: { kid: string }[] }).keys.map((k) => k.kid);
  t.ok(after.includes(kid));
  for (const old of before) t.ok(after.includes(old!), 'retired key still published');
  t.equal(server.app.smartAuth.keys.signingKey().kid, kid, 'new tokens use the new key');
});

t.test('the CapabilityStatement security block carries the oauth-uris extension for old clients', async (t) => {
  const cs = (await (await fetch(`${server.fhirBase}/metadata`)).json()) as { rest: { security: { extension: { url: string; extension: { url: string; valueUri: string }[] }[]; service: { coding: { code: string }[] }[] } }[] };
  const security = cs.rest[0]!.security;
  t.equal(security.service[0]!.coding[0]!.code, 'SMART-on-FHIR');
  const uris = security.extension.find((e) => e.url === 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris')!.extension;
  t.equal(uris.find((u) => u.url === 'authorize')!.valueUri, `${server.origin}/auth/authorize`);
  t.equal(uris.find((u) => u.url === 'token')!.valueUri, `${server.origin}/auth/token`);
});

t.test('smart_style_url serves JSON (Inferno R4)', async (t) => {
  const res = await fetch(`${server.origin}/auth/smart-style.json`);
  t.equal(res.status, 200);
  t.ok(((await res.json()) as Record<string, string>).color_background);
});

t.test('scheduled rotation: only a key older than the bound is rotated, by one replica at a time', async (t) => {
  const keys = server.app.smartAuth.keys;
  t.equal(await keys.rotateIfOlderThan(3600), undefined, 'a fresh key stays');
  const before = keys.signingKey().kid;
  const kid = await keys.rotateIfOlderThan(0);
  t.ok(kid);
  t.not(keys.signingKey().kid, before);
  t.equal(await keys.rotateIfOlderThan(0), undefined, 'the lock holds a second rotation back');
});

t.test('with a sealing secret the private signing keys are not readable from Redis', async (t) => {
  const { SigningKeys } = await import('../../smart-on-fhir/signing-keys.ts');
  const sealed = new SigningKeys({ redis: server.redis, prefix: 'sealed-test:', retainRetiredSeconds: 3600, sealingSecret: 'a shared secret of the replicas, 32+ chars' });
  await sealed.init();
  const raw = Object.values(await server.redis.hgetall('sealed-test:keys')).join('');
  t.notMatch(raw, /"d":/, 'no private exponent in the clear');
  const replica = new SigningKeys({ redis: server.redis, prefix: 'sealed-test:', retainRetiredSeconds: 3600, sealingSecret: 'a shared secret of the replicas, 32+ chars' });
  await replica.init();
  t.equal(replica.signingKey().kid, sealed.signingKey().kid, 'a replica with the secret signs with the same key');
  const outsider = new SigningKeys({ redis: server.redis, prefix: 'sealed-test:', retainRetiredSeconds: 3600 });
  await t.rejects(outsider.init(), /sealed/, 'without the secret the keys are useless');
  const wrong = new SigningKeys({ redis: server.redis, prefix: 'sealed-test:', retainRetiredSeconds: 3600, sealingSecret: 'another secret entirely, also 32+ chars' });
  await t.rejects(wrong.init());
});
