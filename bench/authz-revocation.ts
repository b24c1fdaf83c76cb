/**
 * Revocation latency: from the block that carries a revocation to the first refused FHIR request,
 * on an anvil chain with one-second blocks, the follower on its default schedule (a sync job every
 * 250 ms) and the requests going through the FHIR app with the chain-backed policy.
 * A watcher polls eth_blockNumber every 5 ms and stamps when each block appears; a request loop
 * asks for the patient's MedicationRequests as the pharmacy until it is refused.
 * Prints p50/p99 over the trials (aim: p99 under 1.1 s, one block).
 *
 * With `--ws` the follower is also woken by the node's newHeads WebSocket subscription, as in
 * the embedded `npm start`.
 *
 * Run: `node bench/authz-revocation.ts [--ws]` (`--quick`: 10 trials; default 50).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Contract, Wallet, toBeHex, type InterfaceAbi } from 'ethers';
import { consentAbi } from '../contracts/bindings/Consent.ts';
import { startRedisServer } from '../server/embedded/redis-server.ts';
import { startEmbeddedChain } from '../server/embedded/chain.ts';
import { demoAddress } from '../server/embedded/demo-identities.ts';
import { startAuthorization } from '../server/authz/authorization.ts';
import { demoApp } from '../test/fhir/fhir-app.ts';
import { contextFor, embeddedDemoSources, eventually, scope } from '../test/authz/support/authz-fixtures.ts';

const TRIALS = process.argv.includes('--quick') ? 10 : 50;
const ws = process.argv.includes('--ws');
const pharmacyAddress = demoAddress('pharmacy');
const pharmacy = contextFor(pharmacyAddress, [scope('system', '*')], { clientId: 'corner-pharmacy' });

const redis = await startRedisServer();
const chain = await startEmbeddedChain({ blockTime: 1 });
const sources = await embeddedDemoSources();
const authz = await startAuthorization({
  redisUrl: redis.url,
  chain: {
    rpcUrl: chain.rpcUrl,
    chainId: chain.chainId,
    contracts: chain.addresses,
    fromBlock: chain.deployment.fromBlock,
    ...(ws ? { wsUrl: chain.rpcUrl.replace(/^http/, 'ws') } : {}),
  },
  keyPrefix: 'bench-revocation:',
  queuePrefix: 'bench-revocation',
  sources: () => sources,
});
const app = await demoApp({ sources, accessPolicy: authz.policy });
app.addHook('onRequest', async (request) => {
  request.accessContext = pharmacy;
});

/** Block number → when this process first saw it (performance.now()). */
const seen = new Map<number, number>();
let watching = true;
const watcher = (async () => {
  let last = -1;
  while (watching) {
    const res = await fetch(chain.rpcUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_blockNumber', params: [] }),
    });
    const at = performance.now();
    const n = Number(((await res.json()) as { result: string }).result);
    for (let b = last + 1; b <= n; b++) if (!seen.has(b)) seen.set(b, at);
    last = Math.max(last, n);
    await sleep(5);
  }
})();

try {
  const patients = Array.from({ length: TRIALS }, () => Wallet.createRandom().connect(chain.provider));
  await Promise.all(patients.map((w) => chain.anvil.rpc('anvil_setBalance', [w.address, toBeHex(10n ** 18n)])));
  const consentOf = (w: Wallet | ReturnType<typeof Wallet.createRandom>) => new Contract(chain.addresses.consent, consentAbi as unknown as InterfaceAbi, w);
  const terms = { providers: [], resourceTypes: ['MedicationRequest'], actions: 3, purpose: 0, notBefore: 0, expiresAt: 0 };
  const created = await Promise.all(patients.map(async (w) => (await consentOf(w).getFunction('createGrant').send(w.address, pharmacyAddress, terms)).wait()));
  const lastCreated = Math.max(...created.map((r) => r?.blockNumber ?? 0));
  await eventually('grants synced', () => (authz.freshness.state().cursor >= lastCreated ? true : undefined), 60_000);

  const latencies: number[] = [];
  let unavailable = 0;
  for (const w of patients) {
    const url = `/fhir/MedicationRequest?patient=${w.address.toLowerCase()}`;
    const before = await app.inject({ url });
    if (before.statusCode !== 200) throw new Error(`expected the grant to be in force, got ${before.statusCode}`);
    const [grantId] = (await consentOf(w).getFunction('grantIdsByPatient').staticCall(w.address)) as bigint[];
    const receiptP = consentOf(w).getFunction('revokeGrant').send(grantId).then((tx) => tx.wait());
    let refusedAt = 0;
    for (let i = 0; i < 20_000; i++) {
      const res = await app.inject({ url });
      if (res.statusCode === 403) {
        refusedAt = performance.now();
        break;
      }
      if (res.statusCode === 503) unavailable++;
      await sleep(2);
    }
    const receipt = await receiptP;
    const blockSeen = receipt ? seen.get(receipt.blockNumber) : undefined;
    if (!refusedAt || blockSeen === undefined) throw new Error('a trial did not complete');
    latencies.push(refusedAt - blockSeen);
  }
  latencies.sort((x, y) => x - y);
  const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
  console.log(
    `revocation latency over ${latencies.length} trials (1 s blocks, follower every 250 ms${ws ? ' + newHeads wake-up' : ''}): ` +
      `p50 ${q(0.5).toFixed(0)} ms  p90 ${q(0.9).toFixed(0)} ms  p99 ${q(0.99).toFixed(0)} ms  max ${q(1).toFixed(0)} ms  ` +
      `min ${q(0).toFixed(0)} ms | p99 / one block ${(q(0.99) / 1000).toFixed(3)} (aim < 1.1)` +
      (unavailable ? ` | ${unavailable} requests answered 503 meanwhile` : ''),
  );
} finally {
  watching = false;
  await watcher;
  await app.close();
  await authz.close();
  await Promise.all(sources.map((s) => s.adapter.close()));
  await chain.stop();
  await redis.stop();
}
