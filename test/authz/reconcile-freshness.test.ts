/**
 * A reconcile over many records does not starve the chain follower: it runs on a queue of its
 * own, so syncs go on and requests stay answerable (fresh) while it compares thousands of grants
 * with the contracts: a block mined while the run is held halfway is folded before it ends.
 */
import t from 'tap';
import { Interface, getAddress, toBeHex, type InterfaceAbi } from 'ethers';
import { consentAbi } from '../../contracts/bindings/Consent.ts';
import { startRedisServer } from '../../server/embedded/redis-server.ts';
import { demoAddress } from '../../server/embedded/demo-identities.ts';
import { startTestChain } from './support/test-chain.ts';
import { startRpcProxy } from '../support/rpc-proxy.ts';
import { authorizationOn, eventually } from './support/authz-fixtures.ts';

const GRANTS = 3_000;
const PATIENTS = 30;
const patientOf = (i: number) => getAddress('0x10' + (i + 1).toString(16).padStart(38, '0'));

t.test('the follower stays fresh while a reconcile compares 3,000 grants', async (t) => {
  const redisServer = await startRedisServer();
  t.teardown(() => redisServer.stop());
  const chain = await startTestChain({ extraArgs: ['--auto-impersonate', '--gas-limit', '2000000000'] });
  t.teardown(() => chain.close());

  // Many grants quickly: impersonated patients, JSON-RPC batches, one block per batch.
  const rpc = async (calls: { method: string; params: unknown[] }[]) => {
    const res = await fetch(chain.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(calls.map((c, id) => ({ jsonrpc: '2.0', id, ...c }))) });
    const failed = ((await res.json()) as { error?: { message: string } }[]).find((o) => o.error);
    if (failed?.error) throw new Error(failed.error.message);
  };
  await rpc(Array.from({ length: PATIENTS }, (_, i) => ({ method: 'anvil_setBalance', params: [patientOf(i), toBeHex(10n ** 20n)] })));
  await chain.provider.send('evm_setAutomine', [false]);
  const iface = new Interface(consentAbi as unknown as InterfaceAbi);
  const terms = { providers: [], resourceTypes: ['MedicationRequest'], actions: 3, purpose: 0, notBefore: 0, expiresAt: 0 };
  for (let start = 0; start < GRANTS; start += 500) {
    await rpc(
      Array.from({ length: 500 }, (_, j) => {
        const k = start + j;
        const patient = patientOf(k % PATIENTS);
        return {
          method: 'eth_sendTransaction',
          params: [{ from: patient, to: chain.contracts.consent, nonce: toBeHex(Math.floor(k / PATIENTS)), gas: toBeHex(400_000), data: iface.encodeFunctionData('createGrant', [patient, demoAddress('pharmacy'), terms]) }],
        };
      }),
    );
    await chain.provider.send('evm_mine', []);
  }
  await chain.provider.send('evm_setAutomine', [true]);

  // The node reaches the chain through a proxy that can hold the reconcile's reads mid-run.
  const rpcProxy = await startRpcProxy(chain.url);
  t.teardown(() => rpcProxy.close());
  const authz = await authorizationOn(t, chain, redisServer.url, 'reconcile-freshness', {
    chain: { rpcUrl: rpcProxy.url },
    reconcileEveryMs: 3_600_000,
    reconcileBatch: GRANTS,
  });
  const head = await chain.provider.getBlockNumber();
  await eventually('the follower folded the grants', () => (authz.freshness.state().cursor >= head ? true : undefined), 60_000);
  const queue = authz.reconciles!.queue;

  // The reconcile's contract reads stop halfway through the grants (the follower reads logs only).
  const midRun = rpcProxy.hold('eth_call', { after: GRANTS / 2 });
  const job = await queue.add('reconcile', {});
  await midRun;
  const block = (await chain.provider.send('evm_mine', []), await chain.provider.getBlockNumber());
  await eventually('the follower folded a block mined mid-run', () => (authz.freshness.state().cursor >= block ? true : undefined));
  // On one shared queue no sync could start before the reconcile ended.
  t.equal(await job.getState(), 'active', 'the follower folded the block while the reconcile was still comparing');
  t.ok(authz.freshness.verdict().fresh, 'requests are answerable (fresh) during the run');
  rpcProxy.release();

  await eventually('the reconcile finished', async () => (['completed', 'failed'].includes(await job.getState()) ? true : undefined), 60_000);
  const done = await queue.getJob(job.id as string);
  const report = done?.returnvalue as { checked: { grants: number }; repairs: unknown[] };
  t.equal(report.checked.grants, GRANTS, 'one run compared every grant');
  t.same(report.repairs, []);
});
