import t from 'tap';
import { id } from 'ethers';
import { Purpose } from '../../contracts/bindings/Consent.ts';
import { MedRecClient } from '../../contracts/client.ts';
import { Role } from '../../contracts/bindings/ParticipantDirectory.ts';
import { actionDomain, actionTypeString, signAction, type ActionType } from '../../contracts/eip712.ts';
import { linkCommitment, newLinkSalt } from '../../contracts/link-commitment.ts';
import { ALL, rejectsWith, testChain } from './helpers.ts';

const chain = await testChain(t);
const hospital = await chain.wallet({ funded: true });
const { client, deployment } = await chain.deploy([hospital]);
const relayer = chain.operator;

t.test('the TypeScript EIP-712 types hash to the contracts’ typehashes', async (t) => {
  const pairs: [ActionType, Promise<string>][] = [
    ['CreateGrant', client.consent.read('CREATE_GRANT_TYPEHASH')],
    ['RevokeGrant', client.consent.read('REVOKE_GRANT_TYPEHASH')],
    ['SetDelegation', client.consent.read('SET_DELEGATION_TYPEHASH')],
    ['RevokeDelegation', client.consent.read('REVOKE_DELEGATION_TYPEHASH')],
    ['AnswerRequest', client.consent.read('ANSWER_REQUEST_TYPEHASH')],
    ['Enroll', client.consent.read('ENROLL_TYPEHASH')],
    ['Withdraw', client.consent.read('WITHDRAW_TYPEHASH')],
    ['EndRelationship', client.relationships.read('END_RELATIONSHIP_TYPEHASH')],
    ['Register', client.directory.read('REGISTER_TYPEHASH')],
    ['Update', client.directory.read('UPDATE_TYPEHASH')],
    ['Unregister', client.directory.read('UNREGISTER_TYPEHASH')],
  ];
  for (const [type, onChain] of pairs) t.equal(id(actionTypeString(type)), await onChain, type);
  const domain = await client.consent.read('eip712Domain');
  t.match(domain, { name: 'MedRec Consent', version: '1', chainId: chain.chainId, verifyingContract: deployment.addresses.consent });
});

t.test('a patient with zero balance does every patient action through a relayer', async (t) => {
  const patient = await chain.wallet();
  const proxy = await chain.wallet();
  const researcher = await chain.wallet({ funded: true });
  const clinician = await chain.wallet({ funded: true });
  const balanceBefore = await chain.provider.getBalance(relayer.address);

  const registered = await client.register(patient, { role: Role.Patient });
  t.ok(registered.relayed, 'registration relayed');
  t.equal((await client.getParticipant(patient.address)).role, Role.Patient);

  const grant = await client.createGrant(patient, { patient: patient.address, grantee: clinician.address, terms: ALL });
  t.ok(grant.relayed);
  t.equal((await client.getGrant(grant.grantId)).issuer, patient.address, 'the signer, not the relayer, is the issuer');
  await client.revokeGrant(patient, grant.grantId);

  await client.setDelegation(patient, proxy.address, 0);
  const byProxy = await client.createGrant(proxy, { patient: patient.address, grantee: clinician.address, terms: ALL });
  t.ok(byProxy.relayed, 'a proxy without ether is relayed too');
  await client.revokeDelegation(patient, patient.address, proxy.address);

  const { requestId } = await client.requestAccess(clinician, patient.address, { ...ALL, resourceTypes: ['Observation'] });
  const approved = await client.answerRequest(patient, requestId, true);
  t.ok(approved.relayed);
  const { requestId: second } = await client.requestAccess(clinician, patient.address, ALL);
  await client.answerRequest(patient, second, false);

  const { studyId } = await client.openStudy(researcher, 'Signed study', { ...ALL, purpose: Purpose.Research });
  await client.invite(researcher, studyId, [patient.address]);
  const enrolled = await client.enroll(patient, studyId, patient.address);
  t.ok(enrolled.relayed);
  await client.withdraw(patient, studyId, patient.address);

  const salt = newLinkSalt();
  await client.addRelationship(hospital, patient.address, linkCommitment({ provider: hospital.address, patient: patient.address, salt, links: [{ sourceId: 's', localId: 'l' }] }));
  const ended = await client.endRelationship(patient, hospital.address, patient.address);
  t.ok(ended.relayed);
  t.match(ended.events[0], { name: 'RelationshipEnded', args: { by: patient.address } });

  const updated = await client.updateParticipant(patient, { role: Role.Patient, jwksUrl: 'https://patient.example/jwks' });
  t.ok(updated.relayed);
  t.equal((await client.getParticipant(patient.address)).jwksUrl, 'https://patient.example/jwks');
  const gone = await client.unregister(patient);
  t.ok(gone.relayed);
  t.match(gone.events[0], { name: 'ParticipantRemoved', args: { account: patient.address } });

  t.equal(await chain.provider.getBalance(patient.address), 0n, 'the patient never held ether');
  t.ok((await chain.provider.getBalance(relayer.address)) < balanceBefore, 'the relayer paid');
  t.equal(await client.consent.read('nonces', patient.address), 8n, 'one nonce per consent action (8 signed)');
});

