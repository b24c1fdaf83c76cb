/**
 * A write-back cache over one store transaction for a batch of messages: resources the batch will
 * touch are read in one query, updates stay in memory (later messages of the batch see earlier
 * ones), and everything is written in one upsert at the end. Each message's changes can be undone
 * on their own (an undo log), so one failing message does not spoil the batch.
 */
import type { Resource } from '@medplum/fhirtypes';
import type { ResourceKey, StoredResource, StoreTransaction } from './hl7-store.ts';

/** What applying a message's changes needs. */
export interface ResourceAccess {
  get(resourceType: string, id: string): Promise<StoredResource | undefined>;
  put(resource: Resource, patient: string | null): Promise<void>;
  delete(resourceType: string, id: string): Promise<void>;
  byPatient(patient: string): Promise<StoredResource[]>;
}

const keyOf = (resourceType: string, id: string): string => `${resourceType}/${id}`;

export class BatchedTransaction implements ResourceAccess {
  readonly #tx: StoreTransaction;
  /** Known state: a stored resource, or null for "known to be absent". */
  readonly #cache = new Map<string, StoredResource | null>();
  readonly #dirty = new Set<string>();
  #undo?: Map<string, { value: StoredResource | null | undefined; dirty: boolean }>;

  constructor(tx: StoreTransaction) {
    this.#tx = tx;
  }

  async prefetch(keys: readonly ResourceKey[]): Promise<void> {
    const wanted = keys.filter((k) => !this.#cache.has(keyOf(k.resourceType, k.id)));
    const found = await this.#tx.getMany(wanted);
    for (const k of wanted) {
      const key = keyOf(k.resourceType, k.id);
      this.#cache.set(key, found.get(key) ?? null);
    }
  }

  async get(resourceType: string, id: string): Promise<StoredResource | undefined> {
    const key = keyOf(resourceType, id);
    if (!this.#cache.has(key)) this.#cache.set(key, (await this.#tx.get(resourceType, id)) ?? null);
    return this.#cache.get(key) ?? undefined;
  }

  async put(resource: Resource, patient: string | null): Promise<void> {
    const key = keyOf(resource.resourceType, resource.id!);
    if (this.#undo && !this.#undo.has(key)) this.#undo.set(key, { value: this.#cache.get(key), dirty: this.#dirty.has(key) });
    this.#cache.set(key, { resource, patient });
    this.#dirty.add(key);
  }

  async delete(resourceType: string, id: string): Promise<void> {
    const key = keyOf(resourceType, id);
    if (this.#undo && !this.#undo.has(key)) this.#undo.set(key, { value: this.#cache.get(key), dirty: this.#dirty.has(key) });
    this.#cache.set(key, null);
    this.#dirty.add(key);
  }

  async byPatient(patient: string): Promise<StoredResource[]> {
    await this.flush(); // the database answers, so it must hold what the batch changed so far
    return this.#tx.byPatient(patient);
  }

  /** Starts recording a message's changes so that `rollback` can undo them. */
  begin(): void {
    this.#undo = new Map();
  }

  rollback(): void {
    for (const [key, prior] of this.#undo ?? []) {
      if (prior.value === undefined) this.#cache.delete(key);
      else this.#cache.set(key, prior.value);
      if (!prior.dirty) this.#dirty.delete(key);
    }
    this.#undo = undefined;
  }

  async flush(): Promise<void> {
    const entries: StoredResource[] = [];
    const deleted: ResourceKey[] = [];
    for (const key of this.#dirty) {
      const value = this.#cache.get(key);
      if (value) entries.push(value);
      else {
        const slash = key.indexOf('/');
        deleted.push({ resourceType: key.slice(0, slash), id: key.slice(slash + 1) });
      }
    }
    this.#dirty.clear();
    this.#undo = undefined;
    await this.#tx.deleteMany(deleted);
    await this.#tx.putMany(entries);
  }
}
