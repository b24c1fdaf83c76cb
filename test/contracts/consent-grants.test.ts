import t from 'tap';
import { Purpose } from '../../contracts/bindings/Consent.ts';
import { ALL, rejectsWith, testChain } from './helpers.ts';

const chain = await testChain(t);
const hospital = await chain.wallet({ funded: true });
const clinic = await chain.wallet({ funded: true });
const { client } = await chain.deploy([hospital, clinic], 'direct');
// Patients with ether act directly here; consent-signed.test.ts covers the relayed path.
const patient = await chain.wallet({ funded: true });
const proxy = await chain.wallet({ funded: true });
const pharmacy = await chain.wallet({ funded: true });
const stranger = await chain.wallet({ funded: true });

t.test('a patient grants a pharmacy MedicationRequest from any provider; the grant is readable back', async (t) => {
  const terms = { ...ALL, resourceTypes: ['MedicationRequest', 'MedicationDispense'], actions: 3, purpose: Purpose.Treatment };
  const created = await client.createGrant(patient, { patient: patient.address, grantee: pharmacy.address, terms });
  const grant = await client.getGrant(created.grantId);
  t.match(grant, { patient: patient.address, grantee: pharmacy.address, issuer: patient.address, revoked: false, active: true });
  t.same(grant.terms.providers, [], 'any provider');
  t.same(grant.terms.resourceTypes, ['MedicationRequest', 'MedicationDispense']);
  t.same(await client.consent.read('grantIdsByPatient', patient.address), [created.grantId]);
  t.same(await client.consent.read('grantIdsByGrantee', pharmacy.address), [created.grantId]);
  const ev = created.events.find((e) => e.name === 'GrantCreated');
  t.match(ev?.args, {
    grantId: created.grantId,
    patient: patient.address,
    grantee: pharmacy.address,
    issuer: patient.address,
    providers: [],
    resourceTypes: ['MedicationRequest', 'MedicationDispense'],
    actions: 3,
    purpose: Purpose.Treatment,
    notBefore: 0,
    expiresAt: 0,
  });
});

t.test('grants can name providers; terms are validated', async (t) => {
  const scoped = await client.createGrant(patient, {
    patient: patient.address,
    grantee: stranger.address,
    terms: { ...ALL, providers: [hospital.address], resourceTypes: ['Observation'], actions: 1, purpose: Purpose.Research },
  });
  t.same((await client.getGrant(scoped.grantId)).terms.providers, [hospital.address]);
  const now = await chain.now();
  const bad = (terms: object, name: string, why: string) =>
    rejectsWith(t, client.createGrant(patient, { patient: patient.address, grantee: pharmacy.address, terms: { ...ALL, ...terms } }), name, why);
  await bad({ actions: 0 }, 'InvalidTerms', 'no actions');
  await bad({ actions: 4 }, 'InvalidTerms', 'unknown action bit');
  await bad({ expiresAt: now - 10 }, 'InvalidTerms', 'already expired');
  await bad({ notBefore: now + 100, expiresAt: now + 50 }, 'InvalidTerms', 'window ends before it starts');
  await bad({ providers: ['0x0000000000000000000000000000000000000000'] }, 'InvalidTerms', 'zero provider');
  await bad({ resourceTypes: ['medicationrequest'] }, 'InvalidResourceType', 'lower-case type');
  await bad({ resourceTypes: ['Patient name Alice'] }, 'InvalidResourceType', 'free text is not a type');
  await bad({ resourceTypes: [''] }, 'InvalidResourceType', 'empty type');
  await bad({ resourceTypes: Array.from({ length: 65 }, () => 'Observation') }, 'ListTooLong', 'bounded lists');
  await rejectsWith(t, client.createGrant(patient, { patient: patient.address, grantee: patient.address, terms: ALL }), 'InvalidGrantee');
  await rejectsWith(t, client.createGrant(stranger, { patient: patient.address, grantee: pharmacy.address, terms: ALL }), 'NotPatientOrProxy');
  await rejectsWith(t, client.consent.read('getGrant', 999n), 'UnknownGrant');
});

t.test('revocation: by the patient, not by someone else; takes effect at once', async (t) => {
  const { grantId } = await client.createGrant(patient, { patient: patient.address, grantee: pharmacy.address, terms: ALL });
  await rejectsWith(t, client.revokeGrant(stranger, grantId), 'NotAuthorizedToRevoke', 'a stranger cannot revoke');
  await rejectsWith(t, client.revokeGrant(pharmacy, grantId), 'NotAuthorizedToRevoke', 'the grantee cannot revoke');
  const revoked = await client.revokeGrant(patient, grantId);
  t.match(revoked.events[0], { name: 'GrantRevoked', args: { grantId, patient: patient.address, by: patient.address } });
  t.match(await client.getGrant(grantId), { revoked: true, active: false });
  await rejectsWith(t, client.revokeGrant(patient, grantId), 'GrantAlreadyRevoked');
  await rejectsWith(t, client.revokeGrant(patient, 999n), 'UnknownGrant');
});

