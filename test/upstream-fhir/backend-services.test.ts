import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t, { type Test } from 'tap';
import { Agent } from 'undici';
import { BackendServicesClient } from '../../adapters/fhir/backend-services-client.ts';
import { createFhirAdapter, createFhirAdapterFactory, type FhirUpstreamAdapter } from '../../adapters/fhir/fhir-adapter.ts';
import { loadNodeKey } from '../../adapters/fhir/node-keys.ts';
import { clinicalRecords, signal, sourceConfig, testContext } from './support/fixtures.ts';
import { hostNodeJwks } from './support/node-jwks-host.ts';
import { startTestUpstream } from './support/test-upstream.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'medrec-upstream-bs-'));
const CLIENT_ID = 'medrec-node-test-client';

t.test('the node key is generated once in the data dir, reused, and its JWKS carries only the public half', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'medrec-node-key-'));
  const first = await loadNodeKey({ dataDir: dir });
  const second = await loadNodeKey({ dataDir: dir });
  t.equal(first.kid, second.kid, 'same key after a restart');
  t.equal(first.alg, 'RS384');
  t.equal(statSync(join(dir, 'node-backend-services-key.jwk.json')).mode & 0o777, 0o600, 'private key file readable by the owner only');

  const host = await hostNodeJwks([first]);
  t.teardown(() => host.close());
  const response = await fetch(host.jwksUrl);
  t.equal(response.status, 200);
  t.match(response.headers.get('cache-control'), /max-age=\d+/);
  const jwks = (await response.json()) as { keys: Record<string, unknown>[] };
  t.equal(jwks.keys.length, 1);
  t.same({ kid: jwks.keys[0]?.kid, kty: jwks.keys[0]?.kty, alg: jwks.keys[0]?.alg, use: jwks.keys[0]?.use }, { kid: first.kid, kty: 'RSA', alg: 'RS384', use: 'sig' });
  for (const part of ['d', 'p', 'q', 'dp', 'dq', 'qi']) t.notOk(part in (jwks.keys[0] ?? {}), `no private member ${part}`);
});

t.test('keys load from PKCS#8 PEM files (RSA → RS384, P-384 → ES384); weak or unsuitable keys are refused', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'medrec-node-pem-'));
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey.export({ type: 'pkcs8', format: 'pem' });
  const weak = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' });
  const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' });
  for (const [name, pem] of Object.entries({ rsa, ec, weak, p256 })) writeFileSync(join(dir, `${name}.pem`), pem);
  t.equal((await loadNodeKey({ keyFile: join(dir, 'rsa.pem') })).alg, 'RS384');
  t.equal((await loadNodeKey({ keyFile: join(dir, 'ec.pem') })).alg, 'ES384');
  t.equal((await loadNodeKey({ env: { MEDREC_NODE_KEY_FILE: join(dir, 'ec.pem') } })).alg, 'ES384', 'MEDREC_NODE_KEY_FILE');
  await t.rejects(loadNodeKey({ keyFile: join(dir, 'weak.pem') }));
  await t.rejects(loadNodeKey({ keyFile: join(dir, 'p256.pem') }));
  await t.rejects(loadNodeKey({}), /key file .* or a data directory/);
});

async function backendServicesSetup(t: Test, alg: 'RS384' | 'ES384', tokenLifetimeSeconds = 300) {
  const key = await loadNodeKey({ dataDir: mkdtempSync(join(tmpdir(), 'medrec-node-key-')), alg });
  const host = await hostNodeJwks([key]);
  t.teardown(() => host.close());
  const upstream = await startTestUpstream({
    resources: clinicalRecords(),
    auth: { type: 'backend-services', clientId: CLIENT_ID, jwksUrl: host.jwksUrl, tokenLifetimeSeconds },
  });
  t.teardown(() => upstream.close());
  const factory = createFhirAdapterFactory({ nodeKey: key });
  const adapter = (await factory(sourceConfig('epic', {
    preset: 'epic',
    baseUrl: upstream.baseUrl,
    auth: { clientId: CLIENT_ID, tokenUrl: upstream.tokenUrl, jwksUrl: host.jwksUrl },
  }), testContext(dataDir))) as FhirUpstreamAdapter;
  t.teardown(() => adapter.close());
  return { upstream, adapter, key };
}

