/**
 * Reconciliation: compares the Redis indexes with the contracts' view functions and repairs
 * drift (a lost write, a hand-edited key, a bug). The views are read AT THE CURSOR BLOCK, so the
 * comparison is between the same chain state the indexes claim to reflect, and repairs are
 * written under WATCH of the cursor: if the follower moves meanwhile, the run is dropped and
 * the next one starts over. Grants are swept in bounded batches from a rolling offset.
 */
import { Contract, type JsonRpcProvider, type InterfaceAbi } from 'ethers';
import type { Redis } from 'ioredis';
import { consentAbi } from '../../contracts/bindings/Consent.ts';
import { participantDirectoryAbi } from '../../contracts/bindings/ParticipantDirectory.ts';
import { providerRegistryAbi } from '../../contracts/bindings/ProviderRegistry.ts';
import { relationshipsAbi } from '../../contracts/bindings/Relationships.ts';
import type { AuthzKeys } from './authz-keys.ts';
import { decodeActions, decodePurpose, type MedrecContracts } from './contract-events.ts';
import type { IndexWrite, StoredGrant } from './fold-events.ts';
import { queueWrite, readCursor, type SyncMessage } from './redis-indexes.ts';

export interface Repair {
  readonly kind: 'provider' | 'relationship' | 'grant' | 'delegation';
  /** Opaque: grant id, or provider / account address. */
  readonly ref: string;
}

export interface ReconcileReport {
  readonly block: number | undefined;
  readonly checked: { providers: number; relationships: number; grants: number; delegations: number };
  readonly repairs: readonly Repair[];
  /** False when the follower moved the cursor during the run (nothing written). */
  readonly applied: boolean;
}

export interface ReconcileOptions {
  readonly provider: JsonRpcProvider;
  readonly contracts: MedrecContracts;
  readonly redis: Redis;
  readonly keys: AuthzKeys;
  /** Grants compared per run. */
  readonly grantBatch?: number;
}

const lower = (a: unknown) => String(a).toLowerCase();

