/**
 * The provider's private link table (patient address → local patient ids per source) checked
 * against the salted commitments on chain. A link whose rows do not reproduce the provider's
 * on-chain commitment for that patient (or with no active relationship at all) is not used:
 * the FHIR layer never resolves a patient to local records the chain does not vouch for.
 */
import { Contract, type InterfaceAbi, type JsonRpcProvider } from 'ethers';
import { relationshipsAbi } from '../../contracts/bindings/Relationships.ts';
import { linkCommitment } from '../../contracts/link-commitment.ts';
import type { PatientLink } from '../fhir/patient-links.ts';

export interface LinkVerificationOptions {
  /** Provider address holding each source's records. */
  readonly providerOfSource: (sourceId: string) => string | undefined;
  /** The salt the provider committed with, for one patient (from its link table or derived). */
  readonly saltOf: (provider: string, patient: string) => string | undefined;
  /** The provider's on-chain commitment for a patient, undefined without an active relationship. */
  readonly commitmentOf: (provider: string, patient: string) => Promise<string | undefined>;
}

export interface LinkVerification {
  readonly verified: PatientLink[];
  /** Rejected (provider, patient) groups and why; addresses only, never local ids. */
  readonly rejected: { provider: string; patient: string; reason: 'no-relationship' | 'mismatch' | 'no-salt' | 'no-provider' }[];
}

/** The key of one provider's links for one patient (what one commitment covers). */
export function linkGroup(provider: string, patient: string): string {
  return `${provider.toLowerCase()}\u0000${patient.toLowerCase()}`;
}

export async function verifyPatientLinks(links: readonly PatientLink[], o: LinkVerificationOptions): Promise<LinkVerification> {
  const groups = new Map<string, { provider: string; patient: string; rows: PatientLink[] }>();
  const rejected: LinkVerification['rejected'] = [];
  for (const link of links) {
    const provider = o.providerOfSource(link.sourceId)?.toLowerCase();
    if (!provider) {
      rejected.push({ provider: '', patient: link.patient, reason: 'no-provider' });
      continue;
    }
    const key = linkGroup(provider, link.patient);
    const group = groups.get(key) ?? { provider, patient: link.patient, rows: [] };
    group.rows.push(link);
    groups.set(key, group);
  }
  const verified: PatientLink[] = [];
  await Promise.all(
    [...groups.values()].map(async ({ provider, patient, rows }) => {
      const salt = o.saltOf(provider, patient);
      if (!salt) return void rejected.push({ provider, patient, reason: 'no-salt' });
      const onChain = await o.commitmentOf(provider, patient);
      if (!onChain) return void rejected.push({ provider, patient, reason: 'no-relationship' });
      const ours = linkCommitment({ provider, patient, salt, links: rows.map((r) => ({ sourceId: r.sourceId, localId: r.localId })) });
      if (ours.toLowerCase() !== onChain.toLowerCase()) return void rejected.push({ provider, patient, reason: 'mismatch' });
      verified.push(...rows);
    }),
  );
  // Keep the table's order (the FHIR layer lists links in insertion order).
  const ok = new Set(verified);
  return { verified: links.filter((l) => ok.has(l)), rejected };
}

/** On-chain commitments read from the Relationships contract. */
export function chainCommitments(provider: JsonRpcProvider, relationships: string): LinkVerificationOptions['commitmentOf'] {
  const contract = new Contract(relationships, relationshipsAbi as unknown as InterfaceAbi, provider);
  return async (prov, patient) => {
    const r = (await contract.getFunction('getRelationship').staticCall(prov, patient)) as { active: boolean; commitment: string };
    return r.active ? String(r.commitment) : undefined;
  };
}
