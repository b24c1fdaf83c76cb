/**
 * The typed MedRec client: every operation of the network as one method, used by the `medrec`
 * CLI, the demo seed, the server and the tests alike. Patient actions (grant, revoke, delegate,
 * answer requests, enroll, withdraw, end a relationship, register) go through the EIP-712 signed
 * path and a relayer whenever the patient has no ether (or when asked to), so patients never
 * need gas.
 */
import {
  Interface,
  NonceManager,
  isError,
  type ContractTransactionResponse,
  type Provider,
  type Signer,
  type TransactionReceipt,
} from 'ethers';
import {
  connectConsent,
  consentAbi,
  type AccessRequest,
  type ConsentContract,
  type ConsentEvents,
  type Delegation,
  type Grant,
  type Participation,
  type Study,
  type TermsInput,
} from './bindings/Consent.ts';
import {
  connectParticipantDirectory,
  participantDirectoryAbi,
  type Participant,
  type ParticipantDirectoryContract,
  type ParticipantDirectoryEvents,
  type Role,
} from './bindings/ParticipantDirectory.ts';
import {
  connectProviderRegistry,
  MotionStatus,
  providerRegistryAbi,
  type Motion,
  type Provider as ProviderRecord,
  type ProviderRegistryContract,
  type ProviderRegistryEvents,
} from './bindings/ProviderRegistry.ts';
import {
  connectRelationships,
  relationshipsAbi,
  type Relationship,
  type RelationshipsContract,
  type RelationshipsEvents,
} from './bindings/Relationships.ts';
import type { Deployment } from './deployment.ts';
import {
  ACTION_CONTRACT,
  actionDomain,
  signAction,
  type ActionMessages,
  type ActionType,
  type SignedAction,
  type SignedEnvelope,
} from './eip712.ts';
import type { RawLog, TypedLog } from './typed-contract.ts';

/** `auto`: relay patient actions when the actor has no ether; `direct`/`relayed` force one path. */
export type SubmitMode = 'auto' | 'direct' | 'relayed';

export interface MedRecClientOptions {
  readonly provider: Provider;
  readonly deployment: Deployment;
  /** Submits signed patient actions (a provider node's or the operator's key). */
  readonly relayer?: Signer;
  readonly mode?: SubmitMode;
  /** Validity of a signature from the latest block's time (default one hour). */
  readonly signatureTtlSeconds?: number;
}

/** Any decoded MedRec event. */
export type MedRecLog =
  | TypedLog<ProviderRegistryEvents>
  | TypedLog<ParticipantDirectoryEvents>
  | TypedLog<RelationshipsEvents>
  | TypedLog<ConsentEvents>;

/** What a mined transaction did. */
export interface TxOutcome {
  readonly hash: string;
  readonly blockNumber: number;
  readonly gasUsed: bigint;
  /** True when a relayer submitted the actor's signed message. */
  readonly relayed: boolean;
  readonly events: readonly MedRecLog[];
}

export interface GrantView extends Grant {
  readonly id: bigint;
  /** In force now: not revoked and inside its validity window (chain time). */
  readonly active: boolean;
}

export interface RequestView extends AccessRequest {
  readonly id: bigint;
}

export interface StudyView extends Study {
  readonly id: bigint;
}

export interface MotionView extends Motion {
  readonly id: bigint;
  readonly yes: bigint;
  readonly required: bigint;
}

export interface DelegationView extends Delegation {
  readonly patient: string;
  readonly proxy: string;
  /** Active and unexpired now. */
  readonly inForce: boolean;
}

/** A failed chain call or transaction, described in one line (custom error name and fields). */
export class MedRecError extends Error {
  readonly errorName: string | undefined;
  constructor(message: string, errorName?: string) {
    super(message);
    this.name = 'MedRecError';
    this.errorName = errorName;
  }
}

