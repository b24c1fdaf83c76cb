/**
 * Scale of the permission indexes, growing from 1k to 100k grants over up to 10,000 patients.
 *
 *  A. Follower on a real chain: N grants sent to anvil (impersonated patients, JSON-RPC batches
 *     of 500 transactions, one block each), then the follower syncs from the deployment block:
 *     getLogs in ≤5,000-block windows, decode, fold, MULTI/EXEC with the cursor. Events per
 *     second end to end, as a ratio of the same run's baseline: the bare reading of the same
 *     windows (eth_getLogs + JSON.parse through fetchLogs, best of one pass before and one after
 *     the follower), and of the 1k size. Sizes 1k, 10k and 100k (the 100k chain takes minutes).
 *  B. The fold and the snapshots at 1k, 10k and 100k: decoded grant events applied through the
 *     same applyWindow path (1,000 events per transaction), then one subject's snapshot rebuild
 *     (the pharmacy, granted by every patient, and a typical grantee) and Redis memory; each
 *     figure also as a ratio of the 1k size's (fold rate, rebuild time per entry, bytes per grant).
 *
 * Distribution: P = min(10,000, N/10) patients; each patient grants the pharmacy once and
 * 9 other grantees drawn from a pool of 1,000.
 *
 * Run: `node bench/authz-scale.ts` (`--quick`: B at 1k and 10k, A at 1k only).
 */
import { Interface, getAddress, toBeHex, type InterfaceAbi } from 'ethers';
import { Redis } from 'ioredis';
import { consentAbi } from '../contracts/bindings/Consent.ts';
import { startRedisServer } from '../server/embedded/redis-server.ts';
import { authzKeys } from '../server/authz/authz-keys.ts';
import { applyWindow } from '../server/authz/redis-indexes.ts';
import { buildSnapshot } from '../server/authz/snapshot-builder.ts';
import { syncOnce } from '../server/authz/chain-follower.ts';
import { MedrecEventSource } from '../server/authz/contract-events.ts';
import { fetchLogs } from '../server/authz/raw-logs.ts';
import { rpcEndpoint } from '../contracts/connection.ts';
import type { ChainEvent } from '../server/authz/chain-events.ts';
import { startTestChain } from '../test/authz/support/test-chain.ts';

const quick = process.argv.includes('--quick');
const SIZES_B = quick ? [1_000, 10_000] : [1_000, 10_000, 100_000];
const SIZES_A = quick ? [1_000] : [1_000, 10_000, 100_000];
const GRANTEE_POOL = 1_000;

const addr = (kind: number, i: number) => getAddress('0x' + kind.toString(16).padStart(2, '0') + i.toString(16).padStart(38, '0')).toLowerCase();
const PHARMACY = addr(0xff, 1);
const patientOf = (i: number) => addr(0x10, i + 1);
const granteeOf = (i: number) => addr(0x20, i + 1);

/** The k-th grant of the distribution: (patient, grantee). */
function grantAt(k: number, n: number): { patient: string; grantee: string } {
  const patients = Math.min(10_000, Math.max(1, Math.floor(n / 10)));
  const patient = k % patients;
  const round = Math.floor(k / patients);
  return { patient: patientOf(patient), grantee: round === 0 ? PHARMACY : granteeOf((patient * 7 + round * 131) % GRANTEE_POOL) };
}

function mb(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1) + ' MB';
}

async function usedMemory(redis: Redis): Promise<number> {
  const info = await redis.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0);
}

/** `value` as a ratio of `base`, e.g. `1.85×`. */
function ratio(value: number, base: number | undefined): string {
  return base === undefined ? '1.00×' : `${(value / base).toFixed(2)}×`;
}

async function rebuildMs(redis: Redis, keys: ReturnType<typeof authzKeys>, subject: string): Promise<{ ms: number; entries: number }> {
  let entries = 0;
  await buildSnapshot(redis, keys, subject); // warm
  const runs = 10;
  const t0 = performance.now();
  for (let i = 0; i < runs; i++) entries = (await buildSnapshot(redis, keys, subject)).snapshot.entries.length;
  return { ms: (performance.now() - t0) / runs, entries };
}

