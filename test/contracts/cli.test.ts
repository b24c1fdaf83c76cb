import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { encryptKeystoreJsonSync } from 'ethers';
import { nodeOf, testChain } from './helpers.ts';
import { runCli } from '../../server/cli/medrec.ts';

const chain = await testChain(t);
const dir = mkdtempSync(join(tmpdir(), 'medrec-cli-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const hospital = await chain.wallet({ funded: true });
const clinic = await chain.wallet({ funded: true });
const patient = await chain.wallet(); // no ether: its actions are relayed
const pharmacy = await chain.wallet({ funded: true });
const deploymentFile = join(dir, 'deployment.json');
const CLI = fileURLToPath(new URL('../../server/cli/medrec.ts', import.meta.url));

async function medrec(key: string, ...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(['--rpc', chain.anvil.rpcUrl, '--deployment', deploymentFile, ...args], {
    env: { MEDREC_KEY: key, MEDREC_RELAYER_KEY: chain.operator.privateKey },
    write: (text) => (out += text),
    error: (text) => (err += text),
  });
  return { code, out, err };
}
const json = <T>(r: { out: string }): T => JSON.parse(r.out) as T;

t.test('deploy writes a deployment file; provider list shows the founders', async (t) => {
  const founders = [hospital, clinic].map((w, i) => `${w.address},Provider ${i},https://p${i}.example/fhir,${nodeOf(w.address)}`);
  const deployed = await medrec(chain.operator.privateKey, '--json', 'deploy', '--founder', founders[0]!, '--founder', founders[1]!);
  t.equal(deployed.code, 0, deployed.err);
  t.match(json(deployed), { chainId: Number(chain.chainId), addresses: { consent: /^0x/ } });
  t.match(JSON.parse(readFileSync(deploymentFile, 'utf8')), { rpcUrl: chain.anvil.rpcUrl });
  const list = await medrec(hospital.privateKey, 'provider', 'list');
  t.equal(list.code, 0);
  t.match(list.out, 'Provider 0');
  t.match(list.out, 'Provider 1');
});

t.test('a provider proposes, another votes, the candidate is in', async (t) => {
  const proposed = await medrec(hospital.privateKey, '--json', 'provider', 'propose', pharmacy.address, '--name', 'Pharmacy records', '--node', nodeOf(pharmacy.address));
  t.equal(proposed.code, 0, proposed.err);
  const { motionId } = json<{ motionId: string }>(proposed);
  const motions = await medrec(hospital.privateKey, 'provider', 'motions');
  t.match(motions.out, `#${motionId} admit`);
  const voted = await medrec(clinic.privateKey, 'provider', 'vote', motionId);
  t.match(voted.out, 'carried');
  const validators = json<string[]>(await medrec(hospital.privateKey, '--json', 'provider', 'validators'));
  t.equal(validators.length, 3);
});

t.test('a patient without ether registers, grants, lists and revokes (relayed)', async (t) => {
  const registered = await medrec(patient.privateKey, 'participant', 'register', '--role', 'patient');
  t.equal(registered.code, 0, registered.err);
  t.match(registered.out, 'registered as patient (relayed)');
  const granted = await medrec(patient.privateKey, 'grant', 'create', pharmacy.address, '--type', 'MedicationRequest', '--type', 'MedicationDispense', '--expires', '+30d');
  t.equal(granted.code, 0, granted.err);
  t.match(granted.out, /grant #1 created \(relayed\)/);
  const listed = json<{ id: string; active: boolean; terms: { resourceTypes: string[] } }[]>(
    await medrec(pharmacy.privateKey, '--json', 'grant', 'list', '--grantee', pharmacy.address),
  );
  t.match(listed, [{ id: '1', active: true, terms: { resourceTypes: ['MedicationRequest', 'MedicationDispense'] } }]);
  const revoked = await medrec(patient.privateKey, 'grant', 'revoke', '1');
  t.equal(revoked.code, 0);
  const human = await medrec(patient.privateKey, 'grant', 'list');
  t.match(human.out, '#1 revoked');
  const updated = await medrec(patient.privateKey, 'participant', 'update', '--role', 'patient', '--jwks', 'https://me.example/jwks');
  t.match(updated.out, 'updated (relayed)');
  const shown = await medrec(patient.privateKey, 'participant', 'show', patient.address);
  t.match(shown.out, 'patient (no name) https://me.example/jwks');
  t.equal(await chain.provider.getBalance(patient.address), 0n);
});

t.test('sign-only prints a signed action that any relayer submits', async (t) => {
  const signed = await medrec(patient.privateKey, '--sign-only', '--json', 'delegate', 'set', clinic.address);
  t.equal(signed.code, 0, signed.err);
  t.match(json(signed), { type: 'SetDelegation', signature: /^0x/ });
  const file = join(dir, 'signed.json');
  const { writeFileSync } = await import('node:fs');
  writeFileSync(file, signed.out);
  const relayed = await medrec(hospital.privateKey, 'relay', file);
  t.equal(relayed.code, 0, relayed.err);
  const list = await medrec(patient.privateKey, 'delegate', 'list', patient.address);
  t.match(list.out, `${clinic.address} in force`);
});

t.test('a provider links a patient by commitment and proves the link later', async (t) => {
  const added = await medrec(hospital.privateKey, '--json', 'relationship', 'add', patient.address, '--link', 'hospital-fhir:MRN:0042', '--link', 'hospital-hl7:42');
  t.equal(added.code, 0, added.err);
  const { salt, commitment } = json<{ salt: string; commitment: string }>(added);
  t.match(salt, /^0x[0-9a-f]{64}$/);
  const shown = await medrec(hospital.privateKey, 'relationship', 'show', hospital.address, patient.address);
  t.match(shown.out, `active since`);
  t.match(shown.out, commitment);
  const verified = await medrec(hospital.privateKey, 'relationship', 'verify', hospital.address, patient.address, '--link', 'hospital-hl7:42', '--link', 'hospital-fhir:MRN:0042', '--salt', salt);
  t.equal(verified.code, 0);
  t.match(verified.out, 'matches');
  const wrong = await medrec(hospital.privateKey, 'relationship', 'verify', hospital.address, patient.address, '--link', 'hospital-fhir:MRN:0043', '--salt', salt);
  t.equal(wrong.code, 1, 'a link that does not match exits 1');
  const notified = await medrec(hospital.privateKey, 'relationship', 'notify', patient.address, '--type', 'MedicationRequest');
  t.equal(notified.code, 0, notified.err);
  const events = await medrec(hospital.privateKey, 'events');
  t.match(events.out, /RecordsChanged provider=0x[0-9a-fA-F]+ patient=0x[0-9a-fA-F]+ resourceTypes=\[MedicationRequest\]/);
  t.match(events.out, /RelationshipAdded provider=0x[0-9a-fA-F]+ patient=0x[0-9a-fA-F]+ commitment=0x/);
  t.notMatch(events.out, /MRN|0042/, 'the local ids are nowhere in the event stream');
  const ndjson = await medrec(hospital.privateKey, '--json', 'events', '--from', '0');
  t.ok(ndjson.out.includes('"event": "GrantCreated"'));
});

t.test('failures are one line on stderr with exit code 1', async (t) => {
  const refused = await medrec(pharmacy.privateKey, 'grant', 'revoke', '1');
  t.equal(refused.code, 1);
  t.match(refused.err, /^medrec: (NotAuthorizedToRevoke|GrantAlreadyRevoked)\(/);
  t.equal(refused.err.trim().split('\n').length, 1, 'one line, no stack');
  const badType = await medrec(patient.privateKey, 'grant', 'create', pharmacy.address, '--type', 'lab results');
  t.match(badType.err, /^medrec: InvalidResourceType\(resourceType=lab results\)\n$/);
  const badAddress = await medrec(patient.privateKey, 'grant', 'create', 'nobody');
  t.match(badAddress.err, /^medrec: not an Ethereum grantee address: nobody\n$/);
  const noKey = await runCli(['--rpc', chain.anvil.rpcUrl, '--deployment', deploymentFile, 'grant', 'revoke', '1'], { env: {}, write: () => undefined, error: () => undefined });
  t.equal(noKey, 1);
  const unknown = await medrec(patient.privateKey, 'grant', 'frobnicate');
  t.equal(unknown.code, 1);
  const wrongChain = await medrec(patient.privateKey, '--chain-id', '999', 'status');
  t.equal(wrongChain.code, 1);
  t.match(wrongChain.err, /^medrec: chain id mismatch: configured 999, the node at the RPC URL reports 1337\n$/);
  const noDeployment = await medrec(patient.privateKey, '--deployment', join(dir, 'missing.json'), 'status');
  t.match(noDeployment.err, /^medrec: no deployment file at /);
});

t.test('a keystore file unlocks with MEDREC_KEYSTORE_PASSWORD', async (t) => {
  const file = join(dir, 'hospital.keystore.json');
  const { writeFileSync } = await import('node:fs');
  writeFileSync(file, encryptKeystoreJsonSync({ address: hospital.address, privateKey: hospital.privateKey }, 'pw', { scrypt: { N: 1 << 10 } }));
  let out = '';
  const args = ['--rpc', chain.anvil.rpcUrl, '--deployment', deploymentFile, '--keystore', file, '--json', 'provider', 'remove', pharmacy.address];
  const code = await runCli(args, { env: { MEDREC_KEYSTORE_PASSWORD: 'pw' }, write: (x) => (out += x), error: () => undefined });
  t.equal(code, 0);
  t.match(JSON.parse(out), { motionId: /^\d+$/ });
  let err = '';
  const wrong = await runCli(args, { env: { MEDREC_KEYSTORE_PASSWORD: 'nope' }, write: () => undefined, error: (x) => (err += x) });
  t.equal(wrong.valueOf(), 1);
  t.match(err, /^medrec: .*password/i);
});

t.test('the installed bin: shebang, executable, real process exit code and stderr', async (t) => {
  t.match(readFileSync(CLI, 'utf8'), /^#!\/usr\/bin\/env node\n/);
  t.ok(statSync(CLI).mode & 0o111, 'executable');
  const run = promisify(execFile);
  const ok = await run(process.execPath, [CLI, '--rpc', chain.anvil.rpcUrl, '--deployment', deploymentFile, '--json', 'status'], {
    env: { ...process.env, MEDREC_KEY: hospital.privateKey },
  });
  t.match(JSON.parse(ok.stdout), { providers: 3, grants: '1' });
  const failed = await run(process.execPath, [CLI, '--rpc', chain.anvil.rpcUrl, '--deployment', deploymentFile, 'grant', 'show', '99'], {
    env: { ...process.env, MEDREC_KEY: hospital.privateKey },
  }).then(
    () => ({ code: 0, stderr: '' }),
    (e: { code: number; stderr: string }) => e,
  );
  t.equal(failed.code, 1);
  t.equal(failed.stderr, 'medrec: UnknownGrant(grantId=99)\n');
});

t.test('access requests, studies, ending a relationship and revoking a delegation from the CLI', async (t) => {
  const researcher = await chain.wallet({ funded: true });
  const asked = await medrec(pharmacy.privateKey, '--json', 'request', 'create', patient.address, '--type', 'Observation', '--expires', '+7d');
  t.equal(asked.code, 0, asked.err);
  const { requestId } = json<{ requestId: string }>(asked);
  t.match((await medrec(patient.privateKey, 'request', 'list')).out, `#${requestId} pending ${pharmacy.address} asks ${patient.address}`);
  const approved = await medrec(patient.privateKey, 'request', 'approve', requestId);
  t.match(approved.out, new RegExp(`^request #${requestId} approved: grant #\\d+ \\(relayed\\)`));
  const second = json<{ requestId: string }>(await medrec(pharmacy.privateKey, '--json', 'request', 'create', patient.address, '--type', 'Condition'));
  t.match((await medrec(patient.privateKey, 'request', 'decline', second.requestId)).out, `request #${second.requestId} declined (relayed)`);
  const third = json<{ requestId: string }>(await medrec(pharmacy.privateKey, '--json', 'request', 'create', patient.address));
  t.match((await medrec(pharmacy.privateKey, 'request', 'cancel', third.requestId)).out, `request #${third.requestId} cancelled`);
  const byPharmacy = json<{ id: string; status: number }[]>(await medrec(pharmacy.privateKey, '--json', 'request', 'list', '--requester', pharmacy.address));
  t.same(byPharmacy.map((r) => r.status).sort(), [2, 3, 4], 'approved, declined, cancelled');

  const opened = await medrec(researcher.privateKey, 'study', 'open', 'Cardiology outcomes', '--type', 'Observation', '--expires', '+30d');
  t.match(opened.out, /^study #1 opened/);
  t.match((await medrec(researcher.privateKey, 'study', 'invite', '1', patient.address)).out, 'invited 1 patient(s) to study #1');
  t.match((await medrec(patient.privateKey, 'study', 'enroll', '1')).out, 'enrolled in study #1 (relayed)');
  const shown = await medrec(researcher.privateKey, 'study', 'show', '1');
  t.match(shown.out, `study #1 "Cardiology outcomes" by ${researcher.address} (open)`);
  t.match(shown.out, new RegExp(`${patient.address} enrolled \\(grant #\\d+\\)`));
  const missing = await medrec(researcher.privateKey, 'study', 'show', '99');
  t.equal(missing.code, 1);
  t.equal(missing.err, 'medrec: UnknownStudy(studyId=99)\n', 'an unknown study is one clear line, not a panic code');
  const noRequest = await medrec(patient.privateKey, 'request', 'approve', '99');
  t.equal(noRequest.err, 'medrec: RequestNotPending(requestId=99)\n');

  t.match((await medrec(patient.privateKey, 'relationship', 'end', hospital.address, patient.address)).out, 'relationship ended (relayed)');
  t.match((await medrec(patient.privateKey, 'relationship', 'show', hospital.address, patient.address)).out, /^ended since /);
  t.match((await medrec(patient.privateKey, 'delegate', 'revoke', patient.address, clinic.address)).out, 'delegation revoked (relayed)');
  t.match((await medrec(patient.privateKey, 'delegate', 'list', patient.address)).out, 'no proxies');
  t.equal(await chain.provider.getBalance(patient.address), 0n, 'the patient never needed ether');
});

t.test('a motion nobody carried lapses after 30 days; anyone records it with provider expire', async (t) => {
  const candidate = await chain.wallet();
  const proposed = await medrec(hospital.privateKey, '--json', 'provider', 'propose', candidate.address, '--name', 'Late clinic', '--node', nodeOf(candidate.address));
  const { motionId } = json<{ motionId: string }>(proposed);
  t.match((await medrec(hospital.privateKey, 'provider', 'motions')).out, new RegExp(`#${motionId} admit .*: open, 1/2 votes, .*, lapses \\d{4}-`));
  const early = await medrec(pharmacy.privateKey, 'provider', 'expire', motionId);
  t.equal(early.code, 1);
  t.match(early.err, new RegExp(`^medrec: MotionNotLapsed\\(motionId=${motionId}, expiresAt=\\d+\\)\\n$`));
  await chain.increaseTime(30 * 86_400);
  t.notMatch((await medrec(hospital.privateKey, 'provider', 'motions')).out, `#${motionId} `, 'no longer listed as open');
  const expired = await medrec(pharmacy.privateKey, 'provider', 'expire', motionId);
  t.equal(expired.code, 0, expired.err);
  t.equal(expired.out, `motion #${motionId} recorded as lapsed\n`);
  t.match((await medrec(hospital.privateKey, 'provider', 'motions', '--all')).out, `#${motionId} admit ${candidate.address} (Late clinic): lapsed`);
});
