import t from 'tap';
import { Role } from '../../contracts/bindings/ParticipantDirectory.ts';
import { deriveLinkSalt, linkCommitment, newLinkSalt, verifyLink } from '../../contracts/link-commitment.ts';
import { nodeOf, rejectsWith, testChain } from './helpers.ts';

const chain = await testChain(t);
const hospital = await chain.wallet({ funded: true });
const clinic = await chain.wallet({ funded: true });
const { client } = await chain.deploy([hospital, clinic], 'direct');
const stranger = await chain.wallet({ funded: true });

t.test('participants register themselves; patients may not publish a name', async (t) => {
  const pharmacy = await chain.wallet({ funded: true });
  const registered = await client.register(pharmacy, { role: Role.Pharmacy, displayName: 'Corner Pharmacy', jwksUrl: 'https://pharmacy.example/jwks.json' });
  t.match(registered.events[0], {
    name: 'ParticipantRegistered',
    args: { account: pharmacy.address, role: Role.Pharmacy, displayName: 'Corner Pharmacy', jwksUrl: 'https://pharmacy.example/jwks.json' },
  });
  t.match(await client.getParticipant(pharmacy.address), { role: Role.Pharmacy, displayName: 'Corner Pharmacy' });
  await rejectsWith(t, client.register(pharmacy, { role: Role.Pharmacy, displayName: 'Again' }), 'AlreadyRegistered');

  const patient = await chain.wallet({ funded: true });
  await rejectsWith(t, client.register(patient, { role: Role.Patient, displayName: 'Alice Smith' }), 'PatientNameNotAllowed');
  await rejectsWith(t, client.register(patient, { role: Role.Clinician, displayName: '' }), 'DisplayNameRequired');
  await rejectsWith(t, client.register(patient, { role: Role.None }), 'InvalidRole');
  await rejectsWith(t, client.register(patient, { role: Role.Clinician, displayName: 'x'.repeat(129) }), 'TextTooLong');
  await client.register(patient, { role: Role.Patient });
  t.equal(await client.directory.read('roleOf', patient.address), Role.Patient);

  const updated = await client.directory.connect(pharmacy).write('update', [Role.Organisation, 'Corner Pharmacy Ltd', '']);
  await updated.wait();
  t.match(await client.getParticipant(pharmacy.address), { role: Role.Organisation, displayName: 'Corner Pharmacy Ltd', jwksUrl: '' });
  await rejectsWith(t, client.directory.connect(stranger).simulate('update', [Role.Clinician, 'X', '']), 'NotRegistered');
  await rejectsWith(t, client.directory.connect(pharmacy).simulate('update', [Role.Patient, 'Named', '']), 'PatientNameNotAllowed');

  t.equal(await client.directory.read('participantCount'), 2n);
  await (await client.directory.connect(pharmacy).write('unregister', [])).wait();
  t.equal(await client.directory.read('roleOf', pharmacy.address), Role.None);
  t.same(await client.directory.read('getParticipants'), [patient.address]);
  await rejectsWith(t, client.directory.connect(pharmacy).simulate('unregister', []), 'NotRegistered');
});

