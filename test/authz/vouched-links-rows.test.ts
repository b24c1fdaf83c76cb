/**
 * A patient link resolves while the commitment its relationship holds on chain (as the Redis
 * index has it) is the one the provider's current rows for that patient, with their salt,
 * recompute to: rows linked at start and rows the provider console adds later alike. A
 * relationship re-committed over matching rows keeps its links; rows that do not reproduce the
 * commitment never resolve.
 */
import t from 'tap';
import { linkCommitment, deriveLinkSalt, type LocalLink } from '../../contracts/link-commitment.ts';
import { startRedisServer } from '../../server/embedded/redis-server.ts';
import { demoAddress } from '../../server/embedded/demo-identities.ts';
import { InMemoryPatientLinks } from '../../server/fhir/patient-links.ts';
import { ConsoleLinks } from '../../server/web/desks/console-links.ts';
import { startTestChain } from './support/test-chain.ts';
import { authorizationOn, eventually } from './support/authz-fixtures.ts';

const hospital = demoAddress('hospital');
const clinic = demoAddress('clinic');
const alice = demoAddress('alice');
const bob = demoAddress('bob');
const carol = demoAddress('carol');
const dave = demoAddress('dave');
/** Source id → provider: the hospital keeps records in two sources. */
const PROVIDER_OF_SOURCE: Record<string, string> = { hospital, 'hospital-lab': hospital, clinic };
const providerOfSource = (sourceId: string) => PROVIDER_OF_SOURCE[sourceId];
const SECRET = `0x${'5a'.repeat(32)}`;
const saltOf = (_provider: string, patient: string) => deriveLinkSalt(SECRET, patient);
const commitmentOf = (provider: string, patient: string, rows: LocalLink[]) => linkCommitment({ provider, patient, salt: saltOf(provider, patient), links: rows });