// ------------------------------------------------------------------ B: fold + snapshots
const redisServer = await startRedisServer();
const redis = new Redis(redisServer.url);
try {
  console.log('B. fold into Redis indexes, snapshot rebuild, memory (ratios: of the 1k figure)');
  let base1k: { foldRate: number; msPerEntry: number; bytesPerGrant: number } | undefined;
  for (const n of SIZES_B) {
    await redis.flushall();
    const base = await usedMemory(redis);
    const keys = authzKeys(`scale-${n}:`);
    let cursor: number | undefined;
    const perTx = 1_000;
    const t0 = performance.now();
    for (let start = 0; start < n; start += perTx) {
      const events: ChainEvent[] = [];
      const block = start / perTx + 1;
      for (let k = start; k < Math.min(n, start + perTx); k++) {
        const { patient, grantee } = grantAt(k, n);
        events.push({
          blockNumber: block,
          logIndex: k - start,
          kind: 'grant-created',
          grantId: String(k + 1),
          patient,
          grantee,
          providers: '*',
          resourceTypes: ['MedicationRequest', 'Medication'],
          actions: ['read', 'search'],
          purpose: 'treatment',
          notBefore: 0,
          expiresAt: 0,
        });
      }
      const r = await applyWindow(redis, keys, { expectedCursor: cursor, toBlock: block, head: block }, events);
      if (!r.applied) throw new Error('window not applied');
      cursor = block;
    }
    const foldS = (performance.now() - t0) / 1000;
    const memory = (await usedMemory(redis)) - base;
    const pharmacy = await rebuildMs(redis, keys, PHARMACY);
    const typical = await rebuildMs(redis, keys, granteeOf(1));
    const figures = { foldRate: n / foldS, msPerEntry: pharmacy.ms / pharmacy.entries, bytesPerGrant: memory / n };
    console.log(
      `  ${String(n).padStart(7)} grants, ${Math.min(10_000, n / 10)} patients: fold ${figures.foldRate.toFixed(0)} events/s (${foldS.toFixed(2)} s; ${ratio(figures.foldRate, base1k?.foldRate)}) | ` +
        `rebuild pharmacy (${pharmacy.entries} entries) ${pharmacy.ms.toFixed(1)} ms (per entry ${ratio(figures.msPerEntry, base1k?.msPerEntry)}), typical grantee (${typical.entries}) ${typical.ms.toFixed(2)} ms | ` +
        `Redis ${mb(memory)} (${figures.bytesPerGrant.toFixed(0)} B/grant; ${ratio(figures.bytesPerGrant, base1k?.bytesPerGrant)})`,
    );
    base1k ??= figures;
  }

  // ------------------------------------------------------------------ A: end to end from a chain
  console.log('A. follower from a real chain (anvil): getLogs windows + decode + fold (ratios: of the bare eth_getLogs + JSON.parse rate, and of the 1k follower rate)');
  const iface = new Interface(consentAbi as unknown as InterfaceAbi);
  let follower1k: number | undefined;
  for (const n of SIZES_A) {
    const chain = await startTestChain({ extraArgs: ['--auto-impersonate', '--gas-limit', '2000000000'] });
    try {
      // Deployed with automine; the grants then go into large blocks mined on demand.
      await chain.provider.send('evm_setAutomine', [false]);
      const patients = Math.min(10_000, n / 10);
      const rpc = async (calls: { method: string; params: unknown[] }[]) => {
        const res = await fetch(chain.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(calls.map((c, id) => ({ jsonrpc: '2.0', id, ...c }))),
        });
        const out = (await res.json()) as { error?: { message: string } }[];
        const failed = out.find((o) => o.error);
        if (failed?.error) throw new Error(failed.error.message);
      };
      const t0 = performance.now();
      for (let i = 0; i < patients; i += 500) {
        await rpc(Array.from({ length: Math.min(500, patients - i) }, (_, j) => ({ method: 'anvil_setBalance', params: [patientOf(i + j), toBeHex(10n ** 20n)] })));
      }
      const terms = { providers: [], resourceTypes: ['MedicationRequest', 'Medication'], actions: 3, purpose: 0, notBefore: 0, expiresAt: 0 };
      const nonces = new Map<string, number>();
      for (let start = 0; start < n; start += 500) {
        const calls = [];
        for (let k = start; k < Math.min(n, start + 500); k++) {
          const { patient, grantee } = grantAt(k, n);
          const nonce = nonces.get(patient) ?? 0;
          nonces.set(patient, nonce + 1);
          calls.push({
            method: 'eth_sendTransaction',
            params: [{ from: patient, to: chain.contracts.consent, nonce: toBeHex(nonce), gas: toBeHex(400_000), data: iface.encodeFunctionData('createGrant', [patient, grantee, terms]) }],
          });
        }
        await rpc(calls);
        await chain.provider.send('evm_mine', []);
      }
      const built = (performance.now() - t0) / 1000;
      const keys = authzKeys(`scale-chain-${n}:`);
      const source = new MedrecEventSource(chain.contracts, chain.deployBlock);
      const head = await chain.provider.getBlockNumber();
      /** Seconds to read every window the follower reads, and nothing else. */
      const bareRead = async (): Promise<{ s: number; logs: number }> => {
        const t = performance.now();
        let logs = 0;
        for (let from = source.fromBlock; from <= head; from += 5_000) {
          logs += (await fetchLogs(rpcEndpoint(chain.url), { address: source.addresses, fromBlock: from, toBlock: Math.min(head, from + 4_999) }, 60_000)).length;
        }
        return { s: (performance.now() - t) / 1000, logs };
      };
      const before = await bareRead();
      let decodeMs = 0;
      const decode = source.decode.bind(source);
      source.decode = (log) => {
        const t = performance.now();
        try {
          return decode(log);
        } finally {
          decodeMs += performance.now() - t;
        }
      };
      const t1 = performance.now();
      let events = 0;
      let windows = 0;
      for (;;) {
        const run = await syncOnce({ provider: chain.provider, source, redis, keys, maxWindows: 1_000, rpcTimeoutMs: 60_000 });
        events += run.events;
        windows += run.windows;
        if (run.cursor >= run.head) break;
      }
      const syncS = (performance.now() - t1) / 1000;
      const after = await bareRead();
      const bare = before.s < after.s ? before : after;
      const grants = Number(await redis.scard(keys.grantIds));
      const rate = events / syncS;
      console.log(
        `  ${String(n).padStart(7)} grants on chain (built in ${built.toFixed(1)} s): follower ${rate.toFixed(0)} events/s = ${ratio(rate, bare.logs / bare.s)} the bare read ` +
          `(${(bare.logs / bare.s).toFixed(0)} logs/s, ${bare.s.toFixed(2)} s), ${ratio(rate, follower1k)} the 1k rate ` +
          `(${events} events, ${windows} windows, ${syncS.toFixed(2)} s, of which decoding ${(decodeMs / 1000).toFixed(2)} s)${grants === n ? '' : ` MISMATCH: ${grants} grants indexed`}`,
      );
      follower1k ??= rate;
    } finally {
      await chain.close();
    }
  }
} finally {
  redis.disconnect();
  await redisServer.stop();
}
