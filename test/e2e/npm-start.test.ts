/**
 * The README's promise and issue 4's "done when", on `npm start` itself: the real entry point as
 * a child process (embedded chain with the seeded demo network, authorization, every demo source:
 * the bundle-backed providers, the OpenMRS SQL database and the HL7v2 feed), talked to over
 * loopback HTTP as the demo pharmacy does (SMART Backend Services with its published key). The
 * pharmacy sees every demo patient's MedicationRequests that granted it, across providers, and
 * nothing else; alice revokes with the `medrec` CLI against the run's deployment file, and the
 * same token is refused on the next request after the block.
 */
import t from 'tap';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { demoPharmacyToken } from '../../server/embedded/demo-pharmacy-token.ts';
import { demoAddress, demoWallet } from '../../server/embedded/demo-identities.ts';
import { DEMO_PATIENT_LINKS } from '../../server/embedded/demo-links.ts';
import { runCli } from '../../server/cli/medrec.ts';
import { authorizeAs, Browser } from '../smart/support/smart-server.ts';
import { fhirclientApp } from '../smart/support/fhirclient-app.ts';
import { startNpmStart } from '../support/npm-start.ts';

type Entry = { resource: { resourceType: string; id: string; subject?: { reference?: string }; meta?: { source?: string } } };
type SearchSet = { resourceType: string; type?: string; entry?: Entry[] };

const alice = demoAddress('alice');
const bob = demoAddress('bob');
const pharmacy = demoAddress('pharmacy');

const started = await startNpmStart(t, 'e2e');
const { origin: base, dataDir } = started;

async function get(path: string, token: string): Promise<{ status: number; body: SearchSet }> {
  const res = await fetch(`${base}/fhir/${path}`, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, body: (await res.json()) as SearchSet };
}
const resources = (b: SearchSet, type = 'MedicationRequest') => (b.entry ?? []).map((e) => e.resource).filter((r) => r.resourceType === type);
const sourceIdOf = (r: Entry['resource']) => r.meta?.source?.split('#')[1];

/** The block the authorization has folded, from /metrics (what an operator's scraper sees). */
async function syncedBlock(): Promise<number> {
  const metrics = await (await fetch(`${base}/metrics`)).text();
  const m = /^medrec_chain_block\{kind="synced"\} (\d+)/m.exec(metrics);
  return m ? Number(m[1]) : -1;
}

t.test('npm start serves metadata and a merged, provenance-tagged MedicationRequest searchset', async (t) => {
  t.match(started.output(), `:${new URL(base).port}/fhir/metadata`, 'the banner says where to look');
  t.match(started.output(), /npm run -s demo-token/, 'and how to get a demo token');

  const metadata = await fetch(`${base}/fhir/metadata`, { headers: { accept: 'application/fhir+json' } });
  t.equal(metadata.status, 200);
  t.equal((await metadata.json()).resourceType, 'CapabilityStatement');

  const anonymous = await fetch(`${base}/fhir/MedicationRequest?patient=${alice}`);
  t.equal(anonymous.status, 401, 'records need a token');

  const token = await demoPharmacyToken(base); // what the banner tells a newcomer to run
  const { status, body: bundle } = await get(`MedicationRequest?patient=${alice}`, token);
  t.equal(status, 200);
  t.equal(bundle.type, 'searchset');
  const providers = new Set<string>();
  for (const resource of resources(bundle)) {
    t.equal(resource.subject?.reference, `Patient/${alice}`);
    t.ok(resource.id.startsWith(`${sourceIdOf(resource)}.`), 'id prefix and meta.source agree');
    providers.add(resource.meta?.source as string);
  }
  t.ok(providers.size >= 2, `records from ${providers.size} providers`);
  t.ok(providers.has(`urn:medrec:provider:${demoAddress('hospital')}#hospital`));
  t.ok(providers.has(`urn:medrec:provider:${demoAddress('pharmacy-records')}#pharmacy-records`));

  t.equal((await fetch(`${base}/readyz`)).status, 200);
});

