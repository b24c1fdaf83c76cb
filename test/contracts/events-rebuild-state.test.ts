/**
 * A log follower must rebuild the whole state from events alone, without calls. This folds every
 * MedRec event of a busy scenario into plain maps and compares them with the view functions.
 */
import t from 'tap';
import { Purpose } from '../../contracts/bindings/Consent.ts';
import { Role } from '../../contracts/bindings/ParticipantDirectory.ts';
import { MotionStatus } from '../../contracts/bindings/ProviderRegistry.ts';
import type { MedRecLog } from '../../contracts/client.ts';
import { linkCommitment, newLinkSalt } from '../../contracts/link-commitment.ts';
import { ALL, nodeOf, testChain } from './helpers.ts';

const chain = await testChain(t);
const [h, c, p3] = [await chain.wallet({ funded: true }), await chain.wallet({ funded: true }), await chain.wallet({ funded: true })];
const { client, deployment } = await chain.deploy([h, c]);
const patients = [await chain.wallet(), await chain.wallet(), await chain.wallet()] as const;
const [alice, bob, carol] = patients;
const proxy = await chain.wallet();
const pharmacy = await chain.wallet({ funded: true });
const researcher = await chain.wallet({ funded: true });

// ---- a busy scenario
const m = await client.proposeAdmission(h, { account: p3.address, name: 'Third', fhirBaseUrl: 'https://3.example', node: nodeOf(p3.address) });
await client.vote(c, m.motionId);
await client.updateProvider(c, { name: 'Clinic renamed', fhirBaseUrl: 'https://c2.example', node: nodeOf(c.address) });
const removal = await client.proposeRemoval(h, p3.address);
await client.rescind(h, removal.motionId);
// Two motions lapse: one is closed by a new motion about its subject, the other by anyone.
const newcomer = await chain.wallet();
const newcomerRecord = { account: newcomer.address, name: 'Newcomer', fhirBaseUrl: 'https://n.example', node: nodeOf(newcomer.address) };
await client.proposeAdmission(h, newcomerRecord);
const stale = await client.proposeRemoval(h, p3.address);
await chain.increaseTime(30 * 86_400);
await client.proposeAdmission(c, newcomerRecord);
for (const who of patients) await client.register(who, { role: Role.Patient });
await client.register(pharmacy, { role: Role.Pharmacy, displayName: 'Pharmacy', jwksUrl: 'https://ph.example/jwks' });
await client.register(researcher, { role: Role.Researcher, displayName: 'Lab' });
await client.expireMotion(pharmacy, stale.motionId);
for (const who of patients) {
  const commitment = linkCommitment({ provider: h.address, patient: who.address, salt: newLinkSalt(), links: [{ sourceId: 'h', localId: who.address.slice(2, 8) }] });
  await client.addRelationship(h, who.address, commitment);
}
await client.updateCommitment(h, alice.address, `0x${'ab'.repeat(32)}`);
await client.endRelationship(bob, h.address, bob.address);
await client.announceRecordsChanged(h, alice.address, ['Observation']);
const g1 = await client.createGrant(alice, { patient: alice.address, grantee: pharmacy.address, terms: { ...ALL, resourceTypes: ['MedicationRequest'] } });
const g2 = await client.createGrant(bob, { patient: bob.address, grantee: pharmacy.address, terms: { ...ALL, providers: [h.address], expiresAt: (await chain.now()) + 9999 } });
await client.revokeGrant(bob, g2.grantId);
await client.setDelegation(carol, proxy.address, 0);
await client.createGrant(proxy, { patient: carol.address, grantee: researcher.address, terms: { ...ALL, actions: 2, purpose: Purpose.Operations } });
await client.setDelegation(alice, proxy.address, (await chain.now()) + 5000);
await client.revokeDelegation(alice, alice.address, proxy.address);
const r1 = await client.requestAccess(pharmacy, carol.address, { ...ALL, resourceTypes: ['Immunization'] });
await client.answerRequest(proxy, r1.requestId, true);
const r2 = await client.requestAccess(pharmacy, alice.address, ALL);
await client.answerRequest(alice, r2.requestId, false);
const r3 = await client.requestAccess(pharmacy, bob.address, ALL);
await client.cancelRequest(pharmacy, r3.requestId);
await client.requestAccess(researcher, bob.address, ALL);
const s1 = await client.openStudy(researcher, 'Study', { ...ALL, resourceTypes: ['Condition'], purpose: Purpose.Research });
await client.invite(researcher, s1.studyId, [alice.address, bob.address, carol.address]);
await client.enroll(alice, s1.studyId, alice.address);
await client.enroll(bob, s1.studyId, bob.address);
await client.withdraw(bob, s1.studyId, bob.address);
await client.closeStudy(researcher, s1.studyId);
await client.register(pharmacy, { role: Role.Pharmacy, displayName: 'x' }).catch(() => undefined); // refused: no event

