/**
 * Faults, with real parts: a redis-server with an append-only file, an anvil node with the MedRec
 * contracts, and two server processes' worth of authorization (A runs the follower and workers,
 * B only serves). Each step waits for what it needs to see; no assertion depends on timing.
 */
import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Wallet, toBeHex, type HDNodeWallet } from 'ethers';
import { Redis } from 'ioredis';
import { startRedisServer, type RedisServer } from '../../server/embedded/redis-server.ts';
import { demoAddress } from '../../server/embedded/demo-identities.ts';
import { startAuthorization, type Authorization } from '../../server/authz/authorization.ts';
import { MedrecEventSource } from '../../server/authz/contract-events.ts';
import type { AccessRequest } from '../../server/access/access-policy.ts';
import { startTestChain, terms } from './support/test-chain.ts';
import { contextFor, eventually, scope } from './support/authz-fixtures.ts';
import { demoApp, json } from '../fhir/fhir-app.ts';

const alice = demoAddress('alice');
const bob = demoAddress('bob');
const pharmacy = demoAddress('pharmacy');
const pharmacyContext = contextFor(pharmacy, [scope('system', 'MedicationRequest')], { clientId: 'pharmacy-system' });
const searchOf = (patient: string): AccessRequest => ({ resourceType: 'MedicationRequest', action: 'search', patients: [patient], includeTypes: [] });
const medicationTerms = terms({ resourceTypes: ['MedicationRequest'] });