export class MedRecClient {
  readonly provider: Provider;
  readonly deployment: Deployment;
  readonly registry: ProviderRegistryContract;
  readonly directory: ParticipantDirectoryContract;
  readonly relationships: RelationshipsContract;
  readonly consent: ConsentContract;
  readonly #relayer: Signer | undefined;
  readonly #mode: SubmitMode;
  readonly #ttl: number;

  constructor(options: MedRecClientOptions) {
    this.provider = options.provider;
    this.deployment = options.deployment;
    const a = options.deployment.addresses;
    this.registry = connectProviderRegistry(a.providerRegistry, options.provider);
    this.directory = connectParticipantDirectory(a.participantDirectory, options.provider);
    this.relationships = connectRelationships(a.relationships, options.provider);
    this.consent = connectConsent(a.consent, options.provider);
    this.#relayer = options.relayer;
    this.#mode = options.mode ?? 'auto';
    this.#ttl = options.signatureTtlSeconds ?? 3600;
  }

  /** The same client with another relayer or submit mode. */
  with(options: { relayer?: Signer; mode?: SubmitMode }): MedRecClient {
    return new MedRecClient({
      provider: this.provider,
      deployment: this.deployment,
      relayer: options.relayer ?? this.#relayer,
      mode: options.mode ?? this.#mode,
      signatureTtlSeconds: this.#ttl,
    });
  }

  // ------------------------------------------------------------- providers

