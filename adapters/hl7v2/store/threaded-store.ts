/**
 * The HL7v2 store run in its own worker thread, together with the conversion worker: SQLite (the
 * embedded default) or PostgreSQL (production).
 *
 * Why: the main thread serves MLLP, and conversion (parsing, mapping, JSON) is CPU work that
 * would compete with it for one core; in the thread it uses the second one. For SQLite there is
 * more: `node:sqlite` is synchronous, so every fsync of an acceptance commit (milliseconds on a
 * real disk) would stall the event loop that serves MLLP; in the thread the store commits while
 * the main thread keeps reading frames (which then group-commit in the next transaction). The
 * main thread sees the ordinary Hl7Store interface (calls travel as structured-clone messages)
 * plus the ConversionRunner controls; `transaction` stays inside the thread.
 */
import { Worker } from 'node:worker_threads';
import type { Resource } from '@medplum/fhirtypes';
import type { ConversionRunner, ErrorLog } from '../conversion-worker.ts';
import type {
  AcceptResult, ConversionOutcome, DeadLetter, DeadLetterEntry, Hl7Store, InboxEntry, InboxItem, StoreStats, StoreTransaction,
} from './hl7-store.ts';
import type { StoreThreadData } from './store-thread.ts';

export type StoreCall =
  | { op: 'accept'; entries: readonly InboxEntry[]; deadLetters: readonly DeadLetterEntry[] }
  | { op: 'pending'; limit: number }
  | { op: 'read'; resourceType: string; id: string }
  | { op: 'list'; resourceType: string; patients?: readonly string[] }
  | { op: 'addDeadLetter'; entry: DeadLetterEntry }
  | { op: 'deadLetters'; options: { limit: number; includeReplayed?: boolean } }
  | { op: 'deadLetter'; id: number }
  | { op: 'markReplayed'; id: number; outcome: string }
  | { op: 'outcomes'; seqs: readonly number[] }
  | { op: 'requeue'; seq: number }
  | { op: 'stats' }
  | { op: 'wake' }
  | { op: 'drain' }
  | { op: 'close' };

export type StoreThreadEvent =
  | { event: 'converted'; outcomes: readonly ConversionOutcome[] }
  | { event: 'changed'; ids: readonly string[] }
  | { event: 'log'; level: 'error' | 'warn'; details: object; message: string };

type Reply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: { name: string; message: string } };

export interface StoreThreadHooks {
  readonly log: ErrorLog & { warn(details: object, message: string): void };
  readonly onConverted: (outcomes: readonly ConversionOutcome[]) => void;
  readonly onPatientsChanged: (ids: ReadonlySet<string>) => void;
}

export class ThreadedStore implements Hl7Store, ConversionRunner {
  readonly #worker: Worker;
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  #nextId = 0;
  #closed = false;
  /** Set when the thread died: calls fail at once (AE 207 to senders, health down) instead of hanging. */
  #dead?: Error;

  private constructor(worker: Worker, hooks: StoreThreadHooks) {
    this.#worker = worker;
    worker.on('message', (message: Reply | StoreThreadEvent) => {
      if ('event' in message) {
        if (message.event === 'converted') hooks.onConverted(message.outcomes);
        else if (message.event === 'changed') hooks.onPatientsChanged(new Set(message.ids));
        else hooks.log[message.level](message.details, message.message);
        return;
      }
      const waiting = this.#pending.get(message.id);
      if (!waiting) return;
      this.#pending.delete(message.id);
      if (message.ok) waiting.resolve(message.value);
      else waiting.reject(Object.assign(new Error(message.error.message), { name: message.error.name }));
    });
    const fail = (error: Error): void => {
      this.#dead ??= error;
      for (const w of this.#pending.values()) w.reject(error);
      this.#pending.clear();
    };
    worker.on('error', (error) => {
      hooks.log.error({ err: { type: error.name } }, 'hl7v2 store thread failed');
      fail(error);
    });
    worker.on('exit', () => fail(new Error('hl7v2 store thread exited')));
  }

  static async open(data: StoreThreadData, hooks: StoreThreadHooks): Promise<ThreadedStore> {
    const worker = new Worker(new URL('./store-thread.ts', import.meta.url), { workerData: data });
    const store = new ThreadedStore(worker, hooks);
    await store.stats(); // the thread opened the database (or the error surfaces here)
    return store;
  }

  #call<T>(call: StoreCall): Promise<T> {
    if (this.#closed && call.op !== 'close') return Promise.reject(new Error('hl7v2 store is closed'));
    if (this.#dead) return Promise.reject(this.#dead);
    const id = ++this.#nextId;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.#worker.postMessage({ id, call });
    });
  }

  accept(entries: readonly InboxEntry[], deadLetters: readonly DeadLetterEntry[] = []): Promise<AcceptResult[]> {
    return this.#call({ op: 'accept', entries, deadLetters });
  }
  pending(limit: number): Promise<InboxItem[]> {
    return this.#call({ op: 'pending', limit });
  }
  transaction<T>(_fn: (tx: StoreTransaction) => Promise<T>): Promise<T> {
    return Promise.reject(new Error('transactions run inside the store thread'));
  }
  read(resourceType: string, id: string): Promise<Resource | undefined> {
    return this.#call({ op: 'read', resourceType, id });
  }
  list(resourceType: string, patients?: readonly string[]): Promise<Resource[]> {
    return this.#call({ op: 'list', resourceType, ...(patients ? { patients } : {}) });
  }
  addDeadLetter(entry: DeadLetterEntry): Promise<number> {
    return this.#call({ op: 'addDeadLetter', entry });
  }
  deadLetters(options: { limit: number; includeReplayed?: boolean }): Promise<DeadLetter[]> {
    return this.#call({ op: 'deadLetters', options });
  }
  deadLetter(id: number): Promise<DeadLetter | undefined> {
    return this.#call({ op: 'deadLetter', id });
  }
  markReplayed(id: number, outcome: string): Promise<void> {
    return this.#call({ op: 'markReplayed', id, outcome });
  }
  outcomes(seqs: readonly number[]): Promise<ConversionOutcome[]> {
    return this.#call({ op: 'outcomes', seqs });
  }
  requeue(seq: number): Promise<void> {
    return this.#call({ op: 'requeue', seq });
  }
  stats(): Promise<StoreStats> {
    return this.#call({ op: 'stats' });
  }
  wake(): void {
    void this.#call({ op: 'wake' }).catch(() => undefined);
  }
  drain(): Promise<void> {
    return this.#call({ op: 'drain' });
  }
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#call({ op: 'close' }).catch(() => undefined);
    this.#closed = true;
    await this.#worker.terminate();
  }
}

