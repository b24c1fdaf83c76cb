/**
 * Seeds a demo MedRec network through the same client calls an operator makes with the `medrec`
 * CLI: providers voted in, participants registered, relationships with salted link commitments,
 * the pharmacy's cross-provider medication grants, a clinician's grant, a healthcare proxy, a
 * research study with an invitation, and an open access request.
 *
 * Independent steps go out together (one block on an interval-mined chain); a patient's own
 * signed actions go one after another because each uses the patient's next nonce.
 * Nothing identifying goes on chain: patients register with no name, links only as commitments.
 */
import { parseEther, type Signer } from 'ethers';
import type { MedRecClient, TxOutcome } from './client.ts';
import { Purpose, type TermsInput } from './bindings/Consent.ts';
import { Role } from './bindings/ParticipantDirectory.ts';
import { deriveLinkSalt, linkCommitment, type LocalLink } from './link-commitment.ts';

/** The demo cast as the seed needs it (see server/embedded/demo-identities.ts). */
export interface DemoParticipant {
  readonly handle: string;
  readonly role: 'operator' | 'provider' | 'patient' | 'pharmacy' | 'proxy' | 'researcher' | 'clinician';
  /** Public name (ignored for patients: they register without one). */
  readonly displayName: string;
  readonly signer: Signer;
  readonly address: string;
  /** Provider only: the secret its link salts derive from (the demo's published key). */
  readonly saltSecret?: string;
  /** Provider only: its chain node's address. */
  readonly node?: string;
}

export interface DemoSeedOptions {
  readonly client: MedRecClient;
  readonly cast: readonly DemoParticipant[];
  /** Patient links (handle, source id, local id), e.g. server/embedded/demo-links.ts. */
  readonly links: readonly { readonly patient: string; readonly sourceId: string; readonly localId: string }[];
  /** Which provider handle holds each source's records (undefined: the link is skipped). */
  readonly providerOfSource: (sourceId: string) => string | undefined;
  /** Provider handles that join by vote (they must not be founders). */
  readonly votedIn?: readonly string[];
  /** FHIR base URL published for a provider. */
  readonly fhirBaseUrl?: (handle: string) => string;
  /** JWKS URL published for a participant (e.g. the pharmacy's Backend Services keys). */
  readonly jwksUrl?: (handle: string) => string;
  /** Sponsorship for non-patients who transact directly (default 1 ether when they have none). */
  readonly sponsorWei?: bigint;
}

/** One provider's link table row set for one patient, as committed on chain. */
export interface SeededLink {
  readonly provider: string;
  readonly providerHandle: string;
  readonly patient: string;
  readonly patientHandle: string;
  readonly links: readonly LocalLink[];
  readonly salt: string;
  readonly commitment: string;
}

export interface DemoSeedResult {
  readonly links: readonly SeededLink[];
  readonly grants: { readonly [name: string]: bigint };
  readonly studyId: bigint;
  readonly requestId: bigint;
  /** Every transaction the seed sent (for audits such as the no-PHI scan). */
  readonly transactions: readonly string[];
}

export const MEDICATION_TYPES = ['MedicationRequest', 'Medication', 'MedicationDispense'] as const;
const READ_SEARCH = 3;
const DAY = 86_400;