t.test('not-before and expiry follow chain time', async (t) => {
  const now = await chain.now();
  const { grantId } = await client.createGrant(patient, {
    patient: patient.address,
    grantee: pharmacy.address,
    terms: { ...ALL, notBefore: now + 1000, expiresAt: now + 5000 },
  });
  t.notOk(await client.consent.read('isGrantActive', grantId), 'not yet');
  await chain.increaseTime(2000);
  t.ok(await client.consent.read('isGrantActive', grantId), 'inside the window');
  await chain.increaseTime(4000);
  t.notOk(await client.consent.read('isGrantActive', grantId), 'expired');
  t.notOk(await client.consent.read('isGrantActive', 0n), 'id 0 is never a grant');
});

t.test('a healthcare proxy acts as the patient until its delegation is revoked or expires', async (t) => {
  await rejectsWith(t, client.createGrant(proxy, { patient: patient.address, grantee: pharmacy.address, terms: ALL }), 'NotPatientOrProxy', 'not yet a proxy');
  const set = await client.setDelegation(patient, proxy.address, 0);
  t.match(set.events[0], { name: 'DelegationSet', args: { patient: patient.address, proxy: proxy.address, expiresAt: 0 } });
  t.ok(await client.consent.read('isProxy', patient.address, proxy.address));
  t.same(await client.consent.read('proxiesOf', patient.address), [proxy.address]);
  t.same(await client.consent.read('principalsOf', proxy.address), [patient.address]);

  const byProxy = await client.createGrant(proxy, { patient: patient.address, grantee: pharmacy.address, terms: ALL });
  t.equal((await client.getGrant(byProxy.grantId)).issuer, proxy.address, 'the proxy is recorded as issuer');
  const patientGrant = await client.createGrant(patient, { patient: patient.address, grantee: stranger.address, terms: ALL });
  await client.revokeGrant(proxy, patientGrant.grantId);
  t.ok((await client.getGrant(patientGrant.grantId)).revoked, "the proxy manages the patient's grants");

  await client.setDelegation(proxy, stranger.address, 0);
  t.same(await client.consent.read('proxiesOf', patient.address), [proxy.address], "a proxy's own delegation is not the patient's");
  t.notOk(await client.consent.read('isProxy', patient.address, stranger.address), 'proxies are not transitive');
  await rejectsWith(t, client.revokeDelegation(stranger, patient.address, proxy.address), 'NotPatientOrProxy');
  const revoked = await client.revokeDelegation(patient, patient.address, proxy.address);
  t.match(revoked.events[0], { name: 'DelegationRevoked', args: { patient: patient.address, proxy: proxy.address, by: patient.address } });
  await rejectsWith(t, client.revokeDelegation(patient, patient.address, proxy.address), 'NoDelegation');
  await rejectsWith(
    t,
    client.createGrant(proxy, { patient: patient.address, grantee: pharmacy.address, terms: ALL }),
    'NotPatientOrProxy',
    'a revoked proxy can no longer grant',
  );
  // the grant it issued while in office can still be revoked by it (it only narrows access)
  await client.revokeGrant(proxy, byProxy.grantId);

  const now = await chain.now();
  await client.setDelegation(patient, proxy.address, now + 100);
  await client.createGrant(proxy, { patient: patient.address, grantee: pharmacy.address, terms: ALL });
  await chain.increaseTime(200);
  t.notOk(await client.consent.read('isProxy', patient.address, proxy.address), 'expired');
  await rejectsWith(t, client.createGrant(proxy, { patient: patient.address, grantee: pharmacy.address, terms: ALL }), 'NotPatientOrProxy', 'an expired proxy cannot grant');
  const stepDown = await client.revokeDelegation(proxy, patient.address, proxy.address);
  t.match(stepDown.events[0]?.args, { by: proxy.address }, 'a proxy may step down');
  await rejectsWith(t, client.setDelegation(patient, proxy.address, now - 1), 'InvalidTerms', 'no delegation that is already over');
  await rejectsWith(t, client.setDelegation(patient, patient.address, 0), 'InvalidGrantee');
});

t.test('every account holding a delegation can be listed from the contract, a page at a time', async (t) => {
  const { client } = await chain.deploy([hospital], 'direct');
  const [p1, p2, x, y, z] = await Promise.all([1, 2, 3, 4, 5].map(() => chain.wallet({ funded: true })));
  const page = async (offset: number, limit: number) => (await client.consent.read('delegatesPage', BigInt(offset), BigInt(limit))).map((a) => a.toLowerCase());
  await client.setDelegation(p1!, x!.address, 0);
  await client.setDelegation(p1!, y!.address, 0);
  await client.setDelegation(p2!, y!.address, 0);
  await client.setDelegation(p2!, z!.address, 0);
  t.equal(await client.consent.read('delegateCount'), 3n, 'y counts once for its two patients');
  t.same([...(await page(0, 2)), ...(await page(2, 2))].sort(), [x!, y!, z!].map((w) => w.address.toLowerCase()).sort());
  t.same(await page(3, 2), [], 'past the end: an empty page');
  await client.revokeDelegation(p1!, p1!.address, y!.address);
  t.equal(await client.consent.read('delegateCount'), 3n, 'y still acts for p2');
  await client.revokeDelegation(p2!, p2!.address, y!.address);
  t.same((await page(0, 10)).sort(), [x!, z!].map((w) => w.address.toLowerCase()).sort(), 'without mandates y leaves the list');
});
