/**
 * The authorization indexes in Redis: applying a folded block window atomically with the cursor,
 * and the reads the snapshot builder and the reconciler need.
 */
import type { Redis } from 'ioredis';
import type { ChainEvent } from './chain-events.ts';
import type { AuthzKeys } from './authz-keys.ts';
import {
  foldEvents,
  referencedRecords,
  type FoldLookup,
  type IndexWrite,
  type StoredGrant,
  type StoredStudy,
} from './fold-events.ts';

/** What every server hears on the invalidation channel. */
export interface SyncMessage {
  /** Last block folded into the indexes. */
  readonly cursor: number;
  /** Confirmed chain head (head − confirmations) the follower saw when it published. */
  readonly head: number;
  /** Wall clock (ms) of the follower's last successful contact with the chain. */
  readonly headSeenAt: number;
  /** Subjects whose snapshots must be dropped; `*` = all of them. */
  readonly subjects: readonly string[] | '*';
}

/** Beyond this many subjects a window invalidates everything instead of naming them. */
const MAX_NAMED_SUBJECTS = 2000;

export async function readCursor(redis: Redis, keys: AuthzKeys): Promise<number | undefined> {
  const raw = await redis.get(keys.cursor);
  return raw === null ? undefined : Number(raw);
}

export async function readStoredRecords(
  redis: Redis,
  keys: AuthzKeys,
  ids: { grants: readonly string[]; studies: readonly string[]; patients: readonly string[] },
): Promise<FoldLookup> {
  const lookup: FoldLookup = { grants: new Map(), studies: new Map(), proxiesOf: new Map() };
  if (ids.grants.length + ids.studies.length + ids.patients.length === 0) return lookup;
  const pipe = redis.pipeline();
  for (const id of ids.grants) pipe.hget(keys.grant(id), 'record');
  for (const id of ids.studies) pipe.hget(keys.study(id), 'record');
  for (const patient of ids.patients) pipe.hkeys(keys.delegatesOf(patient));
  const results = (await pipe.exec()) ?? [];
  ids.grants.forEach((id, i) => lookup.grants.set(id, parseRecord<StoredGrant>(results[i]?.[1])));
  const studiesAt = ids.grants.length;
  ids.studies.forEach((id, i) => lookup.studies.set(id, parseRecord<StoredStudy>(results[studiesAt + i]?.[1])));
  const patientsAt = studiesAt + ids.studies.length;
  ids.patients.forEach((patient, i) => {
    const proxies = results[patientsAt + i]?.[1];
    lookup.proxiesOf.set(patient, Array.isArray(proxies) ? (proxies as string[]) : []);
  });
  return lookup;
}

function parseRecord<T>(raw: unknown): T | undefined {
  return typeof raw === 'string' ? (JSON.parse(raw) as T) : undefined;
}

export interface WindowResult {
  /** False when the cursor was not where this window starts (another follower got there first). */
  readonly applied: boolean;
  readonly subjects: number;
  readonly orphans: number;
}

/**
 * Folds the events of blocks (expectedCursor, toBlock] and moves the cursor to toBlock in one
 * transaction, guarded by WATCH on the cursor: after a crash between any two steps the window
 * is either wholly in Redis (cursor moved) or not at all, so it is never applied twice.
 */
export async function applyWindow(
  redis: Redis,
  keys: AuthzKeys,
  window: { readonly expectedCursor: number | undefined; readonly toBlock: number; readonly head: number },
  events: readonly ChainEvent[],
): Promise<WindowResult> {
  await redis.watch(keys.cursor);
  try {
    const current = await readCursor(redis, keys);
    if (current !== window.expectedCursor) {
      await redis.unwatch();
      return { applied: false, subjects: 0, orphans: 0 };
    }
    const lookup = await readStoredRecords(redis, keys, referencedRecords(events));
    const fold = foldEvents(events, keys, lookup);
    const now = Date.now();
    const tx = redis.multi();
    for (const w of fold.writes) queueWrite(tx, w);
    for (const subject of fold.subjects) {
      tx.incr(keys.subjectVersion(subject));
      tx.del(keys.snapshot(subject));
    }
    tx.set(keys.cursor, String(window.toBlock));
    if (events.length > 0) tx.incrby(keys.eventsApplied, events.length);
    tx.hset(keys.sync, { cursor: window.toBlock, head: window.head, headSeenAt: now });
    const message: SyncMessage = {
      cursor: window.toBlock,
      head: window.head,
      headSeenAt: now,
      subjects: fold.subjects.size > MAX_NAMED_SUBJECTS ? '*' : [...fold.subjects],
    };
    // PUBLISH inside the transaction: no crash can separate the new state from its invalidation.
    tx.publish(keys.channel, JSON.stringify(message));
    const result = await tx.exec();
    if (result === null) return { applied: false, subjects: 0, orphans: 0 };
    const failed = result.find(([err]) => err);
    if (failed?.[0]) throw failed[0];
    return { applied: true, subjects: fold.subjects.size, orphans: fold.orphans };
  } catch (err) {
    await redis.unwatch().catch(() => undefined);
    throw err;
  }
}

type Tx = ReturnType<Redis['multi']>;

export function queueWrite(tx: Tx, w: IndexWrite): void {
  switch (w[0]) {
    case 'hset':
      tx.hset(w[1], w[2], w[3]);
      break;
    case 'hdel':
      tx.hdel(w[1], w[2]);
      break;
    case 'sadd':
      tx.sadd(w[1], w[2]);
      break;
    case 'srem':
      tx.srem(w[1], w[2]);
      break;
    case 'del':
      tx.del(w[1]);
      break;
  }
}

/** A heartbeat without events: the follower reached the chain and the indexes are at `cursor`. */
export async function publishHeartbeat(redis: Redis, keys: AuthzKeys, cursor: number, head: number): Promise<void> {
  const now = Date.now();
  const message: SyncMessage = { cursor, head, headSeenAt: now, subjects: [] };
  await redis
    .multi()
    .hset(keys.sync, { cursor, head, headSeenAt: now })
    .publish(keys.channel, JSON.stringify(message))
    .exec();
}

export async function readSyncStatus(redis: Redis, keys: AuthzKeys): Promise<SyncMessage | undefined> {
  const h = await redis.hgetall(keys.sync);
  if (!h.cursor) return undefined;
  return { cursor: Number(h.cursor), head: Number(h.head ?? h.cursor), headSeenAt: Number(h.headSeenAt ?? 0), subjects: [] };
}
