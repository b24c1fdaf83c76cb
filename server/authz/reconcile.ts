/**
 * Reconciliation: compares the Redis indexes with the contracts' view functions and repairs
 * drift (a lost write, a hand-edited key, a bug). The views are read AT THE CURSOR BLOCK, so the
 * comparison is between the same chain state the indexes claim to reflect, and repairs are
 * written under WATCH of the cursor: if the follower moves meanwhile, the run is dropped and
 * the next one starts over.
 *
 * A run is bounded whatever the network's size: per kind (participants, relationships, grants,
 * delegations, studies) it compares at most `batch` records from a rolling offset kept in Redis,
 * and the next run carries on from there. Chain reads go out in parallel, `concurrency` at a time.
 * Membership lists (providers, a provider's patients, participants) are one view call each; the
 * per-record reads are what the batch bounds.
 */
import { Contract, type JsonRpcProvider, type InterfaceAbi } from 'ethers';
import type { Redis } from 'ioredis';
import { consentAbi } from '../../contracts/bindings/Consent.ts';
import { participantDirectoryAbi } from '../../contracts/bindings/ParticipantDirectory.ts';
import { providerRegistryAbi } from '../../contracts/bindings/ProviderRegistry.ts';
import { relationshipsAbi } from '../../contracts/bindings/Relationships.ts';
import type { AuthzKeys } from './authz-keys.ts';
import { ROLES, decodeActions, decodePurpose, type MedrecContracts } from './contract-events.ts';
import type { IndexWrite, StoredGrant, StoredStudy } from './fold-events.ts';
import { queueWrite, readCursor, type SyncMessage } from './redis-indexes.ts';

export type RepairKind = 'provider' | 'participant' | 'relationship' | 'grant' | 'delegation' | 'study';

export interface Repair {
  readonly kind: RepairKind;
  /** Opaque: grant or study id, or an address. */
  readonly ref: string;
}

export interface ReconcileReport {
  readonly block: number | undefined;
  readonly checked: Record<'providers' | 'participants' | 'relationships' | 'grants' | 'delegations' | 'studies', number>;
  readonly repairs: readonly Repair[];
  /** False when the follower moved the cursor during the run (nothing written). */
  readonly applied: boolean;
}

export interface ReconcileOptions {
  readonly provider: JsonRpcProvider;
  readonly contracts: MedrecContracts;
  /** A connection of its own: the run WATCHes the cursor on it. */
  readonly redis: Redis;
  readonly keys: AuthzKeys;
  /** Records compared per kind per run. */
  readonly batch?: number;
  /** Chain reads in flight at once. */
  readonly concurrency?: number;
}

const lower = (a: unknown) => String(a).toLowerCase();

/** Runs at most `n` of the given calls at once. */
function limiter(n: number): <T>(call: () => Promise<T>) => Promise<T> {
  let running = 0;
  const waiting: Array<() => void> = [];
  return async (call) => {
    if (running >= n) await new Promise<void>((resolve) => waiting.push(resolve));
    running++;
    try {
      return await call();
    } finally {
      running--;
      waiting.shift()?.();
    }
  };
}

/** The slice [start, end) of a list of `length` items a run compares, and where the next starts. */
function rolling(offset: number, length: number, batch: number): { start: number; end: number; next: number } {
  const start = offset >= 0 && offset < length ? offset : 0;
  const end = Math.min(length, start + batch);
  return { start, end, next: end >= length ? 0 : end };
}

