import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSourcesLinks } from '../../server/config/sources-file.ts';
import type { ConfigError } from '../../server/config/config.ts';
import { startEmbeddedChain } from '../../server/embedded/chain.ts';
import { DEMO_CAST, demoAddress, demoLinkSalt } from '../../server/embedded/demo-identities.ts';
import { DEMO_PATIENT_LINKS } from '../../server/embedded/demo-links.ts';
import { chainCommitments, verifyPatientLinks } from '../../server/authz/link-verification.ts';

t.test('the link table is used only where it reproduces the on-chain commitment', async (t) => {
  const chain = await startEmbeddedChain({ blockTime: 0 });
  t.teardown(() => chain.stop());
  const links = DEMO_PATIENT_LINKS.map((l) => ({ patient: demoAddress(l.patient), sourceId: l.sourceId, localId: l.localId }));
  const options = {
    providerOfSource: (id: string) => (DEMO_CAST.some((i) => i.handle === id && i.role === 'provider') ? demoAddress(id) : undefined),
    saltOf: demoLinkSalt,
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

t.test('sources file link rows carry the salt of their on-chain commitment', async (t) => {
  const file = join(mkdtempSync(join(tmpdir(), 'medrec-links-')), 'sources.json');
  const patient = demoAddress('alice');
  const salt = `0x${'ab'.repeat(32)}`;
  writeFileSync(file, JSON.stringify({ sources: [], links: [{ patient, sourceId: 'h', localId: '42', salt }, { patient, sourceId: 'h', localId: '43' }] }));
  t.same(await readSourcesLinks(file), [
    { patient, sourceId: 'h', localId: '42', salt },
    { patient, sourceId: 'h', localId: '43' },
  ]);
  writeFileSync(file, JSON.stringify({ sources: [], links: [{ patient, sourceId: 'h', localId: '42', salt: '0x1234' }] }));
  const err = await readSourcesLinks(file).then(() => undefined, (e: unknown) => e as ConfigError);
  t.same(err?.problems, [`${file}: links[0].salt must be 0x and 64 hex digits`], 'a bad salt is one line naming the row');
});
