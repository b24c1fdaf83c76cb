import t from 'tap';
import { createServer } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAnvil, startEmbeddedChain, EMBEDDED_CHAIN_ID } from '../../server/embedded/chain.ts';
import { demoAddress, demoWallet } from '../../server/embedded/demo-identities.ts';
import { ALL } from './helpers.ts';

t.test('anvil answers on loopback with the embedded chain id', async (t) => {
  const anvil = await startAnvil();
  t.teardown(() => anvil.stop());
  t.equal(BigInt(await anvil.rpc<string>('eth_chainId')), BigInt(EMBEDDED_CHAIN_ID));
  t.match(anvil.rpcUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
});

t.test('a taken fixed port is a clear start error', async (t) => {
  const blocker = createServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => blocker.once('listening', resolve));
  t.teardown(() => blocker.close());
  const address = blocker.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  await t.rejects(startAnvil({ port }), /anvil exited at start/);
});

t.test('with a data dir, a restart finds the same network, its seed and later changes', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'medrec-chain-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const first = await startEmbeddedChain({ dataDir, blockTime: 0 });
  const alice = demoWallet('alice').connect(first.provider);
  const { grantId } = await first.client.createGrant(alice, { patient: alice.address, grantee: demoAddress('researcher'), terms: ALL });
  const addresses = first.addresses;
  await first.stop();

  const second = await startEmbeddedChain({ dataDir, blockTime: 0 });
  t.teardown(() => second.stop());
  t.same(second.addresses, addresses, 'no second deployment');
  t.ok(second.seed, 'the seed result comes back from the data dir');
  t.same(second.seed?.grants, first.seed?.grants);
  t.ok((await second.client.getGrant(grantId)).active, 'a grant made after seeding survived the restart');
  t.equal(await second.client.consent.read('grantCount'), grantId, 'and nothing was seeded twice');
});

t.test('a data dir whose seed never completed gets a fresh network', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'medrec-chain-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const unseeded = await startEmbeddedChain({ dataDir, blockTime: 0, seed: false });
  const before = unseeded.addresses;
  await unseeded.stop();
  const seeded = await startEmbeddedChain({ dataDir, blockTime: 0 });
  t.teardown(() => seeded.stop());
  t.not(seeded.addresses.consent, before.consent, 'deployed afresh rather than seeding on top of an unknown state');
  t.ok(seeded.seed);
  t.equal((await seeded.client.listGrants({ grantee: demoAddress('pharmacy') })).length, 2);
});
