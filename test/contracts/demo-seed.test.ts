import t from 'tap';
import { readFileSync, readdirSync } from 'node:fs';
import { getBytes } from 'ethers';
import { Purpose, RequestStatus, ParticipationStatus } from '../../contracts/bindings/Consent.ts';
import { Role } from '../../contracts/bindings/ParticipantDirectory.ts';
import { verifyLink } from '../../contracts/link-commitment.ts';
import { startEmbeddedChain } from '../../server/embedded/chain.ts';
import { DEMO_CAST, demoAddress } from '../../server/embedded/demo-identities.ts';
import { DEMO_PATIENT_LINKS } from '../../server/embedded/demo-links.ts';

const chain = await startEmbeddedChain({ blockTime: 0 });
t.teardown(() => chain.stop());
const { client } = chain;
const seed = chain.seed;
if (!seed) throw new Error('the embedded chain was not seeded');
const addr = (handle: string) => demoAddress(handle);
const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

t.test('the network: founders from deployment, hl7-hospital voted in; validators are their nodes', async (t) => {
  const providers = await client.listProviders();
  t.same(
    providers.map((p) => p.account.toLowerCase()).sort(),
    ['hospital', 'clinic', 'pharmacy-records', 'openmrs-clinic', 'hl7-hospital'].map(addr).sort(),
  );
  const admitted = (await chain.provider.getLogs({ address: chain.addresses.providerRegistry, fromBlock: 0 }))
    .map((l) => client.decodeLog(l))
    .filter((e) => e?.name === 'ProviderAdmitted');
  const voted = admitted.find((e) => e && e.name === 'ProviderAdmitted' && same(e.args.provider, addr('hl7-hospital')));
  t.ok(voted && voted.name === 'ProviderAdmitted' && voted.args.motionId > 0n, 'hl7-hospital joined by a motion');
  t.equal((await client.getValidators()).length, 5);
});

t.test('participants are registered; patients without a name and without ether', async (t) => {
  for (const identity of DEMO_CAST.filter((i) => ['patient', 'pharmacy', 'proxy', 'researcher', 'clinician'].includes(i.role))) {
    const p = await client.getParticipant(addr(identity.handle));
    t.not(p.role, Role.None, `${identity.handle} registered`);
    if (identity.role === 'patient') {
      t.equal(p.displayName, '', `${identity.handle} has no name on chain`);
      t.equal(await chain.provider.getBalance(addr(identity.handle)), 0n, `${identity.handle} holds no ether`);
    }
  }
});

t.test('relationships carry commitments the providers can prove with their salts', async (t) => {
  const expected = new Set(DEMO_PATIENT_LINKS.map((l) => `${l.sourceId}:${l.patient}`));
  t.equal(seed.links.reduce((n, l) => n + l.links.length, 0), expected.size, 'every demo link is committed');
  for (const link of seed.links) {
    const r = await client.getRelationship(link.provider, link.patient);
    t.ok(r.active, `${link.providerHandle} holds records for ${link.patientHandle}`);
    t.ok(verifyLink(link, r.commitment), `${link.providerHandle}/${link.patientHandle} commitment verifies`);
  }
});

t.test('grants: pharmacy gets medications of alice and bob from any provider; clinician gets alice at the hospital', async (t) => {
  const pharmacyGrants = await client.listGrants({ grantee: addr('pharmacy') });
  t.same(pharmacyGrants.map((g) => g.patient.toLowerCase()).sort(), [addr('alice'), addr('bob')].sort(), 'not carol, not dave');
  for (const g of pharmacyGrants) {
    t.same(g.terms.providers, [], 'any provider');
    t.same(g.terms.resourceTypes, ['MedicationRequest', 'Medication', 'MedicationDispense']);
    t.ok(g.active);
  }
  const clinician = await client.listGrants({ grantee: addr('clinician') });
  t.equal(clinician.length, 1);
  t.match(clinician[0], { active: true, terms: { resourceTypes: [], purpose: Purpose.Treatment } });
  t.ok(same(clinician[0]?.patient ?? '', addr('alice')));
  t.same(clinician[0]?.terms.providers.map((p) => p.toLowerCase()), [addr('hospital')]);
});