const observations = { resourceType: 'Observation', filters: [], patients: ['p1'], count: 50 };

for (const alg of ['RS384', 'ES384'] as const) {
  t.test(`Epic-style Backend Services with ${alg}: one token for many requests, and Observation gets its category`, async (t) => {
    const { upstream, adapter } = await backendServicesSetup(t, alg);
    upstream.faults.observationNeedsCodeOrCategory = true;
    for (let i = 0; i < 5; i++) {
      const page = await adapter.search(observations, signal());
      t.equal(page.resources.length, 6);
    }
    t.equal(upstream.counters.tokenRequests, 1, 'the token was cached');
    t.ok(upstream.seen.filter((u) => u.includes('/Observation')).every((u) => /category=laboratory/.test(u)), 'the Epic preset added the category');
  });
}

t.test('concurrent requests without a token share one token request', async (t) => {
  const { upstream, adapter } = await backendServicesSetup(t, 'RS384');
  const pages = await Promise.all(Array.from({ length: 12 }, () => adapter.search(observations, signal())));
  t.ok(pages.every((p) => p.resources.length === 6));
  t.equal(upstream.counters.tokenRequests, 1);
});

t.test('a 401 drops the cached token and the request is sent again with one fresh token', async (t) => {
  const { upstream, adapter } = await backendServicesSetup(t, 'RS384');
  await adapter.search(observations, signal());
  upstream.revokeTokens();
  const pages = await Promise.all(Array.from({ length: 6 }, () => adapter.search(observations, signal())));
  t.ok(pages.every((p) => p.resources.length === 6), 'every concurrent request succeeded after the refresh');
  t.equal(upstream.counters.tokenRequests, 2, 'one refresh for all of them');
  t.ok(upstream.counters.tokensRejected >= 1);
});

t.test('a token is renewed shortly before it expires', async (t) => {
  const { upstream, adapter } = await backendServicesSetup(t, 'ES384', 1);
  await adapter.search(observations, signal());
  t.equal(upstream.counters.tokenRequests, 1);
  // The token lives 1 s and is renewed a tenth of its life early; wait past that point.
  await sleep(1000);
  await adapter.search(observations, signal());
  t.equal(upstream.counters.tokenRequests, 2, 'renewed before use instead of being refused');
  t.equal(upstream.counters.tokensRejected, 0, 'no request went out with an expired token');
});

t.test('when the early refresh fails, the still-valid token is used until it really expires', async (t) => {
  const key = await loadNodeKey({ dataDir: mkdtempSync(join(tmpdir(), 'medrec-node-key-')) });
  const host = await hostNodeJwks([key]);
  t.teardown(() => host.close());
  const upstream = await startTestUpstream({ auth: { type: 'backend-services', clientId: CLIENT_ID, jwksUrl: host.jwksUrl, tokenLifetimeSeconds: 120 } });
  t.teardown(() => upstream.close());
  const agent = new Agent();
  t.teardown(() => agent.close());
  let now = Date.now();
  const client = new BackendServicesClient({
    sourceId: 'epic', clientId: CLIENT_ID, tokenUrl: upstream.tokenUrl, fhirBaseUrl: upstream.baseUrl, scope: 'system/*.read',
    key, dispatcher: agent, timeoutMs: 5000, now: () => now,
  });
  const first = await client.authorization(signal());
  now += 110_000; // past the early-refresh point (a tenth of 120 s before expiry), before expiry
  upstream.faults.tokenEndpointStatus = 503;
  t.equal(await client.authorization(signal()), first, 'the refresh failed; the valid token is kept');
  t.equal(client.tokenRequests, 2);
  now += 11_000; // expired now
  await t.rejects(client.authorization(signal()), { name: 'BackendServicesError', message: /temporarily_unavailable/ });
  upstream.faults.tokenEndpointStatus = undefined;
  now = Date.now();
  t.ok(client.rejected(first), 'a 401 for the old token drops it');
  t.not(await client.authorization(signal()), first, 'a new token once the endpoint is back');
});

