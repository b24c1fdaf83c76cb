/**
 * Converts accepted messages to FHIR off the MLLP path: takes pending inbox messages in
 * acceptance order (so an A08 after an A01 for the same patient is applied after it), converts a
 * batch and applies it in one store transaction, each message in its own savepoint: a message
 * that fails goes to the dead letters with the reason and does not hold up the others.
 * One worker per source keeps per-patient order; it wakes on acceptance and polls as a fallback.
 */
import { ConversionError, type ConversionOptions } from './conversion/conversion-result.ts';
import { convertMessage } from './conversion/message-conversion.ts';
import { parseEr7 } from './er7.ts';
import { errorSummary } from './message-acceptance.ts';
import type { ConversionOutcome } from './mllp-listener.ts';
import { applyChanges } from './store/apply-changes.ts';
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
  readonly #poll: NodeJS.Timeout;

  constructor(store: Hl7Store, options: ConversionWorkerOptions) {
    this.#store = store;
    this.#options = options;
    this.#poll = setInterval(() => this.wake(), options.pollMs);
    this.#poll.unref();
  }

  /** Asks for a run soon (after the current one when running). */
  wake(): void {
    if (this.#closed) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
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
    }
  }

  async #batch(): Promise<number> {
    const items = await this.#store.pending(this.#options.batchSize);
    if (items.length === 0) return 0;
    const now = new Date().toISOString();
    const outcomes: ConversionOutcome[] = [];
    const changed = new Set<string>();
    await this.#store.transaction(async (tx) => {
      outcomes.length = 0;
      changed.clear();
      const pending = await tx.stillPending(items.map((i) => i.seq));
      for (const item of items) {
        if (!pending.has(item.seq)) continue; // converted by another node meanwhile
        try {
          const touched = await tx.savepoint(async () => {
            const conversion = convertMessage(parseEr7(item.raw), this.#options.conversion);
            return applyChanges(tx, conversion.changes, now);
          });
          await tx.finish(item.seq, 'done');
          for (const p of touched) changed.add(p);
          outcomes.push({ seq: item.seq, ok: true });
        } catch (error) {
          const detail = error instanceof ConversionError
            ? { hl7Code: error.hl7Code, text: error.message, location: error.location }
            : { hl7Code: '207', text: `conversion error (${error instanceof Error ? error.name : 'unknown'})`, location: '' };
          await tx.deadLetter({
            stage: 'conversion', sender: item.sender, controlId: item.controlId, raw: item.raw, inboxSeq: item.seq,
            reason: `AE ${detail.hl7Code} at ${detail.location || 'message'}: ${detail.text}`,
          });
          await tx.finish(item.seq, 'failed');
          outcomes.push({ seq: item.seq, ok: false, error: detail });
        }
      }
    });
    this.#options.onConverted?.(outcomes);
    if (changed.size) this.#options.onPatientsChanged?.(changed);
    return items.length;
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#poll);
    await this.#running;
  }
}