  /** Proposes admitting a provider (the caller must be a provider). */
  async proposeAdmission(
    signer: Signer,
    candidate: { account: string; name: string; fhirBaseUrl: string; node: string },
  ): Promise<TxOutcome & { motionId: bigint; admitted: boolean }> {
    const outcome = await this.#tx(signer, () => this.registry.connect(signer).write('proposeAdmission', [
      candidate.account,
      candidate.name,
      candidate.fhirBaseUrl,
      candidate.node,
    ]));
    const proposed = find(outcome, 'ProviderProposed');
    return { ...outcome, motionId: proposed.motionId, admitted: has(outcome, 'ProviderAdmitted') };
  }

  /** Proposes removing a provider. */
  async proposeRemoval(signer: Signer, provider: string): Promise<TxOutcome & { motionId: bigint }> {
    const outcome = await this.#tx(signer, () => this.registry.connect(signer).write('proposeRemoval', [provider]));
    return { ...outcome, motionId: find(outcome, 'ProviderProposed').motionId };
  }

  /** Votes yes on a motion; `carried` tells whether this vote decided it. */
  async vote(signer: Signer, motionId: bigint): Promise<TxOutcome & { yes: bigint; required: bigint; carried: boolean }> {
    const outcome = await this.#tx(signer, () => this.registry.connect(signer).write('vote', [motionId]));
    const voted = find(outcome, 'ProviderVoted');
    return {
      ...outcome,
      yes: voted.yes,
      required: voted.required,
      carried: has(outcome, 'ProviderAdmitted') || has(outcome, 'ProviderRemoved'),
    };
  }

  /** Withdraws one's own motion. */
  rescind(signer: Signer, motionId: bigint): Promise<TxOutcome> {
    return this.#tx(signer, () => this.registry.connect(signer).write('rescind', [motionId]));
  }

  /** Carries out a motion that has its majority. */
  executeMotion(signer: Signer, motionId: bigint): Promise<TxOutcome> {
    return this.#tx(signer, () => this.registry.connect(signer).write('execute', [motionId]));
  }

  /** Records that a motion lapsed (anyone may, once it is past its lifetime). */
  expireMotion(signer: Signer, motionId: bigint): Promise<TxOutcome> {
    return this.#tx(signer, () => this.registry.connect(signer).write('expireMotion', [motionId]));
  }

  /** Updates the caller's own provider record. */
  updateProvider(signer: Signer, record: { name: string; fhirBaseUrl: string; node: string }): Promise<TxOutcome> {
    return this.#tx(signer, () => this.registry.connect(signer).write('updateProvider', [record.name, record.fhirBaseUrl, record.node]));
  }

  async listProviders(): Promise<ProviderRecord[]> {
    return this.registry.read('getProviderRecords');
  }

  async getValidators(): Promise<string[]> {
    return this.registry.read('getValidators');
  }

  /** Motions, newest first (open ones only unless `all`). */
  async listMotions(options: { all?: boolean } = {}): Promise<MotionView[]> {
    const count = await this.registry.read('motionCount');
    const motions: MotionView[] = [];
    for (let id = count; id >= 1n; id--) {
      const { motion, yes, required } = await this.registry.read('getMotion', id);
      if (options.all || motion.status === MotionStatus.Open) motions.push({ ...motion, id, yes, required });
    }
    return motions;
  }

  // ---------------------------------------------------------- participants

  /** Registers the signer in the directory (relayed for patients without ether). */
  register(signer: Signer, entry: { role: Role; displayName?: string; jwksUrl?: string }): Promise<TxOutcome> {
    const displayName = entry.displayName ?? '';
    const jwksUrl = entry.jwksUrl ?? '';
    return this.#patientAction(signer, 'Register', { role: entry.role, displayName, jwksUrl }, (c) =>
      c.directory.connect(signer).write('register', [entry.role, displayName, jwksUrl]),
    );
  }

  /** Changes the signer's directory entry (relayed for patients without ether). */
  updateParticipant(signer: Signer, entry: { role: Role; displayName?: string; jwksUrl?: string }): Promise<TxOutcome> {
    const displayName = entry.displayName ?? '';
    const jwksUrl = entry.jwksUrl ?? '';
    return this.#patientAction(signer, 'Update', { role: entry.role, displayName, jwksUrl }, (c) =>
      c.directory.connect(signer).write('update', [entry.role, displayName, jwksUrl]),
    );
  }

  /** Removes the signer's directory entry (relayed for patients without ether). */
  unregister(signer: Signer): Promise<TxOutcome> {
    return this.#patientAction(signer, 'Unregister', {}, (c) => c.directory.connect(signer).write('unregister', []));
  }

  getParticipant(account: string): Promise<Participant> {
    return this.directory.read('getParticipant', account);
  }

  // --------------------------------------------------------- relationships

  /** A provider records a relationship with the salted commitment of its link. */
  addRelationship(signer: Signer, patient: string, commitment: string): Promise<TxOutcome> {
    return this.#tx(signer, () => this.relationships.connect(signer).write('addRelationship', [patient, commitment]));
  }

  updateCommitment(signer: Signer, patient: string, commitment: string): Promise<TxOutcome> {
    return this.#tx(signer, () => this.relationships.connect(signer).write('updateCommitment', [patient, commitment]));
  }

  /**
   * Ends a relationship. A provider ends its own directly; a patient's end goes through the
   * signed path when the patient has no ether.
   */
  async endRelationship(signer: Signer, provider: string, patient: string): Promise<TxOutcome> {
    const actor = await signer.getAddress();
    if (sameAddress(actor, patient)) {
      return this.#patientAction(signer, 'EndRelationship', { provider }, (c) =>
        c.relationships.connect(signer).write('endRelationship', [provider, patient]),
      );
    }
    return this.#tx(signer, () => this.relationships.connect(signer).write('endRelationship', [provider, patient]));
  }

  announceRecordsChanged(signer: Signer, patient: string, resourceTypes: readonly string[]): Promise<TxOutcome> {
    return this.#tx(signer, () => this.relationships.connect(signer).write('announceRecordsChanged', [patient, resourceTypes]));
  }

  getRelationship(provider: string, patient: string): Promise<Relationship> {
    return this.relationships.read('getRelationship', provider, patient);
  }

  providersOf(patient: string): Promise<string[]> {
    return this.relationships.read('providersOf', patient);
  }

  // ----------------------------------------------------------------- grants

  /** Grants access to `patient`'s records (signer: the patient or an active proxy). */
  async createGrant(
    signer: Signer,
    grant: { patient: string; grantee: string; terms: TermsInput },
  ): Promise<TxOutcome & { grantId: bigint }> {
    const outcome = await this.#patientAction(
      signer,
      'CreateGrant',
      { patient: grant.patient, grantee: grant.grantee, terms: grant.terms },
      (c) => c.consent.connect(signer).write('createGrant', [grant.patient, grant.grantee, grant.terms]),
    );
    return { ...outcome, grantId: find(outcome, 'GrantCreated').grantId };
  }

  revokeGrant(signer: Signer, grantId: bigint): Promise<TxOutcome> {
    return this.#patientAction(signer, 'RevokeGrant', { grantId }, (c) => c.consent.connect(signer).write('revokeGrant', [grantId]));
  }

  async getGrant(grantId: bigint): Promise<GrantView> {
    const [grant, active] = await Promise.all([
      this.consent.read('getGrant', grantId),
      this.consent.read('isGrantActive', grantId),
    ]);
    return { ...grant, id: grantId, active };
  }

  /** Grants given by a patient or received by a grantee (revoked ones included, flagged). */
  async listGrants(filter: { patient: string } | { grantee: string }): Promise<GrantView[]> {
    const ids =
      'patient' in filter
        ? await this.consent.read('grantIdsByPatient', filter.patient)
        : await this.consent.read('grantIdsByGrantee', filter.grantee);
    return Promise.all(ids.map((id) => this.getGrant(id)));
  }

  // ------------------------------------------------------------ delegations

  /** The signer (a patient) appoints a healthcare proxy; `expiresAt` 0 = until revoked. */
  setDelegation(signer: Signer, proxy: string, expiresAt: number | bigint = 0): Promise<TxOutcome> {
    return this.#patientAction(signer, 'SetDelegation', { proxy, expiresAt }, (c) =>
      c.consent.connect(signer).write('setDelegation', [proxy, expiresAt]),
    );
  }

  /** The patient or the proxy ends a delegation. */
  revokeDelegation(signer: Signer, patient: string, proxy: string): Promise<TxOutcome> {
    return this.#patientAction(signer, 'RevokeDelegation', { patient, proxy }, (c) =>
      c.consent.connect(signer).write('revokeDelegation', [patient, proxy]),
    );
  }

  async listDelegations(patient: string): Promise<DelegationView[]> {
    const proxies = await this.consent.read('proxiesOf', patient);
    return Promise.all(
      proxies.map(async (proxy) => {
        const [d, inForce] = await Promise.all([
          this.consent.read('getDelegation', patient, proxy),
          this.consent.read('isProxy', patient, proxy),
        ]);
        return { ...d, patient, proxy, inForce };
      }),
    );
  }

  // -------------------------------------------------------- access requests

  /** The signer asks `patient` for access. */
  async requestAccess(signer: Signer, patient: string, terms: TermsInput): Promise<TxOutcome & { requestId: bigint }> {
    const outcome = await this.#tx(signer, () => this.consent.connect(signer).write('requestAccess', [patient, terms]));
    return { ...outcome, requestId: find(outcome, 'AccessRequested').requestId };
  }

  cancelRequest(signer: Signer, requestId: bigint): Promise<TxOutcome> {
    return this.#tx(signer, () => this.consent.connect(signer).write('cancelRequest', [requestId]));
  }

  /** The patient (or proxy) approves or declines; returns the grant id when approved. */
  async answerRequest(signer: Signer, requestId: bigint, approve: boolean): Promise<TxOutcome & { grantId: bigint }> {
    const outcome = await this.#patientAction(signer, 'AnswerRequest', { requestId, approve }, (c) =>
      c.consent.connect(signer).write('answerRequest', [requestId, approve]),
    );
    return { ...outcome, grantId: approve ? find(outcome, 'AccessApproved').grantId : 0n };
  }

  async listRequests(filter: { patient: string } | { requester: string }): Promise<RequestView[]> {
    const ids =
      'patient' in filter
        ? await this.consent.read('requestIdsByPatient', filter.patient)
        : await this.consent.read('requestIdsByRequester', filter.requester);
    return Promise.all(ids.map(async (id) => ({ ...(await this.consent.read('getRequest', id)), id })));
  }

  // ---------------------------------------------------------------- studies

  async openStudy(signer: Signer, title: string, terms: TermsInput): Promise<TxOutcome & { studyId: bigint }> {
    const outcome = await this.#tx(signer, () => this.consent.connect(signer).write('openStudy', [title, terms]));
    return { ...outcome, studyId: find(outcome, 'StudyOpened').studyId };
  }

  invite(signer: Signer, studyId: bigint, patients: readonly string[]): Promise<TxOutcome> {
    return this.#tx(signer, () => this.consent.connect(signer).write('invite', [studyId, patients]));
  }

  closeStudy(signer: Signer, studyId: bigint): Promise<TxOutcome> {
    return this.#tx(signer, () => this.consent.connect(signer).write('closeStudy', [studyId]));
  }

  async enroll(signer: Signer, studyId: bigint, patient: string): Promise<TxOutcome & { grantId: bigint }> {
    const outcome = await this.#patientAction(signer, 'Enroll', { studyId, patient }, (c) =>
      c.consent.connect(signer).write('enroll', [studyId, patient]),
    );
    return { ...outcome, grantId: find(outcome, 'StudyEnrolled').grantId };
  }

  withdraw(signer: Signer, studyId: bigint, patient: string): Promise<TxOutcome> {
    return this.#patientAction(signer, 'Withdraw', { studyId, patient }, (c) =>
      c.consent.connect(signer).write('withdraw', [studyId, patient]),
    );
  }

  async getStudy(studyId: bigint): Promise<StudyView> {
    return { ...(await this.consent.read('getStudy', studyId)), id: studyId };
  }

  getParticipation(studyId: bigint, patient: string): Promise<Participation> {
    return this.consent.read('getParticipation', studyId, patient);
  }

  // ------------------------------------------------------------ ether, logs

  /** Sends ether to a participant who must transact directly (sponsorship, as in MedRec). */
  async fund(signer: Signer, to: string, wei: bigint): Promise<TxOutcome> {
    const tx = await guard(signer, () => signer.sendTransaction({ to, value: wei }));
    return this.#outcome(await tx.wait(), false);
  }

  /** Decodes any MedRec log (null for other contracts' logs). */
  decodeLog(log: RawLog): MedRecLog | null {
    return (
      this.consent.decodeLog(log) ??
      this.relationships.decodeLog(log) ??
      this.registry.decodeLog(log) ??
      this.directory.decodeLog(log)
    );
  }

  // ------------------------------------------------------- signed actions

  /** Signs a patient action as `signer` for a relayer (nonce and deadline from the chain). */
  async sign<K extends ActionType>(
    signer: Signer,
    type: K,
    fields: Omit<ActionMessages[K], keyof SignedEnvelope>,
    options: { nonce?: bigint; deadline?: bigint } = {},
  ): Promise<SignedAction<K>> {
    const actor = await signer.getAddress();
    const target = ACTION_CONTRACT[type];
    const nonce =
      options.nonce ??
      (target === 'consent'
        ? await this.consent.read('nonces', actor)
        : target === 'relationships'
          ? await this.relationships.read('nonces', actor)
          : await this.directory.read('nonces', actor));
    const deadline = options.deadline ?? BigInt((await this.#chainTime()) + this.#ttl);
    const domain = actionDomain(target, this.deployment.chainId, this.deployment.addresses[target]);
    const message = { ...fields, actor, nonce, deadline } as ActionMessages[K];
    return signAction(signer, domain, type, message);
  }

  /** Submits a signed action through the relayer (anyone's signature, the relayer's gas). */
  async relay(action: SignedAction, relayer: Signer | undefined = this.#relayer): Promise<TxOutcome> {
    if (!relayer) throw new MedRecError('no relayer configured to submit a signed action');
    const send = (): Promise<ContractTransactionResponse> => {
      const { signature } = action;
      switch (action.type) {
        case 'CreateGrant': {
          const m = action.message as ActionMessages['CreateGrant'];
          return this.consent.connect(relayer).write('createGrantBySig', [m.actor, m.patient, m.grantee, m.terms, m.deadline, signature]);
        }
        case 'RevokeGrant': {
          const m = action.message as ActionMessages['RevokeGrant'];
          return this.consent.connect(relayer).write('revokeGrantBySig', [m.actor, m.grantId, m.deadline, signature]);
        }
        case 'SetDelegation': {
          const m = action.message as ActionMessages['SetDelegation'];
          return this.consent.connect(relayer).write('setDelegationBySig', [m.actor, m.proxy, m.expiresAt, m.deadline, signature]);
        }
        case 'RevokeDelegation': {
          const m = action.message as ActionMessages['RevokeDelegation'];
          return this.consent.connect(relayer).write('revokeDelegationBySig', [m.actor, m.patient, m.proxy, m.deadline, signature]);
        }
        case 'AnswerRequest': {
          const m = action.message as ActionMessages['AnswerRequest'];
          return this.consent.connect(relayer).write('answerRequestBySig', [m.actor, m.requestId, m.approve, m.deadline, signature]);
        }
        case 'Enroll': {
          const m = action.message as ActionMessages['Enroll'];
          return this.consent.connect(relayer).write('enrollBySig', [m.actor, m.studyId, m.patient, m.deadline, signature]);
        }
        case 'Withdraw': {
          const m = action.message as ActionMessages['Withdraw'];
          return this.consent.connect(relayer).write('withdrawBySig', [m.actor, m.studyId, m.patient, m.deadline, signature]);
        }
        case 'EndRelationship': {
          const m = action.message as ActionMessages['EndRelationship'];
          return this.relationships.connect(relayer).write('endRelationshipBySig', [m.actor, m.provider, m.deadline, signature]);
        }
        case 'Register': {
          const m = action.message as ActionMessages['Register'];
          return this.directory
            .connect(relayer)
            .write('registerBySig', [m.actor, m.role, m.displayName, m.jwksUrl, m.deadline, signature]);
        }
        case 'Update': {
          const m = action.message as ActionMessages['Update'];
          return this.directory.connect(relayer).write('updateBySig', [m.actor, m.role, m.displayName, m.jwksUrl, m.deadline, signature]);
        }
        case 'Unregister': {
          const m = action.message as ActionMessages['Unregister'];
          return this.directory.connect(relayer).write('unregisterBySig', [m.actor, m.deadline, signature]);
        }
      }
    };
    const tx = await guard(relayer, send);
    return this.#outcome(await tx.wait(), true);
  }

  /**
   * Whether a patient action by `actor` is relayed under the client's mode (`auto`: when the
   * actor has no ether; an actor whose ether does not cover the gas is relayed after trying).
   */
  async willRelay(actor: Signer): Promise<boolean> {
    if (this.#mode === 'direct') return false;
    if (this.#mode === 'relayed') return true;
    return (await this.provider.getBalance(await actor.getAddress())) === 0n;
  }

  // ------------------------------------------------------------- internals

  async #patientAction<K extends ActionType>(
    signer: Signer,
    type: K,
    fields: Omit<ActionMessages[K], keyof SignedEnvelope>,
    direct: (client: MedRecClient) => Promise<ContractTransactionResponse>,
  ): Promise<TxOutcome> {
    if (await this.willRelay(signer)) return this.relay(await this.sign(signer, type, fields));
    let tx: ContractTransactionResponse;
    try {
      tx = await guard(signer, () => direct(this));
    } catch (error) {
      // Some ether, but not enough for this transaction: the relayer pays instead.
      const short = error instanceof MedRecError && error.errorName === 'INSUFFICIENT_FUNDS';
      if (short && this.#mode === 'auto' && this.#relayer) return this.relay(await this.sign(signer, type, fields));
      throw error;
    }
    return this.#outcome(await tx.wait(), false);
  }

  async #tx(signer: Signer, send: () => Promise<ContractTransactionResponse>): Promise<TxOutcome> {
    const tx = await guard(signer, send);
    return this.#outcome(await tx.wait(), false);
  }

  #outcome(receipt: TransactionReceipt | null, relayed: boolean): TxOutcome {
    if (!receipt) throw new MedRecError('the transaction was dropped');
    if (receipt.status !== 1) throw new MedRecError(`transaction ${receipt.hash} reverted`);
    const events = receipt.logs.map((log) => this.decodeLog(log)).filter((e): e is MedRecLog => e !== null);
    return { hash: receipt.hash, blockNumber: receipt.blockNumber, gasUsed: receipt.gasUsed, relayed, events };
  }

  async #chainTime(): Promise<number> {
    const block = await this.provider.getBlock('latest');
    return block?.timestamp ?? Math.floor(Date.now() / 1000);
  }
}

