/**
 * Durable acceptance of v2 messages, shared by the MLLP listener and the file drop.
 *
 * A message is checked (structure, type, required fields), then committed to the store's inbox
 * together with its de-duplication key (sender + MSH-10) in one transaction; only after that
 * commit does the caller send AA/CA. Messages arriving together from any connection are committed
 * in one transaction (group commit: one fsync for many ACKs), and one commit is in flight at a
 * time so inbox order is arrival order. Refused messages go to the dead letters with the reason.
 */
import { createHash } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import { ackModeOf, refusalReason, type AckMode } from './acknowledgement.ts';
import { checkMessage, type AcceptanceRules, type Refusal } from './conversion/message-conversion.ts';
import { Er7ParseError, parseEr7, type Er7Message } from './er7.ts';
import type { AcceptResult, DeadLetterEntry, Hl7Store, InboxEntry } from './store/hl7-store.ts';

export type AcceptanceOutcome =
  | { readonly kind: 'accepted' | 'duplicate'; readonly seq: number; readonly message: Er7Message; readonly mode: AckMode }
  | { readonly kind: 'refused'; readonly message: Er7Message; readonly mode: AckMode; readonly refusal: Refusal }
  | { readonly kind: 'unreadable'; readonly refusal: Refusal; readonly salvagedControlId: string }
  /** An ACK sent to us (a sender acknowledging our application ACK, say): taken silently, never answered. */
  | { readonly kind: 'acknowledgement'; readonly message: Er7Message }
  /** The store could not commit: the sender must resend (AE 207), nothing was accepted. */
  | { readonly kind: 'unavailable'; readonly message: Er7Message; readonly mode: AckMode };

interface Waiting {
  readonly entry: InboxEntry;
  readonly resolve: (r: AcceptResult | undefined) => void;
}

/**
 * A sender reused an MSH-10 for a different message: refused, or it would be silently lost. The
 * text says what happened and what a resend must look like, and quotes nothing of either message.
 */
export const REUSED_CONTROL_ID: Refusal = {
  ackCode: 'AE', hl7Code: '205', location: 'MSH^1^10',
  text: 'control id (MSH-10) reused: this sender already sent a different message with this control id; not accepted (a resend must repeat the original unchanged, a new message needs a new control id)',
};

/**
 * What tells a resend from a different message under the same MSH-10: every segment as sent
 * (line endings normalised), except MSH-7, which some engines restamp when they resend.
 */
export function contentHash(message: Er7Message): string {
  const hash = createHash('sha256');
  for (const segment of message.segments) {
    if (segment === message.msh) {
      const fields = segment.raw.split(message.delimiters.field);
      fields[6] = ''; // MSH-7 (MSH-1 is the separator itself)
      hash.update(fields.join(message.delimiters.field));
    } else hash.update(segment.raw);
    hash.update('\r');
  }
  return hash.digest('base64url');
}

interface WaitingLetter {
  readonly letter: DeadLetterEntry;
  readonly resolve: () => void;
}

export class MessageAcceptance {
  readonly #store: Hl7Store;
  readonly #rules: AcceptanceRules;
  readonly #log: FastifyBaseLogger;
  readonly #onAccepted: () => void;
  #queue: Waiting[] = [];
  #letters: WaitingLetter[] = [];
  #flushing = false;
  #scheduled = false;

  constructor(store: Hl7Store, rules: AcceptanceRules, log: FastifyBaseLogger, onAccepted: () => void) {
    this.#store = store;
    this.#rules = rules;
    this.#log = log;
    this.#onAccepted = onAccepted;
  }

