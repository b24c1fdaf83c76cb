/**
 * The HL7v2 source's durable state, one per source: the inbox (accepted messages; acceptance and
 * de-duplication are one committed insert, so an AA is never sent for something a crash could
 * lose), the converted FHIR resources filed by local patient id, and the dead letters.
 * Two back ends implement it: SQLite (`node:sqlite`, file-backed, the embedded default) and
 * PostgreSQL (production).
 */
import type { Resource } from '@medplum/fhirtypes';

export interface InboxEntry {
  /** MSH-3 + MSH-4 of the sender (with MSH-10, the de-duplication key). */
  readonly sender: string;
  readonly controlId: string;
  readonly raw: string;
  readonly receivedAt: string;
  /** Hash of the message's content (see `contentHash`): tells a resend from a reused MSH-10. */
  readonly contentHash: string;
}

export interface AcceptResult {
  readonly seq: number;
  /**
   * `duplicate`: the same message was accepted earlier (same sender, MSH-10 and content), so it is
   * acknowledged and not applied again. `conflict`: the sender already used this MSH-10 for a
   * different message; nothing was stored.
   */
  readonly status: 'accepted' | 'duplicate' | 'conflict';
}

export interface InboxItem extends Omit<InboxEntry, 'contentHash'> {
  readonly seq: number;
}

export type DeadLetterStage = 'acceptance' | 'conversion';

export interface DeadLetterEntry {
  readonly stage: DeadLetterStage;
  readonly sender: string;
  readonly controlId: string;
  /** What is wrong, without PHI (segment/field positions and HL7 error codes only). */
  readonly reason: string;
  readonly raw: string;
  /** The inbox row of a message that was accepted but failed conversion. */
  readonly inboxSeq?: number;
}

export interface DeadLetter extends DeadLetterEntry {
  readonly id: number;
  readonly createdAt: string;
  readonly replayedAt?: string;
  readonly replayOutcome?: string;
}

/** How converting an accepted message ended: what an enhanced-mode application ACK reports. */
export interface ConversionOutcome {
  readonly seq: number;
  readonly ok: boolean;
  /** Why it failed: HL7 table 0357 code, ERL location, text (no PHI). */
  readonly error?: { readonly hl7Code: string; readonly text: string; readonly location: string };
}

export interface StoredResource {
  readonly resource: Resource;
  /** Local patient id of the compartment; null for shared resources (Medication). */
  readonly patient: string | null;
}

export interface ResourceKey {
  readonly resourceType: string;
  readonly id: string;
}

/**
 * Operations inside one store transaction (conversion of a batch of inbox messages). Reads and
 * writes come in sets so that a batch costs a few round trips to PostgreSQL, not a few per message.
 */
export interface StoreTransaction {
  get(resourceType: string, id: string): Promise<StoredResource | undefined>;
  /** The stored ones among these keys, by `type/id`. */
  getMany(keys: readonly ResourceKey[]): Promise<Map<string, StoredResource>>;
  /** Upserts; keys are unique within one call. */
  putMany(entries: readonly StoredResource[]): Promise<void>;
  deleteMany(keys: readonly ResourceKey[]): Promise<void>;
  /** Every resource in a patient's compartment (for A40 merges). */
  byPatient(patient: string): Promise<StoredResource[]>;
  /** Marks inbox messages converted (`done`) or failed, keeping why (the listening node may ask). */
  finish(outcomes: readonly ConversionOutcome[]): Promise<void>;
  /**
   * Which of these inbox messages are still pending, read inside the transaction: another
   * converter (a second node on the same PostgreSQL schema) may have taken them meanwhile.
   */
  stillPending(seqs: readonly number[]): Promise<Set<number>>;
  deadLetter(entry: DeadLetterEntry): Promise<number>;
}

export interface StoreStats {
  readonly newestReceivedAt?: string;
  readonly pending: number;
  readonly deadLetters: number;
}

export interface Hl7Store {
  /**
   * Commits the entries and the dead letters of refused messages that arrived with them (one
   * transaction, durable on return) and tells which entries were duplicates or conflicts.
   */
  accept(entries: readonly InboxEntry[], deadLetters?: readonly DeadLetterEntry[]): Promise<AcceptResult[]>;
  /** Pending inbox messages in acceptance order. */
  pending(limit: number): Promise<InboxItem[]>;
  transaction<T>(fn: (tx: StoreTransaction) => Promise<T>): Promise<T>;
  read(resourceType: string, id: string): Promise<Resource | undefined>;
  /** Resources of a type, optionally only those in these patients' compartments, ordered by id. */
  list(resourceType: string, patients?: readonly string[]): Promise<Resource[]>;
  addDeadLetter(entry: DeadLetterEntry): Promise<number>;
  deadLetters(options: { limit: number; includeReplayed?: boolean }): Promise<DeadLetter[]>;
  deadLetter(id: number): Promise<DeadLetter | undefined>;
  markReplayed(id: number, outcome: string): Promise<void>;
  /**
   * How these inbox messages' conversions ended, for those that ended: what lets the node that
   * accepted a message send its application ACK whichever node converted it.
   */
  outcomes(seqs: readonly number[]): Promise<ConversionOutcome[]>;
  /** Puts an accepted message back to pending (replay of a conversion failure). */
  requeue(seq: number): Promise<void>;
  stats(): Promise<StoreStats>;
  close(): Promise<void>;
}
