/**
 * Reconciliation: compares the Redis indexes with the contracts' view functions and repairs
 * drift (a lost write, a hand-edited key, a bug). It runs beside the follower, which moves the
 * cursor every block, so a run that outlasts a block must still write, and never write what a
 * later block changed. It works in two steps:
 * 1. Compare: every record of the run's batch is compared with the views read at the cursor
 *    block of the run's start (no lock: this is the long part).
 * 2. Repair: only the records found drifted are compared again, in chunks of a few, each chunk
 *    at the cursor block of its moment, under WATCH of the cursor, and its repairs are written in
 *    the same MULTI/EXEC with the invalidation. A record a later block changed is judged by its
 *    state after that block (a grant revoked meanwhile is not put back); if the follower moves
 *    during a chunk's short step, that chunk is tried again. Chunks keep the step short however
 *    much drifted (one step over hundreds of records would outlast every block), and a chunk
 *    written stays written whatever happens to the next.
 * The rolling offsets are written after that, outside the WATCH, once every chunk landed;
 * otherwise the next run compares the same batch again (what was repaired no longer differs).
 *
 * A run is bounded whatever the network's size: per kind (participants, relationships, grants,
 * delegations, studies) it compares at most `batch` records from a rolling offset kept in Redis,
 * and the next run carries on from there; comparisons go out 16 at a time. Membership lists
 * (providers, a provider's patients, participants) are one view call each and also find the
 * entries Redis holds that the chain no longer has.
 */
import { Contract, type JsonRpcProvider, type InterfaceAbi } from 'ethers';
import type { Redis } from 'ioredis';
import { consentAbi } from '../../contracts/bindings/Consent.ts';
import { participantDirectoryAbi } from '../../contracts/bindings/ParticipantDirectory.ts';
import { providerRegistryAbi } from '../../contracts/bindings/ProviderRegistry.ts';
import { relationshipsAbi } from '../../contracts/bindings/Relationships.ts';
import { forEachBounded } from '../fhir/bounded-concurrency.ts';
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

type Checked = Record<'providers' | 'participants' | 'relationships' | 'grants' | 'delegations' | 'studies', number>;

export interface ReconcileReport {
  /** The cursor block the batch was compared at (undefined: nothing synced yet). */
  readonly block: number | undefined;
  readonly checked: Checked;
  /** Drift repaired by this run. */
  readonly repairs: readonly Repair[];
  /** Drift found but not repaired (the follower moved during every attempt at its chunk): the next run compares the batch again. */
  readonly left: readonly Repair[];
  /** True when the batch is done: nothing left, and the rolling offsets moved past it. False too when nothing is synced yet. */
  readonly applied: boolean;
}

export interface ReconcileOptions {
  readonly provider: JsonRpcProvider;
  readonly contracts: MedrecContracts;
  /** A connection of its own: the repair step WATCHes the cursor on it. */
  readonly redis: Redis;
  readonly keys: AuthzKeys;
  /** Records compared per kind per run. */
  readonly batch?: number;
}

/** Comparisons in flight at once (each is one or a few chain reads). */
const CONCURRENCY = 16;
/** Drifted records repaired per WATCH/MULTI: one round of comparisons, short beside a block. */
const REPAIR_CHUNK = CONCURRENCY;
/** Attempts at a chunk before the run leaves it to the next (the follower moved during each). */
const REPAIR_ATTEMPTS = 5;

type View = <T>(fn: string, ...args: unknown[]) => Promise<T>;

/** The contracts' view functions, read at one block. */
interface ChainViews {
  readonly registry: View;
  readonly relationships: View;
  readonly consent: View;
  readonly directory: View;
}

/** A record that differs from the chain: its repair, and the subjects whose snapshots it changes. */
interface Drift {
  readonly repair: Repair;
  readonly writes: readonly IndexWrite[];
  readonly subjects: readonly string[];
}

/** One record, compared with the chain as the views see it and with Redis as it is now. */
interface Comparison {
  readonly kind: RepairKind;
  compare(chain: ChainViews): Promise<Drift | undefined>;
}

const lower = (a: unknown) => String(a).toLowerCase();

function viewsAt(o: ReconcileOptions, blockTag: number): ChainViews {
  const view = (address: string, abi: unknown): View => {
    const contract = new Contract(address, abi as InterfaceAbi, o.provider);
    return <T>(fn: string, ...args: unknown[]) => contract.getFunction(fn).staticCall(...args, { blockTag }) as Promise<T>;
  };
  return {
    registry: view(o.contracts.providerRegistry, providerRegistryAbi),
    relationships: view(o.contracts.relationships, relationshipsAbi),
    consent: view(o.contracts.consent, consentAbi),
    directory: view(o.contracts.participantDirectory, participantDirectoryAbi),
  };
}

