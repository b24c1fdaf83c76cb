import t from 'tap';
import type { HDNodeWallet } from 'ethers';
import { MotionStatus } from '../../contracts/bindings/ProviderRegistry.ts';
import { nodeOf, rejectsWith, testChain } from './helpers.ts';

const chain = await testChain(t);
const pool: HDNodeWallet[] = [];
for (let i = 0; i < 8; i++) pool.push(await chain.wallet({ funded: true }));
const outsider = await chain.wallet({ funded: true });

const candidateRecord = (w: HDNodeWallet) => ({ account: w.address, name: 'Candidate', fhirBaseUrl: 'https://c.example/fhir', node: nodeOf(w.address) });

t.test('admission needs a strict majority (> n/2) of the n current providers, n = 1..6', async (t) => {
  for (let n = 1; n <= 6; n++) {
    const founders = pool.slice(0, n);
    const candidate = pool[n] as HDNodeWallet;
    const { client } = await chain.deploy(founders);
    const required = Math.floor(n / 2) + 1;
    const proposed = await client.proposeAdmission(founders[0] as HDNodeWallet, candidateRecord(candidate));
    let yes = 1;
    t.equal(proposed.admitted, required === 1, `n=${n}: the proposer's vote alone ${required === 1 ? 'admits' : 'does not admit'}`);
    while (yes < required) {
      t.notOk(await client.registry.read('isProvider', candidate.address), `n=${n}: not admitted with ${yes} of ${required} votes`);
      const voted = await client.vote(founders[yes] as HDNodeWallet, proposed.motionId);
      yes++;
      t.equal(voted.yes, BigInt(yes));
      t.equal(voted.required, BigInt(required));
      t.equal(voted.carried, yes === required);
    }
    t.ok(await client.registry.read('isProvider', candidate.address), `n=${n}: admitted with ${required} votes`);
    t.equal(await client.registry.read('providerCount'), BigInt(n + 1));
    if (n % 2 === 0) t.equal(required, n / 2 + 1, `n=${n} (even): exactly half is not enough`);
  }
});

t.test('removal needs > n/2 of all n current providers, the target counting as a no, n = 1..6', async (t) => {
  for (let n = 1; n <= 6; n++) {
    const founders = pool.slice(0, n);
    const target = founders[0] as HDNodeWallet;
    const { client } = await chain.deploy(founders);
    if (n === 1) {
      await rejectsWith(t, client.proposeRemoval(target, target.address), 'LastProvider', 'n=1: the last provider cannot be removed');
      continue;
    }
    const required = Math.floor(n / 2) + 1;
    const eligible = n - 1;
    const { motionId } = await client.proposeRemoval(founders[1] as HDNodeWallet, target.address);
    await rejectsWith(t, client.vote(target, motionId), 'SelfVote', `n=${n}: the target cannot vote`);
    for (let voter = 2; voter < n; voter++) {
      const votes = voter - 1;
      t.ok(await client.registry.read('isProvider', target.address), `n=${n}: still a provider with ${votes} of ${required} votes`);
      const voted = await client.vote(founders[voter] as HDNodeWallet, motionId);
      t.equal(voted.required, BigInt(required), `n=${n}: ${required} votes required`);
      if (voted.carried) break;
    }
    if (required > eligible) {
      t.ok(await client.registry.read('isProvider', target.address), `n=${n}: all ${eligible} others are not > n/2, the target stays`);
      const { motion, yes } = await client.registry.read('getMotion', motionId);
      t.equal(motion.status, 1, `n=${n}: the motion stays open`);
      t.equal(yes, BigInt(eligible));
    } else {
      t.notOk(await client.registry.read('isProvider', target.address), `n=${n}: removed with ${required} of ${n} votes`);
      t.notOk((await client.getValidators()).map((v) => v.toLowerCase()).includes(nodeOf(target.address)), 'its node left the validator set');
      if (n % 2 === 0) t.equal(required, n / 2 + 1, `n=${n} (even): exactly half is not enough`);
    }
  }
});