  async submit(text: string): Promise<AcceptanceOutcome> {
    let message: Er7Message;
    try {
      message = parseEr7(text);
      void message.msh;
    } catch (error) {
      const reason = error instanceof Er7ParseError ? error.message : 'unreadable message';
      const refusal: Refusal = { ackCode: 'AR', hl7Code: '100', text: reason, location: 'MSH' };
      await this.#deadLetter({ sender: '', controlId: salvageControlId(text) }, refusal, text);
      return { kind: 'unreadable', refusal, salvagedControlId: salvageControlId(text) };
    }
    if (message.messageType.code === 'ACK') return { kind: 'acknowledgement', message }; // an ACK is never acknowledged
    const mode = ackModeOf(message);
    const refusal: Refusal | undefined = text.includes('\u0000')
      ? { ackCode: 'AR', hl7Code: '102', text: 'NUL character in message', location: '' }
      : checkMessage(message, this.#rules);
    if (refusal) {
      await this.#deadLetter({ sender: message.sender, controlId: message.controlId }, refusal, text);
      return { kind: 'refused', message, mode, refusal };
    }
    const entry: InboxEntry = {
      sender: message.sender,
      controlId: message.controlId,
      raw: text,
      receivedAt: new Date().toISOString(),
      contentHash: contentHash(message),
    };
    const result = await new Promise<AcceptResult | undefined>((resolve) => {
      this.#queue.push({ entry, resolve });
      this.#schedule();
    });
    if (!result) return { kind: 'unavailable', message, mode };
    if (result.status === 'conflict') {
      await this.#deadLetter({ sender: entry.sender, controlId: entry.controlId }, REUSED_CONTROL_ID, text);
      return { kind: 'refused', message, mode, refusal: REUSED_CONTROL_ID };
    }
    return { kind: result.status, seq: result.seq, message, mode };
  }

  #schedule(): void {
    if (this.#scheduled || this.#flushing) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      void this.#flush();
    });
  }

  async #flush(): Promise<void> {
    if (this.#flushing || (this.#queue.length === 0 && this.#letters.length === 0)) return;
    this.#flushing = true;
    const batch = this.#queue;
    const letters = this.#letters;
    this.#queue = [];
    this.#letters = [];
    try {
      const results = await this.#store.accept(batch.map((w) => w.entry), letters.map((l) => l.letter));
      batch.forEach((w, i) => w.resolve(results[i]));
      if (results.some((r) => r.status === 'accepted')) this.#onAccepted();
    } catch (error) {
      this.#log.error({ err: errorSummary(error), count: batch.length }, 'hl7v2 inbox commit failed; messages not acknowledged positively');
      for (const w of batch) w.resolve(undefined);
    } finally {
      for (const l of letters) l.resolve(); // refused either way; the reason is in the ACK
      this.#flushing = false;
      if (this.#queue.length || this.#letters.length) this.#schedule();
    }
  }

  /** Queues the dead letter into the next group commit (one fsync for many refusals too). */
  #deadLetter(who: { sender: string; controlId: string }, refusal: Refusal, raw: string): Promise<void> {
    // Text columns cannot hold NUL; keep it visible as the HL7 hex escape.
    const kept = raw.replaceAll('\u0000', '\\X00\\');
    const sender = who.sender.replaceAll('\u0000', '');
    const controlId = who.controlId.replaceAll('\u0000', '');
    return new Promise<void>((resolve) => {
      this.#letters.push({ letter: { stage: 'acceptance', sender, controlId, reason: refusalReason(refusal).replaceAll('\u0000', ''), raw: kept }, resolve });
      this.#schedule();
    });
  }
}

/** MSH-10 of a message too broken to parse, when the header line still has ten fields. */
function salvageControlId(text: string): string {
  const line = text.split(/\r\n|\r|\n/, 1)[0] ?? '';
  if (!line.startsWith('MSH') || line.length < 4) return '';
  return (line.split(line[3]!)[9] ?? '').slice(0, 50);
}

/** An error's class and message only: driver errors can quote SQL values, which may be PHI. */
export function errorSummary(error: unknown): { type: string; code?: string } {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return { type: error.name, ...(typeof code === 'string' ? { code } : {}) };
  }
  return { type: typeof error };
}