/** The slice [start, end) of a list of `length` items a run compares, and where the next starts. */
function rolling(offset: number, length: number, batch: number): { start: number; end: number; next: number } {
  const start = offset >= 0 && offset < length ? offset : 0;
  const end = Math.min(length, start + batch);
  return { start, end, next: end >= length ? 0 : end };
}

/** The comparisons of one kind of record, from the way to tell Redis and the chain apart. */
function comparisons(o: ReconcileOptions) {
  const { redis, keys } = o;
  const drift = (kind: RepairKind, ref: string, writes: IndexWrite[], subjects: string[] = []): Drift => ({ repair: { kind, ref }, writes, subjects });
  return {
    provider: (p: string): Comparison => ({
      kind: 'provider',
      async compare(chain) {
        const [admitted, stored] = await Promise.all([chain.registry<boolean>('isProvider', p), redis.hexists(keys.providers, p)]);
        if (admitted === (stored === 1)) return undefined;
        return drift('provider', p, [admitted ? ['hset', keys.providers, p, '1'] : ['hdel', keys.providers, p]], [p]);
      },
    }),
    participant: (account: string): Comparison => ({
      kind: 'participant',
      async compare(chain) {
        const [role, stored] = await Promise.all([chain.directory<bigint>('roleOf', account), redis.hget(keys.participants, account)]);
        const expected = ROLES[Number(role)] ?? 'none';
        if ((expected === 'none' ? null : expected) === stored) return undefined;
        return drift('participant', account, [expected === 'none' ? ['hdel', keys.participants, account] : ['hset', keys.participants, account, expected]]);
      },
    }),
    relationship: (provider: string, patient: string): Comparison => ({
      kind: 'relationship',
      async compare(chain) {
        const [r, byProvider, byPatient] = await Promise.all([
          chain.relationships<{ active: boolean; commitment: string }>('getRelationship', provider, patient),
          redis.hget(keys.patientsOfProvider(provider), patient),
          redis.hget(keys.providersOfPatient(patient), provider),
        ]);
        const expected = r.active ? String(r.commitment) : null;
        if (byProvider === expected && byPatient === expected) return undefined;
        const writes: IndexWrite[] =
          expected === null
            ? [['hdel', keys.patientsOfProvider(provider), patient], ['hdel', keys.providersOfPatient(patient), provider]]
            : [['hset', keys.patientsOfProvider(provider), patient, expected], ['hset', keys.providersOfPatient(patient), provider, expected]];
        // What a proxy sees follows its patient's providers.
        const proxies = await redis.hkeys(keys.delegatesOf(patient));
        return drift('relationship', provider, writes, [provider, patient, ...proxies]);
      },
    }),
    grant: (id: string): Comparison => ({
      kind: 'grant',
      async compare(chain) {
        const [g, raw] = await Promise.all([
          chain.consent<{
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
        if (JSON.stringify(stored) === JSON.stringify(expected) && inGranteeIndex !== expected.revoked) return undefined;
        const op = expected.revoked ? 'srem' : 'sadd';
        return drift(
          'grant',
          id,
          [
            ['hset', keys.grant(id), 'record', JSON.stringify(expected)],
            ['sadd', keys.grantIds, id],
            [op, keys.grantsByGrantee(expected.grantee), id],
            [op, keys.grantsByPatient(expected.patient), id],
          ],
          [expected.grantee],
        );
      },
    }),
    /** A proxy's mandates, compared whole. */
    delegation: (proxy: string): Comparison => ({
      kind: 'delegation',
      async compare(chain) {
        const principals = (await chain.consent<string[]>('principalsOf', proxy)).map(lower);
        const expected = new Map<string, string>();
        await Promise.all(
          principals.map(async (patient) => {
            const d = await chain.consent<{ active: boolean; expiresAt: bigint }>('getDelegation', patient, proxy);
            if (d.active) expected.set(patient, String(Number(d.expiresAt)));
          }),
        );
        const [stored, listed] = await Promise.all([redis.hgetall(keys.delegatorsOf(proxy)), redis.sismember(keys.delegates, proxy)]);
        const writes: IndexWrite[] = [];
        for (const [patient, expiry] of expected) {
          if (stored[patient] !== expiry) writes.push(['hset', keys.delegatorsOf(proxy), patient, expiry], ['hset', keys.delegatesOf(patient), proxy, expiry]);
        }
        for (const patient of Object.keys(stored)) {
          if (!expected.has(patient)) writes.push(['hdel', keys.delegatorsOf(proxy), patient], ['hdel', keys.delegatesOf(patient), proxy]);
        }
        if ((listed === 1) !== expected.size > 0) writes.push([expected.size > 0 ? 'sadd' : 'srem', keys.delegates, proxy]);
        return writes.length === 0 ? undefined : drift('delegation', proxy, writes, [proxy]);
      },
    }),
    study: (id: string): Comparison => ({
      kind: 'study',
      async compare(chain) {
        const [s, raw] = await Promise.all([chain.consent<{ researcher: string; open: boolean }>('getStudy', id), redis.hget(keys.study(id), 'record')]);
        const expected: StoredStudy = { id, researcher: lower(s.researcher), open: s.open };
        if (raw === JSON.stringify(expected)) return undefined;
        return drift('study', id, [
          ['hset', keys.study(id), 'record', JSON.stringify(expected)],
          ['sadd', keys.studiesOfResearcher(expected.researcher), id],
          ['sadd', keys.studyIds, id],
        ]);
      },
    }),
  };
}

/** The batch of one run: the comparisons to make and where the next run carries on. */
async function planBatch(o: ReconcileOptions, chain: ChainViews, batch: number): Promise<{ comparisons: Comparison[]; nextOffsets: Record<string, string> }> {
  const { redis, keys } = o;
  const compare = comparisons(o);
  const offsets = await redis.hgetall(keys.reconcileOffsets);
  const offset = (kind: string) => Number(offsets[kind] ?? 0);
  const nextOffsets: Record<string, string> = {};
  const planned: Comparison[] = [];
  /** Ids 1..count, a batch from the kind's rolling offset. */
  const numbered = (kind: 'grants' | 'studies', count: number, comparison: (id: string) => Comparison) => {
    const w = rolling(offset(kind), count, batch);
    nextOffsets[kind] = String(w.next);
    for (let id = w.start + 1; id <= w.end; id++) planned.push(comparison(String(id)));
  };

  const [chainProviders, redisProviders, chainParticipants, storedRoles, grantCount, studyCount, chainDelegates, [scanCursor, redisDelegates]] = await Promise.all([
    chain.registry<string[]>('getProviders').then((list) => list.map(lower)),
    redis.hkeys(keys.providers),
    chain.directory<string[]>('getParticipants').then((list) => list.map(lower)),
    redis.hkeys(keys.participants),
    chain.consent<bigint>('grantCount').then(Number),
    chain.consent<bigint>('studyCount').then(Number),
    chain.consent<string[]>('delegatesPage', offset('delegations'), batch),
    redis.sscan(keys.delegates, offsets['delegations-scan'] ?? '0', 'COUNT', batch),
  ]);

  // Providers: everyone either side lists (a few dozen).
  const providers = [...new Set([...chainProviders, ...redisProviders])].sort();
  for (const p of providers) planned.push(compare.provider(p));

  // Participants: entries the chain no longer lists, and a batch of the registered ones' roles.
  const registered = new Set(chainParticipants);
  for (const account of storedRoles) if (!registered.has(account)) planned.push(compare.participant(account));
  const pw = rolling(offset('participants'), chainParticipants.length, batch);
  nextOffsets.participants = String(pw.next);
  for (const account of chainParticipants.slice(pw.start, pw.end)) planned.push(compare.participant(account));

  // Relationships: entries a provider's list no longer has, and a batch of the active ones.
  const patientsOf = new Map<string, string[]>();
  await forEachBounded(providers, CONCURRENCY, async (provider) => {
    const [patients, stored] = await Promise.all([
      chain.relationships<string[]>('patientsOf', provider).then((list) => list.map(lower)),
      redis.hkeys(keys.patientsOfProvider(provider)),
    ]);
    const active = new Set(patients);
    for (const patient of stored) if (!active.has(patient)) planned.push(compare.relationship(provider, patient));
    patientsOf.set(provider, patients);
  });
  const pairs = providers.flatMap((provider) => (patientsOf.get(provider) ?? []).map((patient) => [provider, patient] as const));
  const rw = rolling(offset('relationships'), pairs.length, batch);
  nextOffsets.relationships = String(rw.next);
  for (const [provider, patient] of pairs.slice(rw.start, rw.end)) planned.push(compare.relationship(provider, patient));

  numbered('grants', grantCount, compare.grant);

  // Delegations: a page of the contract's delegates and a page of the ones Redis knows (to find
  // those the chain no longer has).
  nextOffsets.delegations = String(chainDelegates.length < batch ? 0 : offset('delegations') + batch);
  nextOffsets['delegations-scan'] = scanCursor;
  for (const proxy of new Set([...chainDelegates.map(lower), ...redisDelegates])) planned.push(compare.delegation(proxy));

  numbered('studies', studyCount, compare.study);
  return { comparisons: planned, nextOffsets };
}

async function findDrift(comparisons: readonly Comparison[], chain: ChainViews): Promise<Array<{ comparison: Comparison; drift: Drift }>> {
  const found: Array<{ comparison: Comparison; drift: Drift }> = [];
  await forEachBounded(comparisons, CONCURRENCY, async (comparison) => {
    const drift = await comparison.compare(chain);
    if (drift) found.push({ comparison, drift });
  });
  return found;
}

/**
 * Step 2 for one chunk: its records compared again at the cursor of this moment and repaired in
 * one MULTI/EXEC under WATCH of the cursor. Returns the repairs written (none when nothing differs
 * any more), 'moved' when the follower moved during every attempt, 'reset' when the indexes were
 * reset meanwhile.
 */
async function repairChunk(o: ReconcileOptions, drifted: readonly Comparison[]): Promise<Repair[] | 'moved' | 'reset'> {
  const { redis, keys } = o;
  for (let attempt = 0; attempt < REPAIR_ATTEMPTS; attempt++) {
    await redis.watch(keys.cursor);
    try {
      const block = await readCursor(redis, keys);
      if (block === undefined) {
        await redis.unwatch();
        return 'reset';
      }
      const drifts = (await findDrift(drifted, viewsAt(o, block))).map((d) => d.drift);
      if (drifts.length === 0) {
        await redis.unwatch();
        return [];
      }
      const subjects = new Set(drifts.flatMap((d) => d.subjects));
      const tx = redis.multi();
      for (const d of drifts) for (const w of d.writes) queueWrite(tx, w);
      if (subjects.size > 0) {
        for (const s of subjects) tx.incr(keys.subjectVersion(s)).del(keys.snapshot(s));
        const sync = await redis.hgetall(keys.sync);
        const message: SyncMessage = { cursor: block, head: Number(sync.head ?? block), headSeenAt: Number(sync.headSeenAt ?? 0), subjects: [...subjects] };
        tx.publish(keys.channel, JSON.stringify(message));
      }
      const result = await tx.exec();
      if (result !== null) {
        const failed = result.find(([err]) => err);
        if (failed?.[0]) throw failed[0];
        return drifts.map((d) => d.repair);
      }
    } catch (err) {
      await redis.unwatch().catch(() => undefined);
      throw err;
    }
  }
  return 'moved';
}

/** Step 2: the drifted records repaired chunk by chunk; what was written stays written. */
async function repair(o: ReconcileOptions, found: ReadonlyArray<{ comparison: Comparison; drift: Drift }>): Promise<{ repairs: Repair[]; left: Repair[] }> {
  const repairs: Repair[] = [];
  const left: Repair[] = [];
  for (let start = 0; start < found.length; start += REPAIR_CHUNK) {
    const chunk = found.slice(start, start + REPAIR_CHUNK);
    const outcome = await repairChunk(o, chunk.map((f) => f.comparison));
    if (outcome === 'reset') {
      // Nothing to compare against any more: the rest waits for a run after the resync.
      left.push(...found.slice(start).map((f) => f.drift.repair));
      break;
    }
    if (outcome === 'moved') left.push(...chunk.map((f) => f.drift.repair));
    else repairs.push(...outcome);
  }
  return { repairs, left };
}

export async function reconcile(o: ReconcileOptions): Promise<ReconcileReport> {
  const { redis, keys } = o;
  const checked: Checked = { providers: 0, participants: 0, relationships: 0, grants: 0, delegations: 0, studies: 0 };
  const block = await readCursor(redis, keys);
  if (block === undefined) return { block, checked, repairs: [], left: [], applied: false };

  const chain = viewsAt(o, block);
  const { comparisons, nextOffsets } = await planBatch(o, chain, o.batch ?? 500);
  const plural = { provider: 'providers', participant: 'participants', relationship: 'relationships', grant: 'grants', delegation: 'delegations', study: 'studies' } as const;
  for (const c of comparisons) checked[plural[c.kind]]++;
  const found = await findDrift(comparisons, chain);

  const { repairs, left } = await repair(o, found);
  if (left.length > 0) return { block, checked, repairs, left, applied: false };
  // The batch is done: the next run carries on after it, whatever the follower did meanwhile.
  await redis.hset(keys.reconcileOffsets, nextOffsets);
  return { block, checked, repairs, left, applied: true };
}