t.test('with two providers a removal stays open until a third provider makes it a majority', async (t) => {
  const [a, b, c] = pool as [HDNodeWallet, HDNodeWallet, HDNodeWallet];
  const { client } = await chain.deploy([a, b]);
  const removal = await client.proposeRemoval(a, b.address);
  t.notOk(removal.events.some((e) => e.name === 'ProviderRemoved'), '1 of 2 is no majority');
  await rejectsWith(t, client.executeMotion(a, removal.motionId), 'MotionNotPassed');
  const admission = await client.proposeAdmission(a, candidateRecord(c));
  await client.vote(b, admission.motionId); // n = 3: a's standing vote is 1 of the 2 required
  t.ok(await client.registry.read('isProvider', b.address));
  await client.vote(c, removal.motionId);
  t.same(await client.registry.read('getProviders'), [a.address, c.address], '2 of 3: removed');
});

t.test('the last provider cannot be removed', async (t) => {
  const [solo] = pool as [HDNodeWallet];
  const { client } = await chain.deploy([solo]);
  await rejectsWith(t, client.proposeRemoval(solo, solo.address), 'LastProvider');
  const other = await chain.wallet({ funded: true });
  await client.proposeAdmission(solo, candidateRecord(other));
  await rejectsWith(t, client.proposeRemoval(other, other.address), 'SelfVote', 'no motion against oneself');
});

t.test('votes of providers removed meanwhile stop counting', async (t) => {
  const [a, b, c, d, e] = pool as [HDNodeWallet, HDNodeWallet, HDNodeWallet, HDNodeWallet, HDNodeWallet];
  const { client } = await chain.deploy([a, b, c, d, e]);
  const againstA = await client.proposeRemoval(b, a.address); // b votes; needs 3 of 5
  await client.vote(c, againstA.motionId); // 2 of 3
  const againstB = await client.proposeRemoval(d, b.address);
  await client.vote(e, againstB.motionId);
  await client.vote(a, againstB.motionId); // b removed: providers a, c, d, e
  const tally = await client.registry.read('getMotion', againstA.motionId);
  t.equal(tally.yes, 1n, "b's vote against a no longer counts");
  t.equal(tally.required, 3n, 'n = 4 needs 3');
  await client.vote(d, againstA.motionId);
  t.ok(await client.registry.read('isProvider', a.address), '2 of 4 (exactly half) is not enough');
  await client.vote(e, againstA.motionId);
  t.notOk(await client.registry.read('isProvider', a.address));
  t.same((await client.registry.read('getProviders')).length, 3);
});

t.test('double votes, non-members, self-votes and duplicate motions are refused', async (t) => {
  const [a, b, c, d] = pool as [HDNodeWallet, HDNodeWallet, HDNodeWallet, HDNodeWallet];
  const { client } = await chain.deploy([a, b, c, d]);
  const { motionId } = await client.proposeAdmission(a, candidateRecord(outsider));
  await rejectsWith(t, client.vote(a, motionId), 'AlreadyVoted', 'the proposer already voted');
  await client.vote(b, motionId);
  await rejectsWith(t, client.vote(b, motionId), 'AlreadyVoted');
  await rejectsWith(t, client.vote(outsider, motionId), 'NotProvider', 'the candidate is no member');
  const stranger = await chain.wallet({ funded: true });
  await rejectsWith(t, client.vote(stranger, motionId), 'NotProvider');
  await rejectsWith(t, client.proposeAdmission(stranger, candidateRecord(stranger)), 'NotProvider');
  await rejectsWith(t, client.proposeAdmission(b, candidateRecord(outsider)), 'MotionPending');
  await rejectsWith(t, client.proposeAdmission(b, { ...candidateRecord(stranger), account: a.address }), 'AlreadyProvider');
  await rejectsWith(t, client.proposeAdmission(b, { ...candidateRecord(stranger), node: nodeOf(a.address) }), 'InvalidNode', 'node keys are unique');
  await rejectsWith(t, client.proposeAdmission(b, { ...candidateRecord(stranger), name: '' }), 'InvalidProvider');
  const removal = await client.proposeRemoval(b, d.address);
  await rejectsWith(t, client.vote(d, removal.motionId), 'SelfVote', 'no vote on its own removal');
  await rejectsWith(t, client.vote(a, 999n), 'MotionNotOpen');
});

