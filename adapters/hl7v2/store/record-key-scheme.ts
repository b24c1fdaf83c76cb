/**
 * The version of the rules that give converted records their ids: local patient ids
 * (patient-mapping.ts) and the keys of orders, visits, accessions, prescriptions and Medications
 * (v2-datatypes.ts `numberKey`, the mappings). A store records the version its records were filed
 * under. Opening a store filed under an older one rebuilds it, because a restated message would
 * otherwise file a second record next to the old one: in one transaction its converted records
 * are removed and every message that converted (the inbox keeps each accepted message) goes back
 * to pending, so the conversion worker files them again, in acceptance order, under the current
 * ids. Messages that failed conversion stay failed, with their dead letters (replay re-runs them).
 *
 * Raise `RECORD_KEY_SCHEME` with any change that gives an already converted message's records
 * other ids. History:
 * 1. (not recorded in the store) `-` for every character outside `[A-Za-z0-9.]` in patient ids;
 *    order, visit and accession numbers keyed without their namespace or sender.
 * 2. Collision-free patient ids (`.` + hex), numbers keyed by namespace else sender, Medication
 *    keyed by sender when its code has no known system.
 */
export const RECORD_KEY_SCHEME = 2;

/** A rebuild done when a store was opened. */
export interface KeySchemeRebuild {
  readonly from: number;
  readonly to: number;
  /** Converted messages put back to pending. */
  readonly messages: number;
}

/** What a node logs (counts only) when it opened a store that it rebuilt. */
export const REBUILD_LOG_MESSAGE = 'hl7v2 store was filed under an older record key scheme: converting its inbox again';

/**
 * The scheme a store's records are filed under: as recorded; else 1 if it holds records (a store
 * from before schemes were recorded); else, a new store, the current one. A store written by a
 * newer release is refused rather than rebuilt backwards.
 */
export function storedKeyScheme(recorded: string | undefined, holdsRecords: boolean): number {
  if (recorded === undefined) return holdsRecords ? 1 : RECORD_KEY_SCHEME;
  const scheme = Number(recorded);
  if (!Number.isInteger(scheme) || scheme < 1 || scheme > RECORD_KEY_SCHEME) {
    throw new Error(`HL7v2 store records use key scheme ${recorded}; this release knows 1 to ${RECORD_KEY_SCHEME}: run the release that wrote it or a newer one`);
  }
  return scheme;
}
