/**
 * The provider console's desk: membership motions in the ProviderRegistry and patient links in
 * Relationships, sent with the key of the provider this node runs. Linking keeps the local id in
 * the node's private link table; only the salted commitment goes on chain.
 */
import { getAddress, type Signer } from 'ethers';
import { linkCommitment } from '../../../contracts/link-commitment.ts';
import { MotionStatus } from '../../../contracts/bindings/ProviderRegistry.ts';
import type { PatientLink } from '../../fhir/patient-links.ts';
import type { GrantView, LinkedPatientView, ProposalView, ProviderNetwork, ProviderPatients, ProviderView, RelayOutcome } from '../shared/src/api-types.ts';
import { DeskError, type LinkRequest, type ProposalRequest, type ProviderDesk } from '../api/desks.ts';
import { mined, type MedRecChain } from './medrec-chain.ts';
import type { ParticipantNames } from './participant-names.ts';

const PURPOSES = ['treatment', 'payment', 'operations', 'research', 'public-health', 'any'] as const;
/** Motions shown: the most recent ones (older ones are history, not work). */
const MOTION_WINDOW = 50;

/** The node's private link table, as far as the console needs it (console-links.ts keeps it). */
export interface LinkTable {
  patientOf(sourceId: string, localId: string): string | undefined;
  linksOf(patient: string): readonly PatientLink[];
  add(link: PatientLink): void;
  remove(link: PatientLink): void;
}

export interface ChainProviderDeskOptions {
  readonly chain: MedRecChain;
  readonly names: ParticipantNames;
  /** Signers of the providers this node runs, by lowercase address. */
  readonly signers: ReadonlyMap<string, Signer>;
  readonly links: LinkTable;
  /** Source ids that hold this provider's records. */
  readonly sourcesOf: (provider: string) => readonly string[];
  /** The link salt of (provider, patient): stored or derived from the provider's secret. */
  readonly saltFor: (provider: string, patient: string) => string;
  readonly now?: () => number;
}

function explainRevert(name: string): string {
  switch (name) {
    case 'AlreadyVoted': return 'You already voted on this proposal.';
    case 'NotProvider': return 'Only current providers can do that.';
    case 'AlreadyProvider': return 'That organisation is already a provider.';
    case 'MotionPending': return 'There is already an open proposal about that organisation.';
    case 'NotProposer': return 'Only the provider who proposed it can rescind it.';
    case 'MotionNotOpen': return 'That proposal is no longer open.';
    case 'MotionLapsed': return 'That proposal lapsed: it was not carried within 30 days (a new proposal may be made).';
    case 'SelfVote': return 'A provider cannot vote on its own membership.';
    case 'LastProvider': return 'The last provider cannot be removed.';
    case 'InvalidNode': return 'That node key already belongs to another provider.';
    case 'RelationshipExists': return 'This patient is already linked.';
    case 'NoRelationship': return 'There is no active relationship with this patient.';
    case 'InvalidRelationship': return 'That address cannot be linked as a patient (it is yours, or empty).';
    default: return `The network refused this (${name}).`;
  }
}

export class ChainProviderDesk implements ProviderDesk {
  readonly #o: ChainProviderDeskOptions;
  /**
   * Per provider, the last of its queued link and end operations. Each reads the link table,
   * sends a commitment from it and writes it back: run side by side, one would overwrite the
   * other's commitment (and their transactions would race for the provider's nonce). This
   * process only: the table is the node's own, so one node acts for a provider (README).
   */
  readonly #queues = new Map<string, Promise<unknown>>();

  constructor(options: ChainProviderDeskOptions) {
    this.#o = options;
  }

  canActFor(provider: string): boolean {
    return this.#o.signers.has(provider.toLowerCase());
  }