export async function reconcile(o: ReconcileOptions): Promise<ReconcileReport> {
  const { redis, keys } = o;
  const batch = o.batch ?? 500;
  const limit = limiter(o.concurrency ?? 16);
  const checked = { providers: 0, participants: 0, relationships: 0, grants: 0, delegations: 0, studies: 0 };
  await redis.watch(keys.cursor);
  try {
    const block = await readCursor(redis, keys);
    if (block === undefined) {
      await redis.unwatch();
      return { block, checked, repairs: [], applied: false };
    }
    const at = { blockTag: block };
    const view = (address: string, abi: unknown) => {
      const contract = new Contract(address, abi as InterfaceAbi, o.provider);
      return <T>(fn: string, ...args: unknown[]): Promise<T> => limit(() => contract.getFunction(fn).staticCall(...args, at) as Promise<T>);
    };
    const registry = view(o.contracts.providerRegistry, providerRegistryAbi);
    const relationships = view(o.contracts.relationships, relationshipsAbi);
    const consent = view(o.contracts.consent, consentAbi);
    const directory = view(o.contracts.participantDirectory, participantDirectoryAbi);
    const offsets = await redis.hgetall(keys.reconcileOffsets);
    const offset = (kind: string) => Number(offsets[kind] ?? 0);
    const nextOffsets: Record<string, string> = {};

    const writes: IndexWrite[] = [];
    const subjects = new Set<string>();
    const repairs: Repair[] = [];
    const repaired = (kind: RepairKind, ref: string, ...affected: string[]) => {
      repairs.push({ kind, ref });
      for (const s of affected) subjects.add(s);
    };

    // Providers: one list on each side.
    const [chainProviderList, redisProviderList, chainParticipants, storedRoles] = await Promise.all([
      registry<string[]>('getProviders'),
      redis.hkeys(keys.providers),
      directory<string[]>('getParticipants'),
      redis.hgetall(keys.participants),
    ]);
    const chainProviders = new Set(chainProviderList.map(lower));
    const redisProviders = new Set(redisProviderList);
    for (const p of chainProviders) {
      checked.providers++;
      if (!redisProviders.has(p)) (writes.push(['hset', keys.providers, p, '1']), repaired('provider', p, p));
    }
    for (const p of redisProviders) {
      if (!chainProviders.has(p)) (writes.push(['hdel', keys.providers, p]), repaired('provider', p, p));
    }

    // Participants: stale entries from the lists alone, roles in batches.
    const accounts = chainParticipants.map(lower);
    const registered = new Set(accounts);
    for (const account of Object.keys(storedRoles)) {
      if (!registered.has(account)) (writes.push(['hdel', keys.participants, account]), repaired('participant', account));
    }
    const pw = rolling(offset('participants'), accounts.length, batch);
    nextOffsets.participants = String(pw.next);
    await Promise.all(
      accounts.slice(pw.start, pw.end).map(async (account) => {
        checked.participants++;
        const role = ROLES[Number(await directory<bigint>('roleOf', account))] ?? 'none';
        if (storedRoles[account] !== role) (writes.push(['hset', keys.participants, account, role]), repaired('participant', account));
      }),
    );

    // Relationships: stale entries from each provider's list, commitments in batches.
    const providerSet = [...new Set([...chainProviders, ...redisProviders])].sort();
    const lists = await Promise.all(
      providerSet.map(async (p) => ({
        provider: p,
        patients: (await relationships<string[]>('patientsOf', p)).map(lower),
        stored: await redis.hgetall(keys.patientsOfProvider(p)),
      })),
    );
    const pairs: Array<{ provider: string; patient: string; stored: string | undefined }> = [];
    const relationshipPatients = new Set<string>();
    for (const { provider, patients, stored } of lists) {
      const active = new Set(patients);
      for (const patient of Object.keys(stored)) {
        if (!active.has(patient)) {
          writes.push(['hdel', keys.patientsOfProvider(provider), patient], ['hdel', keys.providersOfPatient(patient), provider]);
          repaired('relationship', provider, provider, patient);
          relationshipPatients.add(patient);
        }
      }
      for (const patient of patients) pairs.push({ provider, patient, stored: stored[patient] });
    }
    const rw = rolling(offset('relationships'), pairs.length, batch);
    nextOffsets.relationships = String(rw.next);
    await Promise.all(
      pairs.slice(rw.start, rw.end).map(async ({ provider, patient, stored }) => {
        checked.relationships++;
        const r = await relationships<{ active: boolean; commitment: string }>('getRelationship', provider, patient);
        const commitment = String(r.commitment);
        if (r.active && stored !== commitment) {
          writes.push(['hset', keys.patientsOfProvider(provider), patient, commitment], ['hset', keys.providersOfPatient(patient), provider, commitment]);
          repaired('relationship', provider, provider, patient);
          relationshipPatients.add(patient);
        }
      }),
    );

    // What a proxy sees follows its patient's providers.
    const proxies = await Promise.all([...relationshipPatients].map((patient) => redis.hkeys(keys.delegatesOf(patient))));
    for (const proxy of proxies.flat()) subjects.add(proxy);

    // Grants: ids 1..grantCount in batches.
    const grantCount = Number(await consent<bigint>('grantCount'));
    const gw = rolling(offset('grants'), grantCount, batch);
    nextOffsets.grants = String(gw.next);
    await Promise.all(
      Array.from({ length: gw.end - gw.start }, async (_, i) => {
        const id = String(gw.start + i + 1);
        checked.grants++;
        const [g, raw] = await Promise.all([
          consent<{
            patient: string;
            grantee: string;
            revoked: boolean;
            terms: { providers: string[]; resourceTypes: string[]; actions: bigint; purpose: bigint; notBefore: bigint; expiresAt: bigint };
          }>('getGrant', id),
          redis.hget(keys.grant(id), 'record'),
        ]);
        const stored = raw ? (JSON.parse(raw) as StoredGrant) : undefined;
        const providers = g.terms.providers.map(lower);
        const types = [...g.terms.resourceTypes];
        const expected: StoredGrant = {
          id,
          patient: lower(g.patient),
          grantee: lower(g.grantee),
          providers: providers.length === 0 ? '*' : providers,
          resourceTypes: types.length === 0 ? '*' : types,
          actions: decodeActions(Number(g.terms.actions)),
          purpose: decodePurpose(Number(g.terms.purpose)),
          notBefore: Number(g.terms.notBefore),
          expiresAt: Number(g.terms.expiresAt),
          revoked: g.revoked,
          ...(stored?.studyId !== undefined ? { studyId: stored.studyId } : {}),
        };
        const inGranteeIndex = (await redis.sismember(keys.grantsByGrantee(expected.grantee), id)) === 1;
        if (JSON.stringify(stored) !== JSON.stringify(expected) || inGranteeIndex === expected.revoked) {
          writes.push(['hset', keys.grant(id), 'record', JSON.stringify(expected)], ['sadd', keys.grantIds, id]);
          const op = expected.revoked ? 'srem' : 'sadd';
          writes.push([op, keys.grantsByGrantee(expected.grantee), id], [op, keys.grantsByPatient(expected.patient), id]);
          repaired('grant', id, expected.grantee);
        }
      }),
    );

    // Delegations: a page of the contract's delegates and a page of the ones Redis knows (to
    // find those the chain no longer has), each proxy's mandates compared whole.
    const [chainDelegates, [scanCursor, redisDelegates]] = await Promise.all([
      consent<string[]>('delegatesPage', offset('delegations'), batch),
      redis.sscan(keys.delegates, offsets['delegations-scan'] ?? '0', 'COUNT', batch),
    ]);
    nextOffsets.delegations = String(chainDelegates.length < batch ? 0 : offset('delegations') + batch);
    nextOffsets['delegations-scan'] = scanCursor;
    await Promise.all(
      [...new Set([...chainDelegates.map(lower), ...redisDelegates])].map(async (proxy) => {
        const principals = (await consent<string[]>('principalsOf', proxy)).map(lower);
        const expected = new Map<string, string>();
        await Promise.all(
          principals.map(async (patient) => {
            const d = await consent<{ active: boolean; expiresAt: bigint }>('getDelegation', patient, proxy);
            if (d.active) expected.set(patient, String(Number(d.expiresAt)));
          }),
        );
        const stored = await redis.hgetall(keys.delegatorsOf(proxy));
        checked.delegations += expected.size;
        let drift = false;
        for (const [patient, expiry] of expected) {
          if (stored[patient] !== expiry) {
            writes.push(['hset', keys.delegatorsOf(proxy), patient, expiry], ['hset', keys.delegatesOf(patient), proxy, expiry]);
            drift = true;
          }
        }
        for (const patient of Object.keys(stored)) {
          if (!expected.has(patient)) {
            writes.push(['hdel', keys.delegatorsOf(proxy), patient], ['hdel', keys.delegatesOf(patient), proxy]);
            drift = true;
          }
        }
        writes.push([expected.size > 0 ? 'sadd' : 'srem', keys.delegates, proxy]);
        if (drift) repaired('delegation', proxy, proxy);
      }),
    );

    // Studies: ids 1..studyCount in batches.
    const studyCount = Number(await consent<bigint>('studyCount'));
    const sw = rolling(offset('studies'), studyCount, batch);
    nextOffsets.studies = String(sw.next);
    await Promise.all(
      Array.from({ length: sw.end - sw.start }, async (_, i) => {
        const id = String(sw.start + i + 1);
        checked.studies++;
        const [s, raw] = await Promise.all([consent<{ researcher: string; open: boolean }>('getStudy', id), redis.hget(keys.study(id), 'record')]);
        const expected: StoredStudy = { id, researcher: lower(s.researcher), open: s.open };
        if (raw !== JSON.stringify(expected)) {
          writes.push(
            ['hset', keys.study(id), 'record', JSON.stringify(expected)],
            ['sadd', keys.studiesOfResearcher(expected.researcher), id],
            ['sadd', keys.studyIds, id],
          );
          repaired('study', id);
        }
      }),
    );

    const tx = redis.multi();
    for (const w of writes) queueWrite(tx, w);
    tx.hset(keys.reconcileOffsets, nextOffsets);
    if (subjects.size > 0) {
      for (const s of subjects) tx.incr(keys.subjectVersion(s)).del(keys.snapshot(s));
      const sync = await redis.hgetall(keys.sync);
      const message: SyncMessage = {
        cursor: block,
        head: Number(sync.head ?? block),
        headSeenAt: Number(sync.headSeenAt ?? 0),
        subjects: [...subjects],
      };
      tx.publish(keys.channel, JSON.stringify(message));
    }
    const result = await tx.exec();
    return { block, checked, repairs, applied: result !== null };
  } catch (err) {
    await redis.unwatch().catch(() => undefined);
    throw err;
  }
}