t.test('an upstream that does not know our client fails the source with invalid_client, not a crash', async (t) => {
  const key = await loadNodeKey({ dataDir: mkdtempSync(join(tmpdir(), 'medrec-node-key-')) });
  const host = await hostNodeJwks([key]);
  t.teardown(() => host.close());
  const upstream = await startTestUpstream({ resources: clinicalRecords(), auth: { type: 'backend-services', clientId: 'someone-else', jwksUrl: host.jwksUrl } });
  t.teardown(() => upstream.close());
  const adapter = (await createFhirAdapterFactory({ nodeKey: key })(sourceConfig('epic', {
    preset: 'epic', baseUrl: upstream.baseUrl, auth: { clientId: CLIENT_ID, tokenUrl: upstream.tokenUrl },
  }), testContext(dataDir))) as FhirUpstreamAdapter;
  t.teardown(() => adapter.close());
  await t.rejects(adapter.search(observations, signal()), { name: 'SourceUnavailableError', message: /invalid_client/ });
});

t.test('the token endpoint is discovered from the upstream SMART configuration when not configured', async (t) => {
  const key = await loadNodeKey({ dataDir: mkdtempSync(join(tmpdir(), 'medrec-node-key-')) });
  const host = await hostNodeJwks([key]);
  t.teardown(() => host.close());
  const upstream = await startTestUpstream({ resources: clinicalRecords(), auth: { type: 'backend-services', clientId: CLIENT_ID, jwksUrl: host.jwksUrl } });
  t.teardown(() => upstream.close());
  const adapter = (await createFhirAdapterFactory({ nodeKey: key })(sourceConfig('generic', {
    baseUrl: upstream.baseUrl, auth: { type: 'backend-services', clientId: CLIENT_ID },
  }), testContext(dataDir))) as FhirUpstreamAdapter;
  t.teardown(() => adapter.close());
  t.equal((await adapter.search(observations, signal())).resources.length, 6);
});

t.test('OpenMRS FHIR2 preset: base under /openmrs/ws/fhir2/R4 and HTTP basic auth from an environment variable', async (t) => {
  const upstream = await startTestUpstream({
    basePath: '/openmrs/ws/fhir2/R4',
    resources: clinicalRecords(),
    auth: { type: 'basic', username: 'admin', password: 'Admin123' },
  });
  t.teardown(() => upstream.close());
  process.env.MEDREC_TEST_OPENMRS_PASSWORD = 'Admin123';
  t.teardown(() => { delete process.env.MEDREC_TEST_OPENMRS_PASSWORD; });
  const serverUrl = new URL(upstream.baseUrl).origin;
  const adapter = (await createFhirAdapter(sourceConfig('openmrs', {
    preset: 'openmrs-fhir2', serverUrl, auth: { passwordEnv: 'MEDREC_TEST_OPENMRS_PASSWORD' },
  }), testContext(dataDir))) as FhirUpstreamAdapter;
  t.teardown(() => adapter.close());
  t.equal(adapter.baseUrl, upstream.baseUrl);
  t.equal((await adapter.search({ resourceType: 'MedicationRequest', filters: [], patients: ['p2'], count: 10 }, signal())).resources.length, 1);

  const wrong = (await createFhirAdapter(sourceConfig('openmrs2', {
    preset: 'openmrs-fhir2', serverUrl, auth: { password: 'wrong' },
  }), testContext(dataDir))) as FhirUpstreamAdapter;
  t.teardown(() => wrong.close());
  await t.rejects(wrong.search({ resourceType: 'MedicationRequest', filters: [], patients: ['p2'], count: 10 }, signal()), { name: 'SourceUnavailableError', message: /refused our credentials/ });
});