t.test('done when: the pharmacy sees every granting patient’s MedicationRequests across providers and nothing else; a CLI revocation refuses it on the next request after the block', async (t) => {
  // What alice herself sees, through the demo patient app (standalone launch, SIWE as alice).
  const app = fhirclientApp('127.0.0.1:8000');
  const authUrl = await app.authorize('/launch', {
    iss: `${base}/fhir`,
    clientId: 'medrec-demo-patient-app',
    scope: 'launch/patient patient/*.rs',
    redirectUri: 'http://127.0.0.1:8000/callback',
    pkceMode: 'required',
  });
  const { redirect } = await authorizeAs(new Browser(base), authUrl, demoWallet('alice'));
  const aliceApp = await app.ready(redirect);
  const alicesOwn = resources((await aliceApp.request(`MedicationRequest?patient=${alice}&_count=500`)) as SearchSet);

  const token = await demoPharmacyToken(base, 'system/MedicationRequest.rs system/Medication.rs system/Patient.r');
  const all = await get('MedicationRequest?_count=500', token);
  t.equal(all.status, 200);
  const seen = resources(all.body);
  t.same([...new Set(seen.map((r) => r.subject?.reference))].sort(), [`Patient/${alice}`, `Patient/${bob}`].sort(), 'alice and bob granted it; carol and dave did not');
  t.same(
    seen.filter((r) => r.subject?.reference === `Patient/${alice}`).map((r) => r.id).sort(),
    alicesOwn.map((r) => r.id).sort(),
    "every one of alice's MedicationRequests, as she sees them herself",
  );
  for (const patient of ['alice', 'bob']) {
    const linked = new Set(DEMO_PATIENT_LINKS.filter((l) => l.patient === patient).map((l) => l.sourceId));
    const from = new Set(seen.filter((r) => r.subject?.reference === `Patient/${demoAddress(patient)}`).map(sourceIdOf));
    t.ok(from.size >= 2, `${patient}'s come from ${[...from].join(', ')}`);
    t.ok([...from].every((s) => s !== undefined && linked.has(s)), `only from providers that hold ${patient}'s records`);
  }
  t.ok(new Set(seen.map(sourceIdOf)).has('openmrs-clinic'), 'the SQL (OpenMRS) source answers');
  t.ok(new Set(seen.map(sourceIdOf)).has('hl7-hospital'), 'the HL7v2 feed answers');

  t.equal((await get(`MedicationRequest?patient=${demoAddress('carol')}`, token)).status, 403, 'a patient who did not grant it');
  t.equal((await get(`MedicationRequest?patient=${demoAddress('dave')}`, token)).status, 403);
  t.equal((await get(`Patient/${alice}`, token)).status, 403, 'a type in the token but outside the grant');
  t.equal((await get(`Patient?_id=${alice}`, token)).status, 403);

  // alice revokes with the CLI, against this run's deployment file, relayed (she has no ether).
  const cli = async (...argv: string[]): Promise<unknown> => {
    let out = '';
    let err = '';
    const code = await runCli(['--deployment', join(dataDir, 'chain', 'deployment.json'), '--demo', 'alice', '--json', ...argv], {
      env: {},
      write: (s) => (out += s),
      error: (s) => (err += s),
    });
    t.equal(code, 0, `medrec ${argv.join(' ')} ${err}`);
    return JSON.parse(out);
  };
  const grants = (await cli('grant', 'list', '--active')) as { id: string; grantee: string }[];
  const grant = grants.find((g) => g.grantee.toLowerCase() === pharmacy);
  t.ok(grant, "alice's grant to the pharmacy is listed");
  const revoked = (await cli('grant', 'revoke', String(grant?.id))) as { blockNumber: number; relayed: boolean };
  t.ok(revoked.relayed, 'relayed: the patient needs no ether');
  while ((await syncedBlock()) < revoked.blockNumber) await sleep(50); // bounded by tap's timeout

  t.equal((await get(`MedicationRequest?patient=${alice}`, token)).status, 403, 'the same token is refused for alice');
  const after = resources((await get('MedicationRequest?_count=500', token)).body);
  t.same([...new Set(after.map((r) => r.subject?.reference))], [`Patient/${bob}`], "only bob's remain");
});

t.test('SIGTERM shuts down cleanly', async (t) => {
  t.equal(await started.stop(), 0);
});
