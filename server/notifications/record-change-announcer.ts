/**
 * Turns "records of these local patients changed" from feed sources (HL7v2) into the
 * provider's on-chain `RecordsChanged` announcement for each linked patient, which the patient
 * app shows as a notification. Announcements carry addresses only, never clinical content, and
 * are coalesced: at most one per (provider, patient) per flush interval, however busy the feed.
 */
import type { Signer } from 'ethers';
import type { FastifyBaseLogger } from 'fastify';
import type { MedRecClient } from '../../contracts/client.ts';

export interface RecordChangeAnnouncerOptions {
  readonly client: MedRecClient;
  /** The patient address a source-local patient is linked to (the node's link table). */
  readonly patientOf: (sourceId: string, localId: string) => string | undefined;
  /** The provider node key that announces for a source; `undefined` leaves that source silent. */
  readonly signerFor: (sourceId: string) => Signer | undefined;
  readonly log: FastifyBaseLogger;
  /** How long changes are gathered before they are announced (default 2 s). */
  readonly flushIntervalMs?: number;
}

export class RecordChangeAnnouncer {
  readonly #options: RecordChangeAnnouncerOptions;
  /** sourceId → patient addresses waiting to be announced. */
  readonly #pending = new Map<string, Set<string>>();
  readonly #timer: NodeJS.Timeout;
  #flushing: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(options: RecordChangeAnnouncerOptions) {
    this.#options = options;
    this.#timer = setInterval(() => void this.flush(), options.flushIntervalMs ?? 2000);
    this.#timer.unref();
  }

  /** The `AdapterContext.recordsChanged` hook. Unlinked local patients are nobody's address: skipped. */
  readonly recordsChanged = (sourceId: string, localPatientIds: readonly string[]): void => {
    if (this.#closed) return;
    for (const localId of localPatientIds) {
      const patient = this.#options.patientOf(sourceId, localId);
      if (!patient) continue;
      let patients = this.#pending.get(sourceId);
      if (!patients) this.#pending.set(sourceId, (patients = new Set()));
      patients.add(patient);
    }
  };

  /** Announces everything gathered so far; one flush at a time, so a signer's nonces never race. */
  flush(): Promise<void> {
    this.#flushing = this.#flushing.then(() => this.#announcePending());
    return this.#flushing;
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    await this.flush();
  }

  async #announcePending(): Promise<void> {
    const batch = [...this.#pending];
    this.#pending.clear();
    for (const [sourceId, patients] of batch) {
      const signer = this.#options.signerFor(sourceId);
      if (!signer) continue;
      for (const patient of patients) {
        try {
          await this.#options.client.announceRecordsChanged(signer, patient, []);
        } catch (err) {
          // Not fatal for the feed; the next change of this patient announces again.
          this.#options.log.warn({ sourceId, reason: (err as Error).message }, 'record-change announcement failed');
        }
      }
    }
  }
}