t.test('rescind: only the proposer, only while open', async (t) => {
  const [a, b, c] = pool as [HDNodeWallet, HDNodeWallet, HDNodeWallet];
  const { client } = await chain.deploy([a, b, c]);
  const { motionId } = await client.proposeAdmission(a, candidateRecord(outsider));
  await rejectsWith(t, client.rescind(b, motionId), 'NotProposer');
  const rescinded = await client.rescind(a, motionId);
  t.same(
    rescinded.events.map((e) => e.name),
    ['ProviderRescinded'],
  );
  await rejectsWith(t, client.vote(b, motionId), 'MotionNotOpen');
  await rejectsWith(t, client.rescind(a, motionId), 'MotionNotOpen');
  t.equal(await client.registry.read('openMotionOf', outsider.address), 0n, 'the subject may be proposed again');
  await client.proposeAdmission(b, candidateRecord(outsider));
});

t.test('execute carries a motion whose electorate shrank; refuses one without majority', async (t) => {
  const [a, b, c, d, e] = pool as [HDNodeWallet, HDNodeWallet, HDNodeWallet, HDNodeWallet, HDNodeWallet];
  const { client } = await chain.deploy([a, b, c, d, e]);
  const admit = await client.proposeAdmission(a, candidateRecord(outsider)); // n=5 → needs 3
  await client.vote(b, admit.motionId); // 2 of 3
  await rejectsWith(t, client.executeMotion(outsider, admit.motionId), 'MotionNotPassed');
  // remove e (3 of 5) and d (3 of 4): n=3 → needs 2, already has a and b
  const r1 = await client.proposeRemoval(a, e.address);
  await client.vote(b, r1.motionId);
  await client.vote(c, r1.motionId);
  const r2 = await client.proposeRemoval(a, d.address);
  await client.vote(b, r2.motionId);
  await client.vote(c, r2.motionId);
  t.notOk(await client.registry.read('isProvider', outsider.address));
  const executed = await client.executeMotion(outsider, admit.motionId);
  t.ok(executed.events.some((ev) => ev.name === 'ProviderAdmitted'));
  t.ok(await client.registry.read('isProvider', outsider.address));
});

t.test('getValidators lists node addresses; providers update only their own record', async (t) => {
  const [a, b] = pool as [HDNodeWallet, HDNodeWallet];
  const { client } = await chain.deploy([a, b]);
  t.same((await client.getValidators()).map((v) => v.toLowerCase()), [nodeOf(a.address), nodeOf(b.address)]);
  const newNode = nodeOf(outsider.address);
  const updated = await client.updateProvider(a, { name: 'Renamed', fhirBaseUrl: 'https://new.example/fhir', node: newNode });
  const ev = updated.events[0];
  t.equal(ev?.name, 'ProviderUpdated');
  t.equal((await client.registry.read('getProvider', a.address)).name, 'Renamed');
  t.equal((await client.getValidators())[0]?.toLowerCase(), newNode);
  await rejectsWith(t, client.updateProvider(b, { name: 'B', fhirBaseUrl: '', node: newNode }), 'InvalidNode');
  await rejectsWith(t, client.updateProvider(outsider, { name: 'X', fhirBaseUrl: '', node: nodeOf(pool[5]!.address) }), 'NotProvider');
  await rejectsWith(t, client.updateProvider(a, { name: 'x'.repeat(129), fhirBaseUrl: '', node: newNode }), 'TextTooLong');
});

t.test('events tell a follower the whole motion', async (t) => {
  const [a, b, c] = pool as [HDNodeWallet, HDNodeWallet, HDNodeWallet];
  const { client, deployment } = await chain.deploy([a, b, c]);
  const founding = (await chain.provider.getLogs({ address: deployment.addresses.providerRegistry, fromBlock: deployment.fromBlock }))
    .map((l) => client.decodeLog(l))
    .filter((e) => e?.name === 'ProviderAdmitted');
  t.equal(founding.length, 3, 'founders are announced with ProviderAdmitted, motion 0');
  const proposed = await client.proposeAdmission(a, candidateRecord(outsider));
  const p = proposed.events.find((e) => e.name === 'ProviderProposed');
  t.match(p?.args, { kind: 0, subject: outsider.address, proposer: a.address, name: 'Candidate', fhirBaseUrl: 'https://c.example/fhir' });
  const voted = await client.vote(b, proposed.motionId);
  t.same(
    voted.events.map((e) => e.name),
    ['ProviderVoted', 'ProviderAdmitted'],
  );
  t.match(voted.events[1]?.args, { provider: outsider.address, name: 'Candidate', motionId: proposed.motionId });
});

