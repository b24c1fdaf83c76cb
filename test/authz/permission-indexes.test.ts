import t from 'tap';
import { Redis } from 'ioredis';
import { startRedisServer } from '../../server/embedded/redis-server.ts';
import { authzKeys } from '../../server/authz/authz-keys.ts';
import { applyWindow, readCursor } from '../../server/authz/redis-indexes.ts';
import { buildSnapshot } from '../../server/authz/snapshot-builder.ts';
import type { ChainEvent } from '../../server/authz/chain-events.ts';

const alice = '0x00000000000000000000000000000000000a11ce';
const bob = '0x0000000000000000000000000000000000000b0b';
const pharmacy = '0x00000000000000000000000000000000000000f1';
const proxy = '0x00000000000000000000000000000000000000f2';
const researcher = '0x00000000000000000000000000000000000000f3';
const hospital = '0x00000000000000000000000000000000000000a1';
const clinic = '0x00000000000000000000000000000000000000a2';

const at = (blockNumber: number, logIndex = 0) => ({ blockNumber, logIndex });
const pharmacyGrant = (id: string, patient: string, block: number): Extract<ChainEvent, { kind: 'grant-created' }> => ({
  ...at(block),
  kind: 'grant-created',
  grantId: id,
  patient,
  grantee: pharmacy,
  providers: '*',
  resourceTypes: ['MedicationRequest', 'Medication'],
  actions: ['read', 'search'],
  purpose: 'treatment',
  notBefore: 0,
  expiresAt: 0,
});

