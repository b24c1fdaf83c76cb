/**
 * Converts accepted messages to FHIR off the MLLP path: takes pending inbox messages in
 * acceptance order (so an A08 after an A01 for the same patient is applied after it), converts a
 * batch (pure, before touching the store) and applies it in one store transaction through a
 * write-back cache (a few round trips per batch); a message that fails is undone on its own and
 * goes to the dead letters with the reason, without holding up the others.
 * One worker per source keeps per-patient order. It runs when told of work (this node accepted a
 * message, another node signalled over Redis, a start); `pollMs` after its last run it looks once
 * more, for work nobody announced (another node's messages without Redis, a dead-letter replay,
 * a retry after a failed batch): a slow fallback, not a clock the feed depends on.
 */
import { ConversionError, type ConversionOptions } from './conversion/conversion-result.ts';
import { convertMessage } from './conversion/message-conversion.ts';
import { parseEr7 } from './er7.ts';
import { errorSummary } from './message-acceptance.ts';
import { applyChanges } from './store/apply-changes.ts';
import { BatchedTransaction } from './store/batched-transaction.ts';
import type { Conversion } from './conversion/message-conversion.ts';
import type { ConversionOutcome, InboxItem, ResourceKey } from './store/hl7-store.ts';
import type { Hl7Store } from './store/hl7-store.ts';

/** Where conversion failures are reported (a Fastify logger, or a thread's message port). */
export interface ErrorLog {
  error(details: object, message: string): void;
}

/** What the source needs from whatever runs conversion (in this thread or in the store's thread). */
export interface ConversionRunner {
  /** Asks for a run soon. */
  wake(): void;
  /** Resolves when every message accepted so far has been converted. */
  drain(): Promise<void>;
  close(): Promise<void>;
}

export interface ConversionWorkerOptions {
  readonly conversion: ConversionOptions;
  readonly batchSize: number;
  /** The fallback: how long after its last run the worker looks for unannounced work. */
  readonly pollMs: number;
  readonly log: ErrorLog;
  readonly onConverted?: (outcomes: readonly ConversionOutcome[]) => void;
  readonly onPatientsChanged?: (localPatientIds: ReadonlySet<string>) => void;
}

export class ConversionWorker implements ConversionRunner {
  readonly #store: Hl7Store;
  readonly #options: ConversionWorkerOptions;
  #running?: Promise<void>;
  #again = false;
  #closed = false;
  #failures = 0;
  #poll?: NodeJS.Timeout;

  constructor(store: Hl7Store, options: ConversionWorkerOptions) {
    this.#store = store;
    this.#options = options;
  }

  /** Asks for a run soon (after the current one when running). */
  wake(): void {
    if (this.#closed) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    clearTimeout(this.#poll); // this run looks; the fallback restarts after it
    this.#poll = undefined;
    this.#running = new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.#run());
  }

  /** Resolves when every message accepted so far has been converted (tests, benchmarks, CLI). */
  async drain(): Promise<void> {
    for (;;) {
      this.wake();
      await this.#running;
      if ((await this.#store.pending(1)).length === 0 || this.#closed) return;
    }
  }

  async #run(): Promise<void> {
    try {
      for (;;) {
        this.#again = false;
        const processed = await this.#batch();
        if (processed === 0 && !this.#again) break;
        // Yield to the event loop between batches so the listener keeps acknowledging.
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (this.#closed) break;
      }
      this.#failures = 0;
    } catch (error) {
      this.#failures++;
      this.#options.log.error({ err: errorSummary(error), failures: this.#failures }, 'hl7v2 conversion batch failed; will retry');
    } finally {
      this.#running = undefined;
      if (!this.#closed) {
        this.#poll = setTimeout(() => this.wake(), this.#options.pollMs);
        this.#poll.unref();
      }
    }
  }

  async #batch(): Promise<number> {
    const items = await this.#store.pending(this.#options.batchSize);
    if (items.length === 0) return 0;
    try {
      await this.#apply(items);
    } catch (error) {
      // A batch the store refuses (a value PostgreSQL cannot take, say): find the culprit one
      // message at a time, so it alone is dead-lettered and the feed keeps flowing.
      if (items.length === 1) await this.#quarantine(items[0]!, error);
      else for (const item of items) await this.#apply([item]).catch((e: unknown) => this.#quarantine(item, e));
    }
    return items.length;
  }

  /** Dead-letters a message the store cannot apply, once the store itself is known to be healthy. */
  async #quarantine(item: InboxItem, error: unknown): Promise<void> {
    await this.#store.transaction((tx) => tx.stillPending([item.seq])); // throws (retry later) if the store is down
    const detail = { hl7Code: '207', text: `store refused the converted records (${error instanceof Error ? error.name : 'unknown'})`, location: '' };
    await this.#store.transaction(async (tx) => {
      if (!(await tx.stillPending([item.seq])).has(item.seq)) return;
      await tx.deadLetter({
        stage: 'conversion', sender: item.sender, controlId: item.controlId, raw: item.raw, inboxSeq: item.seq,
        reason: `AE ${detail.hl7Code} at message: ${detail.text}`,
      });
      await tx.finish([{ seq: item.seq, ok: false, error: detail }]);
    });
    this.#options.onConverted?.([{ seq: item.seq, ok: false, error: detail }]);
  }

  async #apply(items: readonly InboxItem[]): Promise<void> {
    const now = new Date().toISOString();
    // Conversion is pure: done before the transaction, so the transaction only applies.
    const converted = items.map((item): { item: InboxItem; conversion?: Conversion; error?: unknown } => {
      try {
        return { item, conversion: convertMessage(parseEr7(item.raw), this.#options.conversion) };
      } catch (error) {
        return { item, error };
      }
    });
    const keys: ResourceKey[] = [];
    for (const c of converted) {
      for (const change of c.conversion?.changes ?? []) {
        if (change.kind === 'upsert') keys.push({ resourceType: change.resource.resourceType, id: change.resource.id! });
        else keys.push({ resourceType: 'Patient', id: change.from }, { resourceType: 'Patient', id: change.into });
      }
    }
    const outcomes: ConversionOutcome[] = [];
    const changed = new Set<string>();
    await this.#store.transaction(async (tx) => {
      outcomes.length = 0;
      changed.clear();
      const pending = await tx.stillPending(items.map((i) => i.seq));
      const batch = new BatchedTransaction(tx);
      await batch.prefetch(keys);
      for (const { item, conversion, error: conversionError } of converted) {
        if (!pending.has(item.seq)) continue; // converted by another node meanwhile
        let error = conversionError;
        if (conversion) {
          batch.begin();
          try {
            for (const p of await applyChanges(batch, conversion.changes, now)) changed.add(p);
            outcomes.push({ seq: item.seq, ok: true });
            continue;
          } catch (applyError) {
            batch.rollback();
            error = applyError;
          }
        }
        const detail = error instanceof ConversionError
          ? { hl7Code: error.hl7Code, text: error.message, location: error.location }
          : { hl7Code: '207', text: `conversion error (${error instanceof Error ? error.name : 'unknown'})`, location: '' };
        await tx.deadLetter({
          stage: 'conversion', sender: item.sender, controlId: item.controlId, raw: item.raw, inboxSeq: item.seq,
          reason: `AE ${detail.hl7Code} at ${detail.location || 'message'}: ${detail.text}`,
        });
        outcomes.push({ seq: item.seq, ok: false, error: detail });
      }
      await batch.flush();
      await tx.finish(outcomes);
    });
    this.#options.onConverted?.(outcomes);
    if (changed.size) this.#options.onPatientsChanged?.(changed);
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#poll);
    await this.#running;
  }
}
