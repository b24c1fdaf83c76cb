/**
 * The participant directory on a real chain (anvil with the MedRec contracts and the demo seed):
 * roles drive `fhirUser`, and a pharmacy registered on chain with a JWKS URL is a Backend
 * Services client under its own address without any configuration.
 */
import t from 'tap';
import { createServer } from 'node:http';
import { Wallet } from 'ethers';
import { Role } from '../../contracts/bindings/ParticipantDirectory.ts';
import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { startEmbeddedChain } from '../../server/embedded/chain.ts';
import { demoAddress } from '../../server/embedded/demo-identities.ts';
import { chainDirectory } from '../../smart-on-fhir/chain-directory.ts';
import { NODE_JWKS_PATH } from '../../adapters/fhir/node-keys.ts';
import { startSmartServer } from './support/smart-server.ts';

const keys = await generateKeyPair('ES384', { extractable: true });
const publicJwk: JWK = { ...(await exportJWK(keys.publicKey)), kid: 'pharmacy-on-chain', alg: 'ES384' };
const jwksServer = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [publicJwk] })));
await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
const jwksUrl = `http://127.0.0.1:${(jwksServer.address() as { port: number }).port}/jwks.json`;
t.teardown(() => new Promise<void>((resolve) => jwksServer.close(() => resolve())));

const chain = await startEmbeddedChain({
  seed: true,
  blockTime: 0,
  jwksUrl: (handle) => (handle === 'pharmacy' ? jwksUrl : ''),
  fhirBaseUrl: (handle) => (handle === 'hospital' ? 'https://hospital.example/fhir' : ''),
});
t.teardown(() => chain.stop());
const directory = chainDirectory(chain.provider, chain.addresses);

t.test('roles and names come from the directory and the provider registry', async (t) => {
  t.equal((await directory.describeParticipant(demoAddress('alice')))?.role, 'patient');
  t.equal((await directory.describeParticipant(demoAddress('clinician')))?.role, 'clinician');
  t.equal((await directory.describeParticipant(demoAddress('proxy')))?.role, 'proxy');
  const hospital = await directory.describeParticipant(demoAddress('hospital'));
  t.equal(hospital?.role, 'provider');
  t.ok(hospital?.displayName);
  t.same(await directory.resolveParticipantClient(demoAddress('alice')), undefined, 'patients are never backend clients');
});

t.test('provider-ness comes from the provider registry, not from the directory role', async (t) => {
  const hospital = demoAddress('hospital');
  t.match(await directory.resolveParticipantClient(hospital), { address: hospital, jwksUri: `https://hospital.example${NODE_JWKS_PATH}` }, "a registered provider is a backend client, with its node's keys");
  // An organisation in the directory that the providers never admitted (or removed), with keys of its own.
  const organisation = Wallet.createRandom(chain.provider);
  await chain.client.register(organisation, { role: Role.Organisation, displayName: 'Not A Provider Clinic', jwksUrl });
  const address = organisation.address.toLowerCase();
  const info = await directory.describeParticipant(address);
  t.equal(info?.role, 'organisation', 'described as an organisation, not a provider');
  t.equal(info?.displayName, 'Not A Provider Clinic');
  t.same(await directory.resolveParticipantClient(address), undefined, 'and no backend client');
  t.notOk((await directory.listParticipantClients()).some((c) => c.address === address), 'nor listed as one');
});

t.test('a pharmacy known only on chain gets a Backend Services token as its own address', async (t) => {
  const server = await startSmartServer({
    clients: [],
    resolveParticipantClient: directory.resolveParticipantClient,
    listParticipantClients: directory.listParticipantClients,
    describeParticipant: directory.describeParticipant,
  });
  t.teardown(() => server.close());
  const pharmacy = demoAddress('pharmacy');
  const page = await (await fetch(`${server.origin}/auth/clients`)).text();
  const row = page.split('<tr>').find((r) => r.includes(`<code>${pharmacy}</code>`)) ?? '';
  t.match(row, /on chain/, 'the client list shows it, known from the chain');
  t.match(row, /system\/\*\.rs system\/\*\.read/, 'with what it may ask for');
  t.notOk(page.includes(demoAddress('alice')), 'patients are not listed as clients');
  const assertion = await new SignJWT({ jti: randomUUID() })
    .setProtectedHeader({ alg: 'ES384', kid: 'pharmacy-on-chain', typ: 'JWT', jku: jwksUrl })
    .setIssuer(pharmacy)
    .setSubject(pharmacy)
    .setAudience(`${server.origin}/auth/token`)
    .setExpirationTime('4m')
    .sign(keys.privateKey);
  const res = await fetch(`${server.origin}/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'system/MedicationRequest.rs', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion }).toString(),
  });
  t.equal(res.status, 200);
  const body = (await res.json()) as { access_token: string };
  const probe = (await (await fetch(`${server.fhirBase}/Probe/1`, { headers: { authorization: `Bearer ${body.access_token}` } })).json()) as { context: { subject: string } };
  t.equal(probe.context.subject, pharmacy);
});
