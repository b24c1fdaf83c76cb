import t from 'tap';
import { Purpose, RequestStatus, ParticipationStatus } from '../../contracts/bindings/Consent.ts';
import { ALL, rejectsWith, testChain } from './helpers.ts';

const chain = await testChain(t);
const hospital = await chain.wallet({ funded: true });
const { client } = await chain.deploy([hospital], 'direct');
const patient = await chain.wallet({ funded: true });
const proxy = await chain.wallet({ funded: true });
const clinician = await chain.wallet({ funded: true });
const researcher = await chain.wallet({ funded: true });
const stranger = await chain.wallet({ funded: true });
const observations = { ...ALL, resourceTypes: ['Observation'], actions: 1, purpose: Purpose.Treatment };

t.test('access request: the grantee asks, the patient approves and the grant matches the request', async (t) => {
  const asked = await client.requestAccess(clinician, patient.address, observations);
  t.match(asked.events[0], {
    name: 'AccessRequested',
    args: { requestId: asked.requestId, patient: patient.address, requester: clinician.address, resourceTypes: ['Observation'], actions: 1 },
  });
  t.match(await client.consent.read('getRequest', asked.requestId), { status: RequestStatus.Pending, requester: clinician.address });
  await rejectsWith(t, client.answerRequest(stranger, asked.requestId, true), 'NotPatientOrProxy');
  const approved = await client.answerRequest(patient, asked.requestId, true);
  t.same(
    approved.events.map((e) => e.name),
    ['GrantCreated', 'AccessApproved'],
    'the grant is announced before the approval that refers to it',
  );
  const grant = await client.getGrant(approved.grantId);
  t.match(grant, { patient: patient.address, grantee: clinician.address, issuer: patient.address, active: true });
  t.same(grant.terms.resourceTypes, ['Observation']);
  t.match(await client.consent.read('getRequest', asked.requestId), { status: RequestStatus.Approved, grantId: approved.grantId });
  await rejectsWith(t, client.answerRequest(patient, asked.requestId, true), 'RequestNotPending', 'answered once');
  t.same(await client.consent.read('requestIdsByPatient', patient.address), [asked.requestId]);
  t.same(await client.consent.read('requestIdsByRequester', clinician.address), [asked.requestId]);
});

t.test('access request: declined, cancelled, answered by a proxy, malformed', async (t) => {
  const declined = await client.requestAccess(clinician, patient.address, observations);
  const answer = await client.answerRequest(patient, declined.requestId, false);
  t.match(answer.events[0], { name: 'AccessDeclined', args: { requestId: declined.requestId, by: patient.address } });
  t.equal(answer.grantId, 0n);

  const cancelled = await client.requestAccess(clinician, patient.address, observations);
  await rejectsWith(t, client.cancelRequest(stranger, cancelled.requestId), 'NotRequester');
  const c = await client.cancelRequest(clinician, cancelled.requestId);
  t.match(c.events[0], { name: 'AccessRequestCancelled', args: { requestId: cancelled.requestId } });
  await rejectsWith(t, client.answerRequest(patient, cancelled.requestId, true), 'RequestNotPending');

  await client.setDelegation(patient, proxy.address, 0);
  const viaProxy = await client.requestAccess(clinician, patient.address, observations);
  const approved = await client.answerRequest(proxy, viaProxy.requestId, true);
  t.equal((await client.getGrant(approved.grantId)).issuer, proxy.address);
  await client.revokeDelegation(patient, patient.address, proxy.address);

  await rejectsWith(t, client.requestAccess(clinician, clinician.address, observations), 'InvalidGrantee', 'not from oneself');
  await rejectsWith(t, client.requestAccess(clinician, patient.address, { ...observations, actions: 0 }), 'InvalidTerms');
  await rejectsWith(t, client.answerRequest(patient, 999n, true), 'RequestNotPending');

  const now = await chain.now();
  const shortLived = await client.requestAccess(clinician, patient.address, { ...observations, expiresAt: now + 50 });
  await chain.increaseTime(100);
  await rejectsWith(t, client.answerRequest(patient, shortLived.requestId, true), 'InvalidTerms', 'a request that expired cannot be approved');
});

