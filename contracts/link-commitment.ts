/**
 * The salted commitment a provider puts on chain for its private patient link (patient address
 * → local patient ids in its sources). The local ids (MRNs, EHR ids) never leave the provider;
 * the 32-byte salt makes the commitment impossible to brute-force from guessable MRNs, and lets
 * the provider (or an auditor it shows the row to) prove the link later.
 *
 * commitment = keccak256(abi.encode("medrec.link.v1", provider, patient, salt,
 *                                   sourceIds[], localIds[]))   // rows sorted by (sourceId, localId)
 */
import { AbiCoder, getAddress, hexlify, keccak256, randomBytes, solidityPackedKeccak256 } from 'ethers';

export const LINK_COMMITMENT_VERSION = 'medrec.link.v1';

/** One row of a provider's link table for one patient. */
export interface LocalLink {
  readonly sourceId: string;
  readonly localId: string;
}

export interface LinkCommitmentInput {
  /** The provider account that records the relationship. */
  readonly provider: string;
  /** The patient's address. */
  readonly patient: string;
  /** 32-byte hex salt kept with the link. */
  readonly salt: string;
  /** The patient's local ids at this provider's sources (one or more). */
  readonly links: readonly LocalLink[];
}

/** A fresh random 32-byte salt. */
export function newLinkSalt(): string {
  return hexlify(randomBytes(32));
}

/**
 * A salt the provider can recompute instead of storing: derived from a secret only the provider
 * node has (e.g. its signing key) and the patient address. The demo uses it with its published
 * dev keys, so demo salts are public too.
 */
export function deriveLinkSalt(providerSecret: string, patient: string): string {
  return solidityPackedKeccak256(['string', 'bytes32', 'address'], [LINK_COMMITMENT_VERSION, providerSecret, getAddress(patient)]);
}

/** The commitment of a provider's links for one patient. */
export function linkCommitment(input: LinkCommitmentInput): string {
  if (input.links.length === 0) throw new Error('a link commitment needs at least one local id');
  const rows = [...input.links].sort((a, b) =>
    a.sourceId === b.sourceId ? compare(a.localId, b.localId) : compare(a.sourceId, b.sourceId),
  );
  return keccak256(
    AbiCoder.defaultAbiCoder().encode(
      ['string', 'address', 'address', 'bytes32', 'string[]', 'string[]'],
      [
        LINK_COMMITMENT_VERSION,
        getAddress(input.provider),
        getAddress(input.patient),
        input.salt,
        rows.map((r) => r.sourceId),
        rows.map((r) => r.localId),
      ],
    ),
  );
}

/** Whether a provider's link rows and salt match the commitment found on chain. */
export function verifyLink(input: LinkCommitmentInput, onChainCommitment: string): boolean {
  return linkCommitment(input).toLowerCase() === onChainCommitment.toLowerCase();
}

const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