  /** Runs `operation` once the provider's earlier link and end operations have settled. */
  #queued<T>(provider: string, operation: () => Promise<T>): Promise<T> {
    const result = (this.#queues.get(provider) ?? Promise.resolve()).then(operation, operation);
    const tail = result.then(() => undefined, () => undefined);
    this.#queues.set(provider, tail);
    void tail.then(() => { if (this.#queues.get(provider) === tail) this.#queues.delete(provider); });
    return result;
  }

  #signer(provider: string): Signer {
    const signer = this.#o.signers.get(provider);
    if (!signer) throw new DeskError(403, 'This node does not hold that provider’s key.', 'Sign in as a provider this node runs.');
    return signer;
  }

  async network(provider: string): Promise<ProviderNetwork> {
    const { registry } = this.#o.chain;
    const [providers, count, blockNumber] = await Promise.all([this.#o.names.providers(), registry.read('motionCount'), this.#o.chain.provider.getBlockNumber()]);
    const me: ProviderView = providers.find((p) => p.address === provider) ?? { address: provider, name: provider, role: 'provider' };
    const proposals: ProposalView[] = [];
    for (let id = count; id >= 1n && id > count - BigInt(MOTION_WINDOW); id--) {
      const { motion, yes, required } = await registry.read('getMotion', id);
      const subject = motion.subject.toLowerCase();
      const known = providers.find((p) => p.address === subject);
      proposals.push({
        id: id.toString(),
        kind: motion.kind === 0 ? 'admit' : 'remove',
        candidate: { address: subject, name: motion.name || known?.name || subject, role: 'provider', fhirBase: motion.fhirBaseUrl || known?.fhirBase || '' },
        proposer: motion.proposer.toLowerCase(),
        votes: motion.voters.map((v) => v.toLowerCase()),
        needed: Number(required > yes ? required : yes),
        open: motion.status === MotionStatus.Open,
      });
    }
    return { me, providers, proposals, blockNumber };
  }

  async propose(provider: string, request: ProposalRequest): Promise<RelayOutcome> {
    const registry = this.#o.chain.registry.connect(this.#signer(provider));
    if (request.remove) {
      const target = getAddress(request.remove);
      const r = await mined(() => registry.write('proposeRemoval', [target]), explainRevert, registry.interface);
      return { ...r, summary: 'Removal proposed.' };
    }
    if (!request.address || !request.name || !request.fhirBase) throw new DeskError(400, 'A proposal needs a name, an address and a FHIR base URL.', 'Fill in all three fields.');
    const candidate = getAddress(request.address);
    const r = await mined(() => registry.write('proposeAdmission', [candidate, request.name ?? '', request.fhirBase ?? '', candidate]), explainRevert, registry.interface);
    const admitted = await this.#o.chain.registry.read('isProvider', candidate);
    return { ...r, summary: admitted ? `${request.name} was admitted at once (you are the only provider).` : `Proposed ${request.name}.` };
  }

  async vote(provider: string, motionId: string): Promise<RelayOutcome> {
    const registry = this.#o.chain.registry.connect(this.#signer(provider));
    const r = await mined(() => registry.write('vote', [BigInt(motionId)]), explainRevert, registry.interface);
    const { motion } = await this.#o.chain.registry.read('getMotion', BigInt(motionId));
    const passed = motion.status === MotionStatus.Passed;
    const name = motion.name || motion.subject;
    return { ...r, summary: passed ? `Vote counted: the motion on ${name} passed.` : 'Vote counted; more votes are needed.' };
  }

  async rescind(provider: string, motionId: string): Promise<RelayOutcome> {
    const registry = this.#o.chain.registry.connect(this.#signer(provider));
    const r = await mined(() => registry.write('rescind', [BigInt(motionId)]), explainRevert, registry.interface);
    return { ...r, summary: 'Proposal rescinded.' };
  }

  async #grantsCovering(provider: string, patient: string, providers: readonly ProviderView[]): Promise<GrantView[]> {
    const { consent } = this.#o.chain;
    const now = this.#o.now?.() ?? Math.floor(Date.now() / 1000);
    const out: GrantView[] = [];
    for (const id of await consent.read('grantIdsByPatient', patient)) {
      const g = await consent.read('getGrant', id);
      const t = g.terms;
      const active = !g.revoked && t.notBefore <= now && (t.expiresAt === 0 || now < t.expiresAt);
      const covers = t.providers.length === 0 || t.providers.some((p) => p.toLowerCase() === provider);
      if (!active || !covers) continue;
      out.push({
        id: id.toString(), kind: 'grant', grantee: await this.#o.names.describe(g.grantee, providers),
        providers: t.providers.length ? t.providers.map((p) => p.toLowerCase()) : '*',
        resourceTypes: t.resourceTypes.length ? t.resourceTypes : '*',
        actions: [...(t.actions & 1 ? ['read'] : []), ...(t.actions & 2 ? ['search'] : [])],
        purpose: PURPOSES[t.purpose] ?? 'any', notBefore: t.notBefore, expiresAt: t.expiresAt, active,
      });
    }
    return out;
  }

  async patients(provider: string): Promise<ProviderPatients> {
    const { relationships } = this.#o.chain;
    const providers = await this.#o.names.providers();
    const addresses = await relationships.read('patientsOf', provider);
    const patients: LinkedPatientView[] = [];
    for (const a of addresses) {
      const patient = a.toLowerCase();
      const rel = await relationships.read('getRelationship', provider, patient);
      const who = await this.#o.names.describe(patient, providers);
      patients.push({ address: patient, name: who.name, role: 'patient', active: rel.active, grants: rel.active ? await this.#grantsCovering(provider, patient, providers) : [] } as LinkedPatientView);
    }
    return { patients, sources: [...this.#o.sourcesOf(provider)] };
  }

  link(provider: string, request: LinkRequest): Promise<RelayOutcome> {
    return this.#queued(provider, () => this.#link(provider, request));
  }

  async #link(provider: string, request: LinkRequest): Promise<RelayOutcome> {
    if (!this.#o.sourcesOf(provider).includes(request.source)) {
      throw new DeskError(400, `Source “${request.source}” does not hold this provider’s records.`, 'Pick one of your own sources.');
    }
    const signer = this.#signer(provider);
    const patient = request.address.toLowerCase();
    const link = { patient, sourceId: request.source, localId: request.localId };
    // A source belongs to one provider, so the queue already orders every link to this local id.
    const holder = this.#o.links.patientOf(link.sourceId, link.localId);
    if (holder !== undefined && holder !== patient) {
      throw new DeskError(409, 'That local patient is already linked to another address.', 'Check the local id; end the other link first if it was wrong.');
    }
    // The commitment covers the links this provider will hold; the table takes the new one only
    // once the chain has it, so a refused transaction leaves nothing behind.
    const ours = new Set(this.#o.sourcesOf(provider));
    const held = this.#o.links.linksOf(patient).filter((l) => ours.has(l.sourceId));
    const rows = [...held, ...(holder === undefined ? [link] : [])].map((l) => ({ sourceId: l.sourceId, localId: l.localId }));
    const commitment = linkCommitment({ provider, patient, salt: this.#o.saltFor(provider, patient), links: rows });
    const relationships = this.#o.chain.relationships.connect(signer);
    const existing = await this.#o.chain.relationships.read('getRelationship', provider, patient);
    const r = existing.active
      ? await mined(() => relationships.write('updateCommitment', [patient, commitment]), explainRevert, relationships.interface)
      : await mined(() => relationships.write('addRelationship', [patient, commitment]), explainRevert, relationships.interface);
    this.#o.links.add(link);
    return { ...r, summary: existing.active ? 'Link added; the on-chain commitment was updated.' : 'Patient linked.' };
  }

  endRelationship(provider: string, patient: string): Promise<RelayOutcome> {
    return this.#queued(provider, () => this.#endRelationship(provider, patient));
  }

  async #endRelationship(provider: string, patient: string): Promise<RelayOutcome> {
    const relationships = this.#o.chain.relationships.connect(this.#signer(provider));
    const r = await mined(() => relationships.write('endRelationship', [provider, patient]), explainRevert, relationships.interface);
    // Ended on chain: this provider's local ids for the patient go too, so nothing stale resolves or blocks a new link.
    const ours = new Set(this.#o.sourcesOf(provider));
    for (const l of this.#o.links.linksOf(patient).filter((x) => ours.has(x.sourceId))) this.#o.links.remove(l);
    return { ...r, summary: 'Relationship ended; its local links were removed from this node.' };
  }
}