t.test('research study: open, invite, enroll (a research grant), withdraw (revoked), close', async (t) => {
  await rejectsWith(t, client.openStudy(researcher, 'Bad', { ...ALL, purpose: Purpose.Treatment }), 'InvalidTerms', 'studies are for research');
  await rejectsWith(t, client.openStudy(researcher, '', { ...ALL, purpose: Purpose.Research }), 'InvalidTitle');
  const opened = await client.openStudy(researcher, 'Cardiology outcomes', { ...ALL, resourceTypes: ['Observation', 'Condition'], purpose: Purpose.Research });
  t.match(opened.events[0], { name: 'StudyOpened', args: { studyId: opened.studyId, researcher: researcher.address, title: 'Cardiology outcomes', resourceTypes: ['Observation', 'Condition'] } });

  await rejectsWith(t, client.enroll(patient, opened.studyId, patient.address), 'WrongParticipation', 'not invited');
  await rejectsWith(t, client.invite(stranger, opened.studyId, [patient.address]), 'NotResearcher');
  const invited = await client.invite(researcher, opened.studyId, [patient.address, stranger.address]);
  t.same(invited.events.map((e) => e.name), ['StudyInvited', 'StudyInvited']);
  const again = await client.invite(researcher, opened.studyId, [patient.address]);
  t.equal(again.events.length, 0, 'inviting twice is a no-op');
  t.same(await client.consent.read('studyIdsByPatient', patient.address), [opened.studyId]);

  await rejectsWith(t, client.enroll(stranger, opened.studyId, patient.address), 'NotPatientOrProxy');
  const enrolled = await client.enroll(patient, opened.studyId, patient.address);
  t.same(enrolled.events.map((e) => e.name), ['GrantCreated', 'StudyEnrolled']);
  const grant = await client.getGrant(enrolled.grantId);
  t.match(grant, { grantee: researcher.address, patient: patient.address, active: true });
  t.equal(grant.terms.purpose, Purpose.Research, 'a research-purpose grant');
  t.match(await client.getParticipation(opened.studyId, patient.address), { status: ParticipationStatus.Enrolled, grantId: enrolled.grantId });
  await rejectsWith(t, client.enroll(patient, opened.studyId, patient.address), 'WrongParticipation', 'enrolled once');

  const withdrawn = await client.withdraw(patient, opened.studyId, patient.address);
  t.same(withdrawn.events.map((e) => e.name), ['GrantRevoked', 'StudyWithdrawn']);
  t.notOk((await client.getGrant(enrolled.grantId)).active, 'withdrawal revokes the study grant');
  await rejectsWith(t, client.withdraw(patient, opened.studyId, patient.address), 'WrongParticipation');

  const rejoined = await client.enroll(patient, opened.studyId, patient.address);
  t.not(rejoined.grantId, enrolled.grantId, 're-enrolment makes a new grant');

  await rejectsWith(t, client.closeStudy(stranger, opened.studyId), 'NotResearcher');
  const closed = await client.closeStudy(researcher, opened.studyId);
  t.match(closed.events[0], { name: 'StudyClosed' });
  await rejectsWith(t, client.enroll(stranger, opened.studyId, stranger.address), 'StudyNotOpen');
  await rejectsWith(t, client.invite(researcher, opened.studyId, [proxy.address]), 'StudyNotOpen');
  await client.withdraw(patient, opened.studyId, patient.address);
  t.pass('withdrawal still works after the study closed');
  t.match(await client.getStudy(opened.studyId), { open: false, title: 'Cardiology outcomes' });
  await rejectsWith(t, client.invite(researcher, opened.studyId, ['0x0000000000000000000000000000000000000000']), 'StudyNotOpen');
});

t.test('a patient whose research grant was revoked directly is still withdrawn cleanly', async (t) => {
  const { studyId } = await client.openStudy(researcher, 'Second study', { ...ALL, purpose: Purpose.Research });
  await rejectsWith(t, client.invite(researcher, studyId, [researcher.address]), 'InvalidGrantee', 'the researcher cannot invite itself');
  await client.invite(researcher, studyId, [patient.address]);
  const { grantId } = await client.enroll(patient, studyId, patient.address);
  await client.revokeGrant(patient, grantId);
  const withdrawn = await client.withdraw(patient, studyId, patient.address);
  t.same(withdrawn.events.map((e) => e.name), ['StudyWithdrawn'], 'no second revocation');
});

t.test('reading a request or study that does not exist is a named error', async (t) => {
  await rejectsWith(t, client.consent.read('getRequest', 0n), 'UnknownRequest');
  await rejectsWith(t, client.consent.read('getRequest', 999n), 'UnknownRequest');
  await rejectsWith(t, client.consent.read('getStudy', 0n), 'UnknownStudy');
  await rejectsWith(t, client.consent.read('getStudy', 999n), 'UnknownStudy');
});