export async function reconcile(o: ReconcileOptions): Promise<ReconcileReport> {
  const { redis, keys } = o;
  const empty = { providers: 0, relationships: 0, grants: 0, delegations: 0 };
  await redis.watch(keys.cursor);
  try {
    const block = await readCursor(redis, keys);
    if (block === undefined) {
      await redis.unwatch();
      return { block, checked: empty, repairs: [], applied: false };
    }
    const at = { blockTag: block };
    const registry = new Contract(o.contracts.providerRegistry, providerRegistryAbi as unknown as InterfaceAbi, o.provider);
    const relationships = new Contract(o.contracts.relationships, relationshipsAbi as unknown as InterfaceAbi, o.provider);
    const consent = new Contract(o.contracts.consent, consentAbi as unknown as InterfaceAbi, o.provider);
    const directory = new Contract(o.contracts.participantDirectory, participantDirectoryAbi as unknown as InterfaceAbi, o.provider);

    const writes: IndexWrite[] = [];
    const subjects = new Set<string>();
    const repairs: Repair[] = [];
    const checked = { ...empty };

    // Providers.
    const chainProviders = new Set(((await registry.getFunction('getProviders').staticCall(at)) as string[]).map(lower));
    const redisProviders = new Set(await redis.hkeys(keys.providers));
    for (const p of chainProviders) {
      checked.providers++;
      if (!redisProviders.has(p)) {
        writes.push(['hset', keys.providers, p, '1']);
        subjects.add(p);
        repairs.push({ kind: 'provider', ref: p });
      }
    }
    for (const p of redisProviders) {
      if (!chainProviders.has(p)) {
        writes.push(['hdel', keys.providers, p]);
        subjects.add(p);
        repairs.push({ kind: 'provider', ref: p });
      }
    }

    // Relationships of every provider either side knows.
    for (const p of new Set([...chainProviders, ...redisProviders])) {
      const patients = ((await relationships.getFunction('patientsOf').staticCall(p, at)) as string[]).map(lower);
      const expected = new Map<string, string>();
      for (const patient of patients) {
        const r = (await relationships.getFunction('getRelationship').staticCall(p, patient, at)) as { active: boolean; commitment: string };
        if (r.active) expected.set(patient, String(r.commitment));
      }
      const stored = await redis.hgetall(keys.patientsOfProvider(p));
      checked.relationships += expected.size;
      let drift = false;
      for (const [patient, commitment] of expected) {
        if (stored[patient] !== commitment) {
          writes.push(['hset', keys.patientsOfProvider(p), patient, commitment], ['hset', keys.providersOfPatient(patient), p, commitment]);
          drift = true;
        }
      }
      for (const patient of Object.keys(stored)) {
        if (!expected.has(patient)) {
          writes.push(['hdel', keys.patientsOfProvider(p), patient], ['hdel', keys.providersOfPatient(patient), p]);
          drift = true;
        }
      }
      if (drift) {
        subjects.add(p);
        repairs.push({ kind: 'relationship', ref: p });
      }
    }

    // Grants, a batch per run from a rolling offset.
    const count = Number(await consent.getFunction('grantCount').staticCall(at));
    const batch = o.grantBatch ?? 500;
    const offsetKey = `${keys.prefix}reconcile-grant-offset`;
    // Ids run from 1 to grantCount().
    let start = Number((await redis.get(offsetKey)) ?? 1);
    if (start < 1 || start > count) start = 1;
    const end = Math.min(count + 1, start + batch);
    for (let id = start; id < end; id++) {
      checked.grants++;
      const g = (await consent.getFunction('getGrant').staticCall(id, at)) as {
        patient: string;
        grantee: string;
        revoked: boolean;
        terms: { providers: string[]; resourceTypes: string[]; actions: bigint; purpose: bigint; notBefore: bigint; expiresAt: bigint };
      };
      const raw = await redis.hget(keys.grant(String(id)), 'record');
      const stored = raw ? (JSON.parse(raw) as StoredGrant) : undefined;
      const providers = g.terms.providers.map(lower);
      const types = [...g.terms.resourceTypes];
      const expected: StoredGrant = {
        id: String(id),
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
      const inGranteeIndex = (await redis.sismember(keys.grantsByGrantee(expected.grantee), expected.id)) === 1;
      if (JSON.stringify(stored) !== JSON.stringify(expected) || inGranteeIndex === expected.revoked) {
        writes.push(['hset', keys.grant(expected.id), 'record', JSON.stringify(expected)], ['sadd', keys.grantIds, expected.id]);
        const op = expected.revoked ? 'srem' : 'sadd';
        writes.push([op, keys.grantsByGrantee(expected.grantee), expected.id], [op, keys.grantsByPatient(expected.patient), expected.id]);
        subjects.add(expected.grantee);
        repairs.push({ kind: 'grant', ref: expected.id });
      }
    }
    const nextOffset = end > count ? 1 : end;

    // Delegations of every registered participant acting as a proxy.
    const accounts = ((await directory.getFunction('getParticipants').staticCall(at)) as string[]).map(lower);
    for (const account of accounts) {
      const principals = ((await consent.getFunction('principalsOf').staticCall(account, at)) as string[]).map(lower);
      const expected = new Map<string, string>();
      for (const patient of principals) {
        const d = (await consent.getFunction('getDelegation').staticCall(patient, account, at)) as { active: boolean; expiresAt: bigint };
        if (d.active) expected.set(patient, String(Number(d.expiresAt)));
      }
      const stored = await redis.hgetall(keys.delegatorsOf(account));
      checked.delegations += expected.size;
      let drift = false;
      for (const [patient, expiry] of expected) {
        if (stored[patient] !== expiry) {
          writes.push(['hset', keys.delegatorsOf(account), patient, expiry], ['hset', keys.delegatesOf(patient), account, expiry]);
          drift = true;
        }
      }
      for (const patient of Object.keys(stored)) {
        if (!expected.has(patient)) {
          writes.push(['hdel', keys.delegatorsOf(account), patient], ['hdel', keys.delegatesOf(patient), account]);
          drift = true;
        }
      }
      if (drift) {
        subjects.add(account);
        repairs.push({ kind: 'delegation', ref: account });
      }
    }

    const tx = redis.multi();
    for (const w of writes) queueWrite(tx, w);
    tx.set(offsetKey, String(nextOffset));
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