t.test('authorization under faults', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'medrec-authz-faults-'));
  let redisServer: RedisServer = await startRedisServer({ dir, fsync: 'always' });
  const chain = await startTestChain();
  const start = (workers: boolean) =>
    startAuthorization({
      redisUrl: redisServer.url,
      chain: { rpcUrl: chain.url, chainId: 31337, contracts: chain.contracts, fromBlock: chain.deployBlock },
      keyPrefix: 'faults:',
      queuePrefix: 'faults',
      workers,
      syncEveryMs: 100,
      freshness: { maxLagBlocks: 2, maxHeadAgeMs: 1_500, maxRedisSilenceMs: 1_500 },
    });
  const a: Authorization = await start(true);
  const b: Authorization = await start(false);
  const probe = new Redis(redisServer.url, { maxRetriesPerRequest: null });
  probe.on('error', () => undefined);
  t.teardown(async () => {
    await b.close();
    await a.close();
    probe.disconnect();
    await chain.close();
    await redisServer.stop();
  });
  const servers = [a, b];
  /** Waits until both servers' snapshots reflect `block`. */
  const synced = (block: number) =>
    eventually(`both servers at block ${block}`, () => (servers.every((s) => s.freshness.state().cursor >= block) ? true : undefined));
  const decideOn = (s: Authorization, patient: string) => s.policy.decide(pharmacyContext, searchOf(patient));

  await chain.send('alice', 'Consent', 'createGrant', alice, pharmacy, medicationTerms);
  const seeded = await chain.send('bob', 'Consent', 'createGrant', bob, pharmacy, medicationTerms);
  await synced(seeded);

  t.test('a grant revoked while every server holds it in cache is refused on the next request after the block', async (t) => {
    for (const s of servers) {
      t.ok((await decideOn(s, alice)).allowed, 'allowed and now cached');
      t.ok((await decideOn(s, alice)).allowed);
    }
    const hits = servers.map((s) => s.snapshots.size);
    t.ok(hits.every((n) => n > 0), 'both servers hold the snapshot in memory');
    const [id] = await chain.call<bigint[]>('Consent', 'grantIdsByPatient', alice);
    const block = await chain.send('alice', 'Consent', 'revokeGrant', id);
    await synced(block);
    for (const s of servers) {
      const d = await decideOn(s, alice);
      t.same(d, { allowed: false, status: 403, reason: 'no permission for this patient' });
      t.ok((await decideOn(s, bob)).allowed, "bob's grant is untouched");
    }
  });

  t.test('many grants changing at once: every server converges to the chain', async (t) => {
    const patients = Array.from({ length: 24 }, () => Wallet.createRandom().connect(chain.provider));
    await Promise.all(patients.map((w) => chain.provider.send('anvil_setBalance', [w.address, toBeHex(10n ** 18n)])));
    const receipts = await Promise.all(
      patients.map(async (w, i) => {
        const consent = chain.as('operator', 'Consent').connect(w) as ReturnType<typeof chain.as>;
        const tx = await consent.getFunction('createGrant').send(w.address, pharmacy, i % 2 ? medicationTerms : terms({}));
        return tx.wait();
      }),
    );
    // Every third patient revokes again, concurrently.
    const revocations = await Promise.all(
      patients
        .filter((_, i) => i % 3 === 0)
        .map(async (w) => {
          const consent = chain.as('operator', 'Consent').connect(w) as ReturnType<typeof chain.as>;
          const [id] = (await consent.getFunction('grantIdsByPatient').staticCall(w.address)) as bigint[];
          return (await consent.getFunction('revokeGrant').send(id)).wait();
        }),
    );
    const last = Math.max(...[...receipts, ...revocations].map((r) => r?.blockNumber ?? 0));
    await synced(last);
    const visible = async (s: Authorization) =>
      (await s.snapshots.get(pharmacy)).entries
        .filter((e) => e.basis === 'grant')
        .map((e) => e.patient)
        .sort();
    const expected = [bob, ...patients.filter((_, i) => i % 3 !== 0).map((w) => w.address.toLowerCase())].sort();
    t.same(await visible(a), expected, 'server A matches the chain');
    t.same(await visible(b), expected, 'server B matches server A');
  });

  t.test('Redis restarted mid-run: 503 while it is away, then the follower resumes from its cursor, no event missed or applied twice', async (t) => {
    const patients = Array.from({ length: 8 }, () => Wallet.createRandom().connect(chain.provider));
    await Promise.all(patients.map((w) => chain.provider.send('anvil_setBalance', [w.address, toBeHex(10n ** 18n)])));
    const grant = async (w: HDNodeWallet) => {
      const consent = chain.as('operator', 'Consent').connect(w) as ReturnType<typeof chain.as>;
      return (await (await consent.getFunction('createGrant').send(w.address, pharmacy, medicationTerms)).wait())?.blockNumber ?? 0;
    };
    for (const w of patients.slice(0, 4)) await grant(w);
    await redisServer.kill();
    // Chain activity continues while Redis is away.
    for (const w of patients.slice(4)) await grant(w);
    const refused = await eventually('a 503 while Redis is away', async () => {
      const d = await decideOn(b, bob);
      return !d.allowed && d.status === 503 ? d : undefined;
    });
    t.match(refused, { allowed: false, status: 503 });
    redisServer = await startRedisServer({ dir, port: redisServer.port, fsync: 'always' });
    const head = await chain.provider.getBlockNumber();
    await synced(head);
    for (const s of servers) {
      // Each server's connection comes back on its own reconnect schedule.
      await eventually('answers again once Redis is back', async () => ((await decideOn(s, bob)).allowed ? true : undefined));
    }
    t.pass('every server answers again once Redis is back and the follower caught up');

    // Exactly once: the events folded equal the events on chain up to the cursor.
    const cursor = Number(await probe.get(a.keys.cursor));
    const source = new MedrecEventSource(chain.contracts, chain.deployBlock);
    const logs = await chain.provider.getLogs({ address: [...source.addresses], fromBlock: chain.deployBlock, toBlock: cursor });
    const onChain = logs.filter((l) => source.decode(l) !== undefined).length;
    t.equal(Number(await probe.get(a.keys.eventsApplied)), onChain, 'every event applied exactly once');
    const visible = (await a.snapshots.get(pharmacy)).entries.map((e) => e.patient);
    for (const w of patients) t.ok(visible.includes(w.address.toLowerCase()), 'grants made while Redis was away are in');
  });

  t.test('chain node stopped: requests turn 503 after the bound and recover by themselves when it returns', async (t) => {
    t.ok((await decideOn(a, bob)).allowed);
    const app = await demoApp({ accessPolicy: b.policy });
    t.teardown(() => app.close());
    app.addHook('onRequest', async (request) => void (request.accessContext = pharmacyContext));
    await chain.stop();
    const refused = await eventually('a 503 while the chain is away', async () => {
      const d = await decideOn(a, bob);
      return !d.allowed ? d : undefined;
    });
    t.match(refused, { allowed: false, status: 503, reason: /consent chain/ });
    t.match(await decideOn(b, bob), { allowed: false, status: 503 }, 'every server fails closed');
    // Over HTTP: the FHIR answer is a 503 OperationOutcome, no records.
    const res = await app.inject({ url: `/fhir/MedicationRequest?patient=${bob}` });
    t.equal(res.statusCode, 503);
    t.match(res.headers['content-type'], /^application\/fhir\+json/);
    t.match(json(res), { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'transient', details: { text: /consent chain/ } }] });
    await sleep(200);
    await chain.restart();
    await eventually('answers again after the chain returns', async () => ((await decideOn(b, bob)).allowed ? true : undefined));
    t.ok((await decideOn(a, bob)).allowed);
  });
});