t.test('links resolve only through rows that reproduce the on-chain commitment', async (t) => {
  const redisServer = await startRedisServer();
  t.teardown(() => redisServer.stop());
  const chain = await startTestChain();
  t.teardown(() => chain.close());
  const authz = await authorizationOn(t, chain, redisServer.url, 'vouched-links-rows');

  /** Sends a Relationships call as a provider and waits until its block is in the Redis index. */
  const commit = async (provider: string, fn: 'addRelationship' | 'updateCommitment', patient: string, rows: LocalLink[]) => {
    const handle = provider === hospital ? 'hospital' : 'clinic';
    const block = await chain.send(handle, 'Relationships', fn, patient, commitmentOf(provider, patient, rows));
    await eventually(`the follower folded block ${block}`, () => (authz.freshness.state().cursor >= block ? true : undefined));
  };

  await t.test('a re-committed relationship whose rows match keeps its links', async (t) => {
    const table = new InMemoryPatientLinks([{ patient: alice, sourceId: 'hospital', localId: 'mrn-1' }]);
    await commit(hospital, 'addRelationship', alice, [{ sourceId: 'hospital', localId: 'mrn-1' }]);
    const links = authz.vouchLinks(table, { providerOfSource, saltOf });
    await links.refresh([alice]);
    t.same(links.localIds(alice, 'hospital'), ['mrn-1'], 'linked at start, vouched for');

    // The console re-commits over both rows, then the table takes the new one.
    const both = [{ sourceId: 'hospital', localId: 'mrn-1' }, { sourceId: 'hospital-lab', localId: 'lab-7' }];
    await commit(hospital, 'updateCommitment', alice, both);
    table.add({ patient: alice, sourceId: 'hospital-lab', localId: 'lab-7' });
    await links.refresh([alice]);
    t.same(links.localIds(alice, 'hospital'), ['mrn-1'], 'the link from start survives the new commitment');
    t.same(links.localIds(alice, 'hospital-lab'), ['lab-7'], 'and the added row resolves with it');
    t.equal(links.patientOf('hospital-lab', 'lab-7'), alice);
  });

  await t.test('a console-added link resolves once the chain carries its commitment, not before', async (t) => {
    const consoleLinks = new ConsoleLinks([]);
    const links = authz.vouchLinks(consoleLinks.table, { providerOfSource, saltOf });

    consoleLinks.add({ patient: bob, sourceId: 'clinic', localId: 'c-9' });
    await links.refresh([bob]);
    t.same(links.localIds(bob, 'clinic'), [], 'no relationship on chain yet');
    await commit(clinic, 'addRelationship', bob, [{ sourceId: 'clinic', localId: 'c-9' }]);
    await links.refresh([bob]);
    t.same(links.localIds(bob, 'clinic'), ['c-9'], 'resolves once the relationship holds its commitment');

    // A second row ahead of its commitment: the group no longer reproduces what the chain holds.
    consoleLinks.add({ patient: bob, sourceId: 'clinic', localId: 'c-10' });
    t.same(links.localIds(bob, 'clinic'), [], 'the rows wait for the updated commitment');
    await commit(clinic, 'updateCommitment', bob, [{ sourceId: 'clinic', localId: 'c-9' }, { sourceId: 'clinic', localId: 'c-10' }]);
    await links.refresh([bob]);
    t.same(links.localIds(bob, 'clinic'), ['c-9', 'c-10'], 'both resolve under the updated commitment');
    t.same(links.patients(), [bob]);
  });

  await t.test('rows that do not reproduce the commitment do not resolve', async (t) => {
    const table = new InMemoryPatientLinks([{ patient: carol, sourceId: 'hospital', localId: 'mrn-3' }]);
    await commit(hospital, 'addRelationship', carol, [{ sourceId: 'hospital', localId: 'mrn-3' }]);
    const links = authz.vouchLinks(table, { providerOfSource, saltOf });
    await links.refresh([carol]);
    t.same(links.localIds(carol, 'hospital'), ['mrn-3'], 'the committed row resolves');

    // The row now points carol at another local record than the one committed.
    table.remove({ patient: carol, sourceId: 'hospital', localId: 'mrn-3' });
    table.add({ patient: carol, sourceId: 'hospital', localId: 'mrn-4' });
    t.same(links.localIds(carol, 'hospital'), [], 'a changed row is not vouched for');
    t.equal(links.patientOf('hospital', 'mrn-4'), undefined);
    t.same(links.linksOf(carol), []);

    const wrongSalt = authz.vouchLinks(new InMemoryPatientLinks([{ patient: carol, sourceId: 'hospital', localId: 'mrn-3' }]), {
      providerOfSource,
      saltOf: () => `0x${'01'.repeat(32)}`,
    });
    await wrongSalt.refresh([carol]);
    t.same(wrongSalt.localIds(carol, 'hospital'), [], 'the committed row under another salt is not vouched for');
  });

  await t.test('a group whose relationship or rows are gone is forgotten: its commitment is recomputed when they come back', async (t) => {
    const row = { sourceId: 'clinic', localId: 'c-dave' };
    const table = new InMemoryPatientLinks([{ patient: dave, ...row }]);
    let saltLookups = 0;
    const countingSaltOf = (provider: string, patient: string) => (saltLookups++, saltOf(provider, patient));
    await commit(clinic, 'addRelationship', dave, [row]);
    const links = authz.vouchLinks(table, { providerOfSource, saltOf: countingSaltOf });
    await links.refresh([dave]);
    t.same(links.localIds(dave, 'clinic'), ['c-dave']);
    t.same(links.localIds(dave, 'clinic'), ['c-dave']);
    t.equal(saltLookups, 1, 'recomputed once, then taken from the cache');

    // The relationship ends, then comes back over the same rows.
    const ended = await chain.send('clinic', 'Relationships', 'endRelationship', clinic, dave);
    await eventually(`the follower folded block ${ended}`, () => (authz.freshness.state().cursor >= ended ? true : undefined));
    await links.refresh([dave]);
    t.same(links.localIds(dave, 'clinic'), [], 'the ended relationship vouches for nothing');
    await commit(clinic, 'addRelationship', dave, [row]);
    await links.refresh([dave]);
    t.same(links.localIds(dave, 'clinic'), ['c-dave']);
    t.equal(saltLookups, 2, 'the ended group was forgotten: its commitment is recomputed');

    // The rows go (the relationship stays), then come back.
    table.remove({ patient: dave, ...row });
    await links.refresh([dave]);
    table.add({ patient: dave, ...row });
    t.same(links.localIds(dave, 'clinic'), ['c-dave']);
    t.equal(saltLookups, 3, 'the group without rows was forgotten: its commitment is recomputed');
  });
});