t.test('providers record relationships with salted commitments of their links', async (t) => {
  const patient = await chain.wallet();
  const salt = newLinkSalt();
  const links = [
    { sourceId: 'hospital-fhir', localId: 'MRN-000123' },
    { sourceId: 'hospital-hl7', localId: '123' },
  ];
  const commitment = linkCommitment({ provider: hospital.address, patient: patient.address, salt, links });
  t.equal(
    linkCommitment({ provider: hospital.address.toLowerCase(), patient: patient.address, salt, links: [...links].reverse() }),
    commitment,
    'row order and address case do not matter',
  );
  t.not(linkCommitment({ provider: hospital.address, patient: patient.address, salt: newLinkSalt(), links }), commitment, 'the salt matters');
  t.not(linkCommitment({ provider: clinic.address, patient: patient.address, salt, links }), commitment, 'bound to the provider');
  t.equal(deriveLinkSalt(hospital.privateKey, patient.address), deriveLinkSalt(hospital.privateKey, patient.address.toLowerCase()));

  await rejectsWith(t, client.addRelationship(stranger, patient.address, commitment), 'NotProvider');
  await rejectsWith(t, client.addRelationship(hospital, patient.address, `0x${'0'.repeat(64)}`), 'InvalidRelationship');
  await rejectsWith(t, client.addRelationship(hospital, hospital.address, commitment), 'InvalidRelationship');
  const added = await client.addRelationship(hospital, patient.address, commitment);
  t.match(added.events[0], { name: 'RelationshipAdded', args: { provider: hospital.address, patient: patient.address, commitment } });
  await rejectsWith(t, client.addRelationship(hospital, patient.address, commitment), 'RelationshipExists');

  const onChain = await client.getRelationship(hospital.address, patient.address);
  t.match(onChain, { active: true, commitment });
  t.ok(verifyLink({ provider: hospital.address, patient: patient.address, salt, links }, onChain.commitment), 'the provider can prove its link');
  t.notOk(
    verifyLink({ provider: hospital.address, patient: patient.address, salt, links: [{ sourceId: 'hospital-fhir', localId: 'MRN-000124' }] }, onChain.commitment),
    'a different local id does not match',
  );
  t.same(await client.providersOf(patient.address), [hospital.address]);
  t.same(await client.relationships.read('patientsOf', hospital.address), [patient.address]);

  const salt2 = newLinkSalt();
  const merged = linkCommitment({ provider: hospital.address, patient: patient.address, salt: salt2, links: links.slice(0, 1) });
  const updated = await client.updateCommitment(hospital, patient.address, merged);
  t.match(updated.events[0], { name: 'RelationshipUpdated', args: { commitment: merged } });
  await rejectsWith(t, client.updateCommitment(clinic, patient.address, merged), 'NoRelationship');
  await rejectsWith(t, client.updateCommitment(hospital, patient.address, `0x${'0'.repeat(64)}`), 'InvalidRelationship');
});

t.test('record changes are announced with type names only; the patient or the provider ends a relationship', async (t) => {
  const patient = await chain.wallet({ funded: true });
  const commitment = linkCommitment({ provider: clinic.address, patient: patient.address, salt: newLinkSalt(), links: [{ sourceId: 'c', localId: '9' }] });
  await rejectsWith(t, client.announceRecordsChanged(clinic, patient.address, ['Observation']), 'NoRelationship');
  await client.addRelationship(clinic, patient.address, commitment);
  const changed = await client.announceRecordsChanged(clinic, patient.address, ['Observation', 'MedicationRequest']);
  t.match(changed.events[0], { name: 'RecordsChanged', args: { provider: clinic.address, patient: patient.address, resourceTypes: ['Observation', 'MedicationRequest'] } });
  await rejectsWith(t, client.announceRecordsChanged(clinic, patient.address, ['HbA1c 9.1%']), 'InvalidResourceType', 'no clinical text');
  await rejectsWith(t, client.announceRecordsChanged(hospital, patient.address, []), 'NoRelationship');

  await rejectsWith(t, client.endRelationship(stranger, clinic.address, patient.address), 'NotParty');
  const ended = await client.endRelationship(patient, clinic.address, patient.address);
  t.match(ended.events[0], { name: 'RelationshipEnded', args: { provider: clinic.address, patient: patient.address, by: patient.address } });
  t.notOk(ended.relayed, 'a patient with ether may act directly');
  t.same(await client.providersOf(patient.address), []);
  await rejectsWith(t, client.endRelationship(clinic, clinic.address, patient.address), 'NoRelationship');
  await client.addRelationship(clinic, patient.address, commitment);
  const byProvider = await client.endRelationship(clinic, clinic.address, patient.address);
  t.match(byProvider.events[0]?.args, { by: clinic.address });
});

t.test('a provider voted out can no longer add relationships but can still end its own', async (t) => {
  const patient = await chain.wallet();
  const third = await chain.wallet({ funded: true });
  const admission = await client.proposeAdmission(hospital, { account: third.address, name: 'Third', fhirBaseUrl: '', node: nodeOf(third.address) });
  await client.vote(clinic, admission.motionId);
  const c = linkCommitment({ provider: third.address, patient: patient.address, salt: newLinkSalt(), links: [{ sourceId: 't', localId: '1' }] });
  await client.addRelationship(third, patient.address, c);
  const removal = await client.proposeRemoval(hospital, third.address);
  await client.vote(clinic, removal.motionId);
  t.notOk(await client.registry.read('isProvider', third.address));
  const other = await chain.wallet();
  await rejectsWith(t, client.addRelationship(third, other.address, c), 'NotProvider');
  await client.endRelationship(third, third.address, patient.address);
  t.same(await client.providersOf(patient.address), []);
});