t.test("dave's healthcare proxy, carol's study invitation, bob's open access request", async (t) => {
  t.ok(await client.consent.read('isProxy', addr('dave'), addr('proxy')));
  const participation = await client.getParticipation(seed.studyId, addr('carol'));
  t.equal(participation.status, ParticipationStatus.Invited);
  const request = await client.consent.read('getRequest', seed.requestId);
  t.equal(request.status, RequestStatus.Pending);
  t.ok(same(request.patient, addr('bob')) && same(request.requester, addr('clinician')));
});

t.test('no name, MRN, local id or clinical text went on chain in any seeding transaction', async (t) => {
  // What must never appear: patient names (cast and fixtures), local ids, identifiers, clinical text.
  const forbidden = new Set<string>();
  for (const i of DEMO_CAST.filter((c) => c.role === 'patient')) {
    forbidden.add(i.displayName);
    forbidden.add(i.displayName.split(' ').pop() ?? '');
  }
  for (const l of DEMO_PATIENT_LINKS) forbidden.add(l.localId);
  const dataDir = new URL('../../server/embedded/demo-data/', import.meta.url);
  const walk = (v: unknown, key = ''): void => {
    if (typeof v === 'string') {
      if (key === 'family' || key === 'given' || key === 'birthDate') forbidden.add(v);
      else if ((key === 'text' || key === 'display') && v.length >= 6) forbidden.add(v);
      else if (key === 'value' && v.length >= 4 && !/^https?:/.test(v)) forbidden.add(v); // identifiers, values
      return;
    }
    if (Array.isArray(v)) return v.forEach((x) => walk(x, key));
    if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, k);
  };
  for (const file of readdirSync(dataDir).filter((f) => f.endsWith('.json'))) {
    const bundle = JSON.parse(readFileSync(new URL(file, dataDir), 'utf8')) as { entry?: { resource?: { resourceType?: string } }[] };
    for (const entry of bundle.entry ?? []) if (entry.resource?.resourceType !== 'Organization') walk(entry.resource);
  }
  // Public on chain by design: FHIR type names and organisations' own names (a fixture may repeat them).
  const allowed = ['Observation', 'Condition', 'MedicationRequest', 'Medication', 'MedicationDispense', 'AllergyIntolerance']
    .concat(DEMO_CAST.filter((c) => c.role !== 'patient').map((c) => c.displayName))
    .map((s) => s.toLowerCase());
  const needles = [...forbidden]
    .map((s) => s.toLowerCase())
    .filter((s) => s.length >= 3 && !allowed.some((a) => a.includes(s)));
  t.ok(needles.length > 10, `scanning for ${needles.length} identifying strings`);

  const hashes = [...seed.transactions];
  // the deployment's own transactions too
  for (let b = chain.deployment.fromBlock; b <= chain.deployment.fromBlock + 3; b++) {
    const block = await chain.provider.getBlock(b);
    hashes.push(...(block?.transactions ?? []));
  }
  let scannedBytes = 0;
  let controlFound = false;
  for (const hash of new Set(hashes)) {
    const tx = await chain.provider.getTransaction(hash);
    const receipt = await chain.provider.getTransactionReceipt(hash);
    const blobs = [tx?.data ?? '0x', ...(receipt?.logs ?? []).flatMap((l) => [l.data, ...l.topics])];
    for (const blob of blobs) {
      const text = Buffer.from(getBytes(blob)).toString('latin1').toLowerCase();
      scannedBytes += text.length;
      if (text.includes('mercy general hospital')) controlFound = true;
      const hit = needles.find((n) => text.includes(n));
      if (hit) t.fail(`transaction ${hash} carries "${hit}"`);
    }
  }
  t.ok(controlFound, 'control: the scan does see strings that are on chain (a provider name)');
  t.ok(scannedBytes > 10_000, `scanned ${scannedBytes} bytes of ${new Set(hashes).size} transactions`);
});