t.test('a motion lapses 30 days after it opens; a new one about the same subject may then open', async (t) => {
  const [a, b, c] = pool as [HDNodeWallet, HDNodeWallet, HDNodeWallet];
  const { client } = await chain.deploy([a, b, c]);
  const { motionId } = await client.proposeAdmission(a, candidateRecord(outsider));
  await chain.increaseTime(30 * 86_400);
  await rejectsWith(t, client.vote(b, motionId), 'MotionLapsed', 'no votes after its lifetime');
  await rejectsWith(t, client.executeMotion(b, motionId), 'MotionLapsed');
  t.equal((await client.registry.read('getMotion', motionId)).motion.status, MotionStatus.Lapsed, 'it reads as lapsed');
  t.equal(await client.registry.read('openMotionOf', outsider.address), 0n);
  t.same(await client.listMotions(), [], 'and is not listed as open');
  const again = await client.proposeAdmission(b, candidateRecord(outsider));
  t.same(again.events.map((e) => e.name), ['ProviderMotionLapsed', 'ProviderProposed', 'ProviderVoted'], 'the new motion records the lapse of the old one first');
  t.match(again.events[0]?.args, { motionId, subject: outsider.address });
  await client.vote(c, again.motionId);
  t.ok(await client.registry.read('isProvider', outsider.address), 'the new motion carries');
  t.equal((await client.registry.read('getMotion', motionId)).motion.status, MotionStatus.Lapsed, 'the old one stays lapsed');
});

t.test('anyone may record a lapsed motion with expireMotion, and only once it lapsed', async (t) => {
  const [a, b, c] = pool as [HDNodeWallet, HDNodeWallet, HDNodeWallet];
  const { client } = await chain.deploy([a, b, c]);
  const { motionId } = await client.proposeAdmission(a, candidateRecord(outsider));
  await rejectsWith(t, client.expireMotion(outsider, motionId), 'MotionNotLapsed', 'not within its 30 days');
  await chain.increaseTime(30 * 86_400);
  const expired = await client.expireMotion(outsider, motionId);
  t.same(expired.events.map((e) => e.name), ['ProviderMotionLapsed'], 'a non-provider records the lapse');
  t.match(expired.events[0]?.args, { motionId, subject: outsider.address });
  t.equal((await client.registry.read('getMotion', motionId)).motion.status, MotionStatus.Lapsed);
  await rejectsWith(t, client.expireMotion(outsider, motionId), 'MotionNotOpen', 'a lapse is recorded once');
  await rejectsWith(t, client.vote(b, motionId), 'MotionNotOpen');
  await rejectsWith(t, client.expireMotion(outsider, 99n), 'MotionNotOpen', 'an unknown motion');
  const again = await client.proposeAdmission(b, candidateRecord(outsider));
  t.same(again.events.map((e) => e.name), ['ProviderProposed', 'ProviderVoted'], 'a new motion about the subject has nothing left to close');
});

t.test('a passed or rescinded motion cannot be expired', async (t) => {
  const [a, b, c] = pool as [HDNodeWallet, HDNodeWallet, HDNodeWallet];
  const { client } = await chain.deploy([a, b]);
  const passed = await client.proposeAdmission(a, candidateRecord(c));
  await client.vote(b, passed.motionId);
  const rescinded = await client.proposeAdmission(a, candidateRecord(outsider));
  await client.rescind(a, rescinded.motionId);
  await chain.increaseTime(30 * 86_400);
  await rejectsWith(t, client.expireMotion(outsider, passed.motionId), 'MotionNotOpen');
  await rejectsWith(t, client.expireMotion(outsider, rescinded.motionId), 'MotionNotOpen');
});

t.test('once its proposer was removed, any provider may rescind a motion', async (t) => {
  const [a, b, c, d] = pool as [HDNodeWallet, HDNodeWallet, HDNodeWallet, HDNodeWallet];
  const { client } = await chain.deploy([a, b, c, d]);
  const stale = await client.proposeAdmission(d, candidateRecord(outsider));
  await rejectsWith(t, client.rescind(a, stale.motionId), 'NotProposer', 'not while the proposer is a provider');
  const removal = await client.proposeRemoval(a, d.address);
  await client.vote(b, removal.motionId);
  await client.vote(c, removal.motionId); // 3 of 4: d is out
  const rescinded = await client.rescind(a, stale.motionId);
  t.same(rescinded.events.map((e) => e.name), ['ProviderRescinded']);
  await rejectsWith(t, client.rescind(outsider, stale.motionId), 'MotionNotOpen');
});
