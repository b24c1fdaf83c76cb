import t from 'tap';
import { deriveLinkSalt } from '../../contracts/link-commitment.ts';
import { startEmbeddedChain } from '../../server/embedded/chain.ts';
import { DEMO_CAST, demoAddress, demoWallet } from '../../server/embedded/demo-identities.ts';
import { DEMO_PATIENT_LINKS } from '../../server/embedded/demo-links.ts';
import { chainCommitments, verifyPatientLinks } from '../../server/authz/link-verification.ts';

t.test('the link table is used only where it reproduces the on-chain commitment', async (t) => {
  const chain = await startEmbeddedChain({ blockTime: 0 });
  t.teardown(() => chain.stop());
  const links = DEMO_PATIENT_LINKS.map((l) => ({ patient: demoAddress(l.patient), sourceId: l.sourceId, localId: l.localId }));
  const options = {
    providerOfSource: (id: string) => (DEMO_CAST.some((i) => i.handle === id && i.role === 'provider') ? demoAddress(id) : undefined),
    saltOf: (provider: string, patient: string) => {
      const identity = DEMO_CAST.find((i) => i.role === 'provider' && demoAddress(i.handle) === provider);
      return identity ? deriveLinkSalt(demoWallet(identity.handle).privateKey, patient) : undefined;
    },
    commitmentOf: chainCommitments(chain.provider, chain.addresses.relationships),
  };

  const honest = await verifyPatientLinks(links, options);
  t.same(honest.rejected, [], 'every demo link is vouched for on chain');
  t.equal(honest.verified.length, links.length);

  const alice = demoAddress('alice');
  const dave = demoAddress('dave');
  const tampered = links.map((l) => (l.patient === alice && l.sourceId === 'clinic' ? { ...l, localId: 'rfc-1002' } : l));
  const forged = [...links, { patient: dave, sourceId: 'hospital', localId: 'someone-else' }];
  const r1 = await verifyPatientLinks(tampered, options);
  t.same(r1.rejected, [{ provider: demoAddress('clinic'), patient: alice, reason: 'mismatch' }], "a row pointing alice at another person's record is refused");
  t.notOk(r1.verified.some((l) => l.patient === alice && l.sourceId === 'clinic'));
  t.ok(r1.verified.some((l) => l.patient === alice && l.sourceId === 'hospital'), "alice's other providers are unaffected");
  const r2 = await verifyPatientLinks(forged, options);
  t.same(r2.rejected, [{ provider: demoAddress('hospital'), patient: dave, reason: 'no-relationship' }], 'a link without a relationship on chain is refused');
});