export async function seedDemoNetwork(options: DemoSeedOptions): Promise<DemoSeedResult> {
  const { client } = options;
  const who = (handle: string): DemoParticipant => {
    const p = options.cast.find((c) => c.handle === handle);
    if (!p) throw new Error(`demo cast has no ${handle}`);
    return p;
  };
  const operator = who('operator');
  const transactions: string[] = [];
  const record = <T extends TxOutcome>(outcome: T): T => (transactions.push(outcome.hash), outcome);
  const now = Number((await client.provider.getBlock('latest'))?.timestamp ?? Math.floor(Date.now() / 1000));

  // Link rows grouped by (provider, patient): one commitment each.
  const grouped = new Map<string, { provider: DemoParticipant; patient: DemoParticipant; links: LocalLink[] }>();
  for (const link of options.links) {
    const providerHandle = options.providerOfSource(link.sourceId);
    if (!providerHandle) continue;
    const key = `${providerHandle}\0${link.patient}`;
    const entry = grouped.get(key) ?? { provider: who(providerHandle), patient: who(link.patient), links: [] };
    entry.links.push({ sourceId: link.sourceId, localId: link.localId });
    grouped.set(key, entry);
  }
  const seededLinks: SeededLink[] = [...grouped.values()].map(({ provider, patient, links }) => {
    if (!provider.saltSecret) throw new Error(`provider ${provider.handle} has no salt secret`);
    const salt = deriveLinkSalt(provider.saltSecret, patient.address);
    return {
      provider: provider.address,
      providerHandle: provider.handle,
      patient: patient.address,
      patientHandle: patient.handle,
      links,
      salt,
      commitment: linkCommitment({ provider: provider.address, patient: patient.address, salt, links }),
    };
  });
  const addRelationships = (links: readonly SeededLink[]): Promise<unknown>[] =>
    links.map(async (l) => record(await client.addRelationship(who(l.providerHandle).signer, l.patient, l.commitment)));

  const votedIn = new Set(options.votedIn ?? []);
  const isFounderLink = (l: SeededLink): boolean => !votedIn.has(l.providerHandle);

  // 1. Sponsor the organisations that transact directly (patients never need ether).
  const sponsor = options.sponsorWei ?? parseEther('1');
  const direct = options.cast.filter((c) => ['pharmacy', 'proxy', 'researcher', 'clinician'].includes(c.role));
  for (const c of direct) {
    if ((await client.provider.getBalance(c.address)) === 0n) record(await client.fund(operator.signer, c.address, sponsor));
  }

  const roles: Record<string, Role> = {
    patient: Role.Patient,
    pharmacy: Role.Pharmacy,
    proxy: Role.Proxy,
    researcher: Role.Researcher,
    clinician: Role.Clinician,
  };
  const alice = who('alice');
  const bob = who('bob');
  const carol = who('carol');
  const dave = who('dave');
  const medications: TermsInput = {
    providers: [],
    resourceTypes: MEDICATION_TYPES,
    actions: READ_SEARCH,
    purpose: Purpose.Treatment,
    notBefore: 0,
    expiresAt: 0,
  };
  const grants: Record<string, bigint> = {};

  // 2. Everything that depends on nothing else, at once.
  const proposals = [...votedIn].map((handle) => {
    const candidate = who(handle);
    if (!candidate.node) throw new Error(`provider ${handle} has no node address`);
    return client.proposeAdmission(who('hospital').signer, {
      account: candidate.address,
      name: candidate.displayName,
      fhirBaseUrl: options.fhirBaseUrl?.(handle) ?? '',
      node: candidate.node,
    });
  });
  const registrations = options.cast
    .filter((c) => c.role in roles)
    .map(async (c) => {
      const role = roles[c.role] ?? Role.Organisation;
      const displayName = role === Role.Patient ? '' : c.displayName;
      return record(await client.register(c.signer, { role, displayName, jwksUrl: options.jwksUrl?.(c.handle) ?? '' }));
    });
  const [study, request, motions] = await Promise.all([
    client
      .openStudy(who('researcher').signer, 'Cardiovascular outcomes study (demo)', {
        providers: [],
        resourceTypes: ['Observation', 'Condition', 'MedicationRequest'],
        actions: READ_SEARCH,
        purpose: Purpose.Research,
        notBefore: 0,
        expiresAt: now + 365 * DAY,
      })
      .then(record),
    client
      .requestAccess(who('clinician').signer, bob.address, {
        providers: [],
        resourceTypes: ['Observation', 'Condition', 'AllergyIntolerance'],
        actions: READ_SEARCH,
        purpose: Purpose.Treatment,
        notBefore: 0,
        expiresAt: now + 30 * DAY,
      })
      .then(record),
    Promise.all(proposals.map((p) => p.then(record))),
    Promise.all(registrations),
    Promise.all(addRelationships(seededLinks.filter(isFounderLink))),
  ]);
  const studyId = study.studyId;
  const requestId = request.requestId;

  // 3. Patients' signed actions (each patient in order, patients in parallel), votes, invitation.
  const founders = (await client.registry.read('getProviders')).map((a) => a.toLowerCase());
  const voters = options.cast.filter((c) => c.role === 'provider' && c.handle !== 'hospital' && founders.includes(c.address.toLowerCase()));
  await Promise.all([
    (async () => {
      grants['pharmacy:alice'] = record(
        await client.createGrant(alice.signer, { patient: alice.address, grantee: who('pharmacy').address, terms: medications }),
      ).grantId;
      grants['clinician:alice'] = record(
        await client.createGrant(alice.signer, {
          patient: alice.address,
          grantee: who('clinician').address,
          terms: {
            providers: [who('hospital').address],
            resourceTypes: [],
            actions: READ_SEARCH,
            purpose: Purpose.Treatment,
            notBefore: 0,
            expiresAt: now + 365 * DAY,
          },
        }),
      ).grantId;
    })(),
    (async () => {
      grants['pharmacy:bob'] = record(
        await client.createGrant(bob.signer, { patient: bob.address, grantee: who('pharmacy').address, terms: medications }),
      ).grantId;
    })(),
    (async () => record(await client.setDelegation(dave.signer, who('proxy').address, 0)))(),
    (async () => record(await client.invite(who('researcher').signer, studyId, [carol.address])))(),
    (async () => {
      // Votes one after another: a motion closes the moment it has its majority.
      for (const motion of motions) {
        for (const voter of voters) {
          const { motion: m } = await client.registry.read('getMotion', motion.motionId);
          if (m.status !== 1) break;
          record(await client.vote(voter.signer, motion.motionId));
        }
      }
    })(),
  ]);

  // 4. Providers admitted by vote now record their relationships.
  await Promise.all(addRelationships(seededLinks.filter((l) => !isFounderLink(l))));

  return { links: seededLinks, grants, studyId, requestId, transactions };
}