// ---- the follower: events only
const logs: MedRecLog[] = (
  await chain.provider.getLogs({ address: Object.values(deployment.addresses), fromBlock: deployment.fromBlock, toBlock: 'latest' })
)
  .map((l) => client.decodeLog(l))
  .filter((e): e is MedRecLog => e !== null);

const providers = new Map<string, { name: string; fhirBaseUrl: string; node: string }>();
const participants = new Map<string, { role: number; displayName: string; jwksUrl: string }>();
const relationships = new Map<string, string>();
const grants = new Map<bigint, { patient: string; grantee: string; issuer: string; providers: string[]; resourceTypes: string[]; actions: number; purpose: number; notBefore: number; expiresAt: number; revoked: boolean }>();
const delegations = new Map<string, number>();
const requests = new Map<bigint, { status: number; grantId: bigint; resourceTypes: string[] }>();
const studies = new Map<bigint, { researcher: string; title: string; open: boolean; resourceTypes: string[] }>();
const participation = new Map<string, { status: number; grantId: bigint }>();
const motions = new Map<bigint, { subject: string; status: MotionStatus }>();
const settle = (motionId: bigint, status: MotionStatus): void => {
  motions.set(motionId, { ...motions.get(motionId)!, status });
};
let recordsChanged = 0;

for (const e of logs) {
  switch (e.name) {
    case 'ProviderAdmitted':
      if (e.args.motionId !== 0n) settle(e.args.motionId, MotionStatus.Passed);
      providers.set(e.args.provider, { name: e.args.name, fhirBaseUrl: e.args.fhirBaseUrl, node: e.args.node });
      break;
    case 'ProviderUpdated':
      providers.set(e.args.provider, { name: e.args.name, fhirBaseUrl: e.args.fhirBaseUrl, node: e.args.node });
      break;
    case 'ProviderRemoved':
      settle(e.args.motionId, MotionStatus.Passed);
      providers.delete(e.args.provider);
      break;
    case 'ProviderProposed':
      motions.set(e.args.motionId, { subject: e.args.subject, status: MotionStatus.Open });
      break;
    case 'ProviderRescinded':
      settle(e.args.motionId, MotionStatus.Rescinded);
      break;
    case 'ProviderMotionLapsed':
      settle(e.args.motionId, MotionStatus.Lapsed);
      break;
    case 'ParticipantRegistered':
    case 'ParticipantUpdated':
      participants.set(e.args.account, { role: e.args.role, displayName: e.args.displayName, jwksUrl: e.args.jwksUrl });
      break;
    case 'ParticipantRemoved':
      participants.delete(e.args.account);
      break;
    case 'RelationshipAdded':
    case 'RelationshipUpdated':
      relationships.set(`${e.args.provider}/${e.args.patient}`, e.args.commitment);
      break;
    case 'RelationshipEnded':
      relationships.delete(`${e.args.provider}/${e.args.patient}`);
      break;
    case 'RecordsChanged':
      recordsChanged++;
      break;
    case 'GrantCreated': {
      const { grantId, ...rest } = e.args;
      grants.set(grantId, { ...rest, revoked: false });
      break;
    }
    case 'GrantRevoked': {
      const g = grants.get(e.args.grantId);
      if (g) g.revoked = true;
      break;
    }
    case 'DelegationSet':
      delegations.set(`${e.args.patient}/${e.args.proxy}`, e.args.expiresAt);
      break;
    case 'DelegationRevoked':
      delegations.delete(`${e.args.patient}/${e.args.proxy}`);
      break;
    case 'AccessRequested':
      requests.set(e.args.requestId, { status: 1, grantId: 0n, resourceTypes: e.args.resourceTypes });
      break;
    case 'AccessApproved':
      requests.set(e.args.requestId, { ...requests.get(e.args.requestId)!, status: 2, grantId: e.args.grantId });
      break;
    case 'AccessDeclined':
      requests.set(e.args.requestId, { ...requests.get(e.args.requestId)!, status: 3 });
      break;
    case 'AccessRequestCancelled':
      requests.set(e.args.requestId, { ...requests.get(e.args.requestId)!, status: 4 });
      break;
    case 'StudyOpened':
      studies.set(e.args.studyId, { researcher: e.args.researcher, title: e.args.title, open: true, resourceTypes: e.args.resourceTypes });
      break;
    case 'StudyClosed':
      studies.set(e.args.studyId, { ...studies.get(e.args.studyId)!, open: false });
      break;
    case 'StudyInvited':
      participation.set(`${e.args.studyId}/${e.args.patient}`, { status: 1, grantId: 0n });
      break;
    case 'StudyEnrolled':
      participation.set(`${e.args.studyId}/${e.args.patient}`, { status: 2, grantId: e.args.grantId });
      break;
    case 'StudyWithdrawn':
      participation.set(`${e.args.studyId}/${e.args.patient}`, { status: 3, grantId: e.args.grantId });
      break;
    case 'ProviderVoted':
      break;
  }
}