t.test('signatures cannot be replayed, forged, used late, or used on another chain or contract', async (t) => {
  const patient = await chain.wallet();
  const other = await chain.wallet();
  const grantee = await chain.wallet();
  const fields = { patient: patient.address, grantee: grantee.address, terms: ALL };

  const signed = await client.sign(patient, 'CreateGrant', fields);
  await client.relay(signed);
  await rejectsWith(t, client.relay(signed), 'InvalidSignature', 'replay: the nonce is used');

  const forged = await client.sign(other, 'CreateGrant', fields);
  await rejectsWith(
    t,
    client.relay({ ...forged, message: { ...forged.message, actor: patient.address, nonce: await client.consent.read('nonces', patient.address) } }),
    'InvalidSignature',
    'wrong signer',
  );
  await rejectsWith(t, client.relay(forged), 'NotPatientOrProxy', "a valid signature of someone else cannot act for the patient");

  const tampered = await client.sign(patient, 'CreateGrant', fields);
  await rejectsWith(
    t,
    client.relay({ ...tampered, message: { ...tampered.message, terms: { ...ALL, actions: 1 } } }),
    'InvalidSignature',
    'altered terms',
  );

  const now = await chain.now();
  const late = await client.sign(patient, 'CreateGrant', fields, { deadline: BigInt(now + 30) });
  await chain.increaseTime(60);
  await rejectsWith(t, client.relay(late), 'SignatureExpired', 'expired deadline');

  const nonce = await client.consent.read('nonces', patient.address);
  const deadline = BigInt((await chain.now()) + 600);
  const message = { ...fields, actor: patient.address, nonce, deadline };
  const wrongChain = await signAction(patient, actionDomain('consent', 999n, deployment.addresses.consent), 'CreateGrant', message);
  await rejectsWith(t, client.relay(wrongChain), 'InvalidSignature', 'signed for another chain id');
  const wrongContract = await signAction(patient, actionDomain('consent', chain.chainId, deployment.addresses.relationships), 'CreateGrant', message);
  await rejectsWith(t, client.relay(wrongContract), 'InvalidSignature', 'signed for another contract');
  const right = await signAction(patient, actionDomain('consent', chain.chainId, deployment.addresses.consent), 'CreateGrant', message);
  const ok = await client.relay(right);
  t.ok(ok.events.some((e) => e.name === 'GrantCreated'), 'the same message signed for this chain and contract works');
});

t.test('a patient whose ether does not cover the gas is relayed too', async (t) => {
  const patient = await chain.wallet();
  await chain.anvil.rpc('anvil_setBalance', [patient.address, '0x3e8']); // 1000 wei
  const grant = await client.createGrant(patient, { patient: patient.address, grantee: hospital.address, terms: ALL });
  t.ok(grant.relayed);
  t.equal(await chain.provider.getBalance(patient.address), 1000n, 'untouched');
});

t.test('without a relayer a patient without ether gets a clear error', async (t) => {
  const patient = await chain.wallet();
  const noRelayer = new MedRecClient({ provider: chain.provider, deployment });
  await t.rejects(
    noRelayer.createGrant(patient, { patient: patient.address, grantee: hospital.address, terms: ALL }),
    /no relayer/,
  );
});