/**
 * Sends a transaction; on failure resets a NonceManager (its nonce was taken for a transaction
 * that never went out) and rethrows the failure as a one-line MedRecError.
 */
async function guard<T>(signer: Signer, send: () => Promise<T>): Promise<T> {
  try {
    return await send();
  } catch (error) {
    if (signer instanceof NonceManager) signer.reset();
    throw toMedRecError(error);
  }
}

/**
 * Every custom error of the four contracts, for decoding reverts that reach us without the
 * contract's interface (gas estimation in a signer, raw calls).
 */
const MEDREC_ERRORS = new Interface(
  [...consentAbi, ...relationshipsAbi, ...providerRegistryAbi, ...participantDirectoryAbi].filter(
    (item, i, all) =>
      item.type === 'error' &&
      all.findIndex((other) => other.type === 'error' && JSON.stringify(other) === JSON.stringify(item)) === i,
  ),
);

/** One clear line for a failed call: the contract's custom error with its arguments if any. */
export function toMedRecError(error: unknown): MedRecError {
  if (error instanceof MedRecError) return error;
  if (isError(error, 'CALL_EXCEPTION')) {
    const revert = error.revert ?? (error.data ? MEDREC_ERRORS.parseError(error.data) : null);
    if (revert) {
      const inputs = MEDREC_ERRORS.getError(revert.signature)?.inputs ?? [];
      const args = revert.args.map((a, i) => (inputs[i]?.name ? `${inputs[i].name}=${String(a)}` : String(a))).join(', ');
      return new MedRecError(`${revert.name}(${args})`, revert.name);
    }
    return new MedRecError(`reverted: ${error.shortMessage}`);
  }
  if (isError(error, 'INSUFFICIENT_FUNDS')) return new MedRecError('insufficient funds for gas', 'INSUFFICIENT_FUNDS');
  if (error instanceof Error) {
    const short = (error as { shortMessage?: string }).shortMessage;
    return new MedRecError(short ?? error.message.split('\n')[0] ?? 'failed');
  }
  return new MedRecError(String(error));
}

type EventArgs = {
  [K in MedRecLog['name']]: Extract<MedRecLog, { name: K }>['args'];
};

function find<K extends MedRecLog['name']>(outcome: TxOutcome, name: K): EventArgs[K] {
  const log = outcome.events.find((e) => e.name === name);
  if (!log) throw new MedRecError(`expected a ${name} event in ${outcome.hash}`);
  return log.args as EventArgs[K];
}

function has(outcome: TxOutcome, name: MedRecLog['name']): boolean {
  return outcome.events.some((e) => e.name === name);
}

function sameAddress(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}