t.test('providers rebuilt from events equal the registry views', async (t) => {
  const records = await client.listProviders();
  t.same(
    [...providers.entries()].map(([account, r]) => ({ account, ...r })).sort((a, b) => a.account.localeCompare(b.account)),
    records.map((r) => ({ ...r })).sort((a, b) => a.account.localeCompare(b.account)),
  );
});

t.test('motions rebuilt from events equal getMotion, a lapsed one included; one open motion per subject', async (t) => {
  t.equal(BigInt(motions.size), await client.registry.read('motionCount'));
  for (const [id, m] of motions) {
    const { motion } = await client.registry.read('getMotion', id);
    t.same({ subject: motion.subject, status: motion.status }, m, `motion ${id}`);
  }
  t.same([...motions.values()].map((m) => m.status), [MotionStatus.Passed, MotionStatus.Rescinded, MotionStatus.Lapsed, MotionStatus.Lapsed, MotionStatus.Open]);
  const open = [...motions.values()].filter((m) => m.status === MotionStatus.Open).map((m) => m.subject);
  t.same(open, [...new Set(open)]);
});

t.test('participants and relationships rebuilt from events equal the views', async (t) => {
  for (const [account, entry] of participants) t.match(await client.getParticipant(account), entry, account);
  t.equal(participants.size, Number(await client.directory.read('participantCount')));
  for (const who of patients) {
    const fromEvents = relationships.get(`${h.address}/${who.address}`);
    const view = await client.getRelationship(h.address, who.address);
    t.equal(view.active, fromEvents !== undefined);
    if (fromEvents) t.equal(view.commitment, fromEvents);
  }
  t.equal(recordsChanged, 1);
});

t.test('grants rebuilt from events equal getGrant for every id', async (t) => {
  t.equal(BigInt(grants.size), await client.consent.read('grantCount'));
  for (const [id, g] of grants) {
    const view = await client.consent.read('getGrant', id);
    t.same({ patient: view.patient, grantee: view.grantee, issuer: view.issuer, revoked: view.revoked, ...view.terms }, g, `grant ${id}`);
  }
});

t.test('delegations, requests, studies and participation rebuilt from events equal the views', async (t) => {
  for (const who of patients) {
    const proxies = await client.consent.read('proxiesOf', who.address);
    const fromEvents = [...delegations.keys()].filter((k) => k.startsWith(`${who.address}/`)).map((k) => k.split('/')[1]);
    t.same(proxies, fromEvents, `proxies of ${who.address}`);
    for (const proxyAddress of proxies) {
      t.equal((await client.consent.read('getDelegation', who.address, proxyAddress)).expiresAt, delegations.get(`${who.address}/${proxyAddress}`));
    }
  }
  t.equal(BigInt(requests.size), await client.consent.read('requestCount'));
  for (const [id, r] of requests) {
    const view = await client.consent.read('getRequest', id);
    t.same({ status: view.status, grantId: view.grantId, resourceTypes: view.terms.resourceTypes }, r, `request ${id}`);
  }
  for (const [id, s] of studies) {
    const view = await client.getStudy(id);
    t.same({ researcher: view.researcher, title: view.title, open: view.open, resourceTypes: view.terms.resourceTypes }, s);
  }
  for (const [key, part] of participation) {
    const [studyId, patient] = key.split('/') as [string, string];
    t.same(await client.getParticipation(BigInt(studyId), patient), part, key);
  }
  t.equal(participation.size, 3);
});