t.test('a static bearer token (from the environment) for test systems; a wrong one is a clear failure', async (t) => {
  const upstream = await startTestUpstream({ resources: clinicalRecords(), auth: { type: 'bearer', token: 'lab-token-123' } });
  t.teardown(() => upstream.close());
  process.env.MEDREC_TEST_LAB_TOKEN = 'lab-token-123';
  t.teardown(() => { delete process.env.MEDREC_TEST_LAB_TOKEN; });
  const adapter = (await createFhirAdapter(sourceConfig('lab', { baseUrl: upstream.baseUrl, auth: { type: 'bearer', tokenEnv: 'MEDREC_TEST_LAB_TOKEN' } }), testContext(dataDir))) as FhirUpstreamAdapter;
  t.teardown(() => adapter.close());
  t.equal((await adapter.search({ resourceType: 'Condition', filters: [], patients: ['p1'], count: 10 }, signal())).resources.length, 1);
  const wrong = (await createFhirAdapter(sourceConfig('lab2', { baseUrl: upstream.baseUrl, auth: { type: 'bearer', token: 'nope' } }), testContext(dataDir))) as FhirUpstreamAdapter;
  t.teardown(() => wrong.close());
  await t.rejects(wrong.search({ resourceType: 'Condition', filters: [], patients: ['p1'], count: 10 }, signal()), { name: 'SourceUnavailableError', message: /refused our credentials/ });
});

t.test('configuration errors name the source and the fix', async (t) => {
  await t.rejects(createFhirAdapter(sourceConfig('bad', { preset: 'cerner' }), testContext(dataDir)), /source bad \(fhir\): unknown preset/);
  await t.rejects(createFhirAdapter(sourceConfig('bad', {}), testContext(dataDir)), /baseUrl is required/);
  await t.rejects(createFhirAdapter(sourceConfig('bad', { preset: 'openmrs-fhir2' }), testContext(dataDir)), /give serverUrl/);
  await t.rejects(createFhirAdapter(sourceConfig('bad', { preset: 'epic' }), testContext(dataDir)), /auth.clientId is required/);
  await t.rejects(createFhirAdapter(sourceConfig('bad', { preset: 'epic', auth: { clientId: 'x', keyFile: '/etc/epic.pem' } }), testContext(dataDir)), /not set per source: the node signs with its one Backend Services key/);
  await t.rejects(createFhirAdapter(sourceConfig('bad', { preset: 'epic', auth: { clientId: 'x', alg: 'ES384' } }), testContext(dataDir)), /not set per source/);
  await t.rejects(createFhirAdapter(sourceConfig('bad', { baseUrl: 'ftp://x/' }), testContext(dataDir)), /must be http/);
  await t.rejects(createFhirAdapter(sourceConfig('bad', { preset: 'openmrs-fhir2', serverUrl: 'http://x', auth: { passwordEnv: 'MEDREC_NOPE_UNSET' } }), testContext(dataDir)), /MEDREC_NOPE_UNSET/);
  await t.rejects(createFhirAdapter(sourceConfig('bad', { preset: 'medrec-peer' }), testContext(dataDir)), /auth.clientId is required: the provider address this node acts as/);
  await t.rejects(createFhirAdapter(sourceConfig('bad', { preset: 'medrec-peer' }), { ...testContext(dataDir), nodeProvider: '0x00000000000000000000000000000000000000aa' }), /no resolver/);
  await t.rejects(createFhirAdapter(sourceConfig('bad', { preset: 'medrec-peer', peerProvider: '0x00000000000000000000000000000000000000bb' }), testContext(dataDir)), /set the source's provider to the peer's provider address/);
});