t.test('permission indexes', async (t) => {
  const server = await startRedisServer();
  const redis = new Redis(server.url);
  t.teardown(async () => {
    redis.disconnect();
    await server.stop();
  });
  const keys = authzKeys('test-indexes:');

  t.test('a window is applied once: a second attempt from the same cursor is refused', async (t) => {
    const events = [pharmacyGrant('1', alice, 5), pharmacyGrant('2', bob, 6)];
    const first = await applyWindow(redis, keys, { expectedCursor: undefined, toBlock: 10, head: 10 }, events);
    t.ok(first.applied);
    const again = await applyWindow(redis, keys, { expectedCursor: undefined, toBlock: 10, head: 10 }, events);
    t.notOk(again.applied, 'the cursor moved, so the replay is not applied');
    t.equal(await readCursor(redis, keys), 10);
    t.equal(await redis.get(keys.eventsApplied), '2');
  });

  t.test('a grantee sees exactly the patients and types granted to it', async (t) => {
    const { snapshot } = await buildSnapshot(redis, keys, pharmacy);
    t.equal(snapshot.blockNumber, 10);
    const grants = snapshot.entries.filter((e) => e.basis === 'grant');
    t.same(grants.map((e) => e.patient).sort(), [alice, bob].sort());
    t.same(grants[0]?.resourceTypes, ['MedicationRequest', 'Medication']);
    t.same(snapshot.entries.find((e) => e.basis === 'self')?.patient, pharmacy, 'everyone is their own patient');
  });

  t.test('a revocation drops the grant and bumps the grantee version', async (t) => {
    const before = Number(await redis.get(keys.subjectVersion(pharmacy)));
    const r = await applyWindow(redis, keys, { expectedCursor: 10, toBlock: 11, head: 11 }, [{ ...at(11), kind: 'grant-revoked', grantId: '1' }]);
    t.ok(r.applied);
    t.equal(Number(await redis.get(keys.subjectVersion(pharmacy))), before + 1);
    const { snapshot } = await buildSnapshot(redis, keys, pharmacy);
    t.same(snapshot.entries.filter((e) => e.basis === 'grant').map((e) => e.patient), [bob]);
  });

  t.test('an expired grant is not in a snapshot built after its expiry', async (t) => {
    const expiresAt = 2_000_000_000;
    await applyWindow(redis, keys, { expectedCursor: 11, toBlock: 12, head: 12 }, [{ ...pharmacyGrant('3', alice, 12), expiresAt }]);
    const live = await buildSnapshot(redis, keys, pharmacy, expiresAt - 1);
    t.ok(live.snapshot.entries.some((e) => e.ref === 'grant-3'));
    const later = await buildSnapshot(redis, keys, pharmacy, expiresAt);
    t.notOk(later.snapshot.entries.some((e) => e.ref === 'grant-3'));
  });

  t.test('a proxy sees what its patient sees until the delegation ends', async (t) => {
    await applyWindow(redis, keys, { expectedCursor: 12, toBlock: 13, head: 13 }, [{ ...at(13), kind: 'delegation-set', patient: alice, delegate: proxy, expiresAt: 0 }]);
    let { snapshot } = await buildSnapshot(redis, keys, proxy);
    t.same(
      snapshot.entries.filter((e) => e.basis === 'delegation').map((e) => [e.patient, e.providers, e.resourceTypes]),
      [[alice, [], '*']],
      'every type of alice, at the providers holding her records (none yet)',
    );
    await applyWindow(redis, keys, { expectedCursor: 13, toBlock: 14, head: 14 }, [{ ...at(14), kind: 'delegation-revoked', patient: alice, delegate: proxy }]);
    ({ snapshot } = await buildSnapshot(redis, keys, proxy));
    t.equal(snapshot.entries.filter((e) => e.basis === 'delegation').length, 0);
  });

  t.test('a provider sees only the patients it holds records for, and only its own records', async (t) => {
    await applyWindow(redis, keys, { expectedCursor: 14, toBlock: 15, head: 15 }, [
      { ...at(15, 0), kind: 'provider-added', provider: hospital },
      { ...at(15, 1), kind: 'relationship-added', provider: hospital, patient: alice, commitment: '0x01' },
      { ...at(15, 2), kind: 'relationship-added', provider: clinic, patient: bob, commitment: '0x02' },
    ]);
    const { snapshot } = await buildSnapshot(redis, keys, hospital);
    t.same(snapshot.entries.filter((e) => e.basis === 'relationship').map((e) => [e.patient, e.providers]), [[alice, [hospital]]]);
    const notAdmitted = await buildSnapshot(redis, keys, clinic);
    t.equal(notAdmitted.snapshot.entries.filter((e) => e.basis === 'relationship').length, 0, 'a provider not admitted by the network holds nothing');
  });

  t.test('study enrolment is a research-purpose grant; withdrawal revokes it', async (t) => {
    const studyGrant = (id: string, patient: string): ChainEvent => ({
      ...pharmacyGrant(id, patient, 16),
      grantee: researcher,
      resourceTypes: ['Observation'],
      purpose: 'research',
    });
    await applyWindow(redis, keys, { expectedCursor: 15, toBlock: 16, head: 16 }, [
      { ...at(16, 0), kind: 'study-opened', studyId: '7', researcher },
      { ...studyGrant('20', bob), logIndex: 1 },
      { ...at(16, 2), kind: 'study-enrolled', studyId: '7', patient: bob, grantId: '20' },
      { ...studyGrant('21', alice), logIndex: 3 },
      { ...at(16, 4), kind: 'study-enrolled', studyId: '7', patient: alice, grantId: '21' },
      { ...at(16, 5), kind: 'grant-revoked', grantId: '21' },
      { ...at(16, 6), kind: 'study-closed', studyId: '7' },
    ]);
    const { snapshot } = await buildSnapshot(redis, keys, researcher);
    t.same(
      snapshot.entries.filter((e) => e.basis === 'study').map((e) => [e.patient, e.purpose, e.resourceTypes]),
      [[bob, 'research', ['Observation']]],
      'closing a study keeps its enrolled patients; the withdrawn one is gone',
    );
  });

  t.test("a patient's own and its proxy's entries reach the patient's providers, and follow its relationships", async (t) => {
    await applyWindow(redis, keys, { expectedCursor: 16, toBlock: 17, head: 17 }, [{ ...at(17), kind: 'delegation-set', patient: alice, delegate: proxy, expiresAt: 0 }]);
    const entry = async (subject: string, basis: string) => (await buildSnapshot(redis, keys, subject)).snapshot.entries.find((e) => e.patient === alice && e.basis === basis)?.providers;
    t.same(await entry(alice, 'self'), [hospital]);
    t.same(await entry(proxy, 'delegation'), [hospital]);
    const versions = async () => Promise.all([alice, proxy].map(async (s) => Number(await redis.get(keys.subjectVersion(s)))));
    const before = await versions();
    await applyWindow(redis, keys, { expectedCursor: 17, toBlock: 18, head: 18 }, [{ ...at(18), kind: 'relationship-added', provider: clinic, patient: alice, commitment: '0x03' }]);
    const after = await versions();
    t.ok(after[0]! > before[0]! && after[1]! > before[1]!, 'a new relationship invalidates the patient and its proxies');
    t.same((await entry(proxy, 'delegation') as string[]).sort(), [clinic, hospital].sort());
    await applyWindow(redis, keys, { expectedCursor: 18, toBlock: 19, head: 19 }, [{ ...at(19), kind: 'relationship-ended', provider: hospital, patient: alice }]);
    t.same(await entry(alice, 'self'), [clinic]);
    t.same(await entry(proxy, 'delegation'), [clinic]);
  });
});
