/**
 * What converting one v2 message produces: changes to apply to the store, in order. Patient and
 * Encounter upserts carry only the elements the message stated, so an A08 that leaves PID-13
 * empty keeps the phone number an A01 gave, while `""` (the HL7 explicit null) deletes it
 * (`remove`). Results and orders are restated whole by their segments (OBX, OBR, ORC+RXE/RXO):
 * those upserts `replace` the stored resource.
 */
import type { Resource } from '@medplum/fhirtypes';

export interface UpsertChange {
  readonly kind: 'upsert';
  /** Elements stated by the message (plus resourceType and id). */
  readonly resource: Resource;
  /** Local patient id whose compartment holds it; null for shared resources (Medication). */
  readonly patient: string | null;
  /** The message states the whole resource: it replaces the stored one (keeping id and version history). */
  readonly replace?: boolean;
  /** Elements the message may state in part (a period's end alone): merged into the stored element. */
  readonly partial?: readonly string[];
  /** Elements the message explicitly nulled: top-level (`telecom`) or one child of one (`period.end`). */
  readonly remove?: readonly string[];
  /** Elements to set only when the stored resource lacks them (required elements). */
  readonly defaults?: Readonly<Record<string, unknown>>;
}

/** A40: every record of `from` moves to `into`; the old Patient is linked `replaced-by`. */
export interface MergePatientsChange {
  readonly kind: 'merge-patients';
  readonly from: string;
  readonly into: string;
}

export type StoreChange = UpsertChange | MergePatientsChange;

export interface ConversionOptions {
  /** Source id, used in identifier systems of local namespaces. */
  readonly sourceId: string;
  /** Zone of the sending system for times without an offset (IANA name or `+hh:mm`). */
  readonly timezone: string;
}

export class ConversionError extends Error {
  /** HL7 table 0357 error code (e.g. 101 required field missing). */
  readonly hl7Code: string;
  /** ERL location `SEG^1^field`. */
  readonly location: string;
  constructor(message: string, hl7Code: string, location = '') {
    super(message);
    this.name = 'ConversionError';
    this.hl7Code = hl7Code;
    this.location = location;
  }
}
