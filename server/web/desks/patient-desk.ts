/**
 * The patient app's desk on chain: the patient's network read from the contracts' view functions
 * (always the chain's current word), and patient actions as EIP-712 messages the patient signs and
 * the node's relayer submits through the `...BySig` functions.
 */
import { getAddress, verifyTypedData } from 'ethers';
import type { Purpose, TermsInput } from '../../../contracts/bindings/Consent.ts';
import type {
  AccessRequestView, GrantView, PatientActionParams, PatientNetwork, PreparedAction, ProviderView, RelayOutcome, StudyView, TypedData,
} from '../shared/src/api-types.ts';
import { DeskError, type PatientDesk } from '../api/desks.ts';
import { consentDomain, consentTypedData, isConsentPrimaryType, type ConsentPrimaryType } from './consent-typed-data.ts';
import { relayed, type MedRecChain } from './medrec-chain.ts';
import type { ActionMessages } from '../../../contracts/eip712.ts';
import type { ParticipantNames } from './participant-names.ts';

const PURPOSES = ['treatment', 'payment', 'operations', 'research', 'public-health', 'any'] as const;
const ACTIONS_READ_SEARCH = 3;
/** How long a prepared message stays valid: enough to find the wallet, short enough to be moot later. */
const DEADLINE_SECONDS = 15 * 60;

function purposeCode(purpose: string): Purpose {
  const i = PURPOSES.indexOf(purpose as (typeof PURPOSES)[number]);
  if (i < 0) throw new DeskError(400, `Unknown purpose “${purpose}”.`, 'Pick one of the listed purposes.');
  return i as Purpose;
}

function listOrStar(values: readonly string[]): readonly string[] | '*' {
  return values.length === 0 ? '*' : values.map((v) => (v.startsWith('0x') ? v.toLowerCase() : v));
}

function actionNames(bits: number): string[] {
  return [...(bits & 1 ? ['read'] : []), ...(bits & 2 ? ['search'] : [])];
}

function idNumber(id: string, prefix?: string): bigint {
  const raw = prefix && id.startsWith(`${prefix}:`) ? id.slice(prefix.length + 1) : id;
  if (!/^[0-9]{1,20}$/.test(raw)) throw new DeskError(400, `“${id}” is not a valid id.`, 'Reload the page and try again.');
  return BigInt(raw);
}

/** Messages explained in the words of the person who tried. */
function explainRevert(name: string): string {
  switch (name) {
    case 'GrantAlreadyRevoked': return 'That access was already revoked.';
    case 'NotAuthorizedToRevoke':
    case 'NotPatientOrProxy': return 'Only the patient or their proxy can do that.';
    case 'SignatureExpired': return 'The signed message expired before it was sent.';
    case 'InvalidSignature':
    case 'InvalidAccountNonce': return 'The signature did not match (perhaps another change was made meanwhile).';
    case 'InvalidGrantee': return 'You cannot grant access to yourself or to nobody.';
    case 'InvalidTerms': return 'The dates or choices of this grant do not fit together (is the end date in the future?).';
    case 'NoDelegation': return 'That proxy is no longer active.';
    default: return `The network refused this change (${name}).`;
  }
}

export interface ChainPatientDeskOptions {
  readonly chain: MedRecChain;
  readonly names: ParticipantNames;
  /** Clock in unix seconds (grant activity, deadlines); default: wall clock. */
  readonly now?: () => number;
}

export class ChainPatientDesk implements PatientDesk {
  readonly #chain: MedRecChain;
  readonly #names: ParticipantNames;
  readonly #now: () => number;

  constructor(options: ChainPatientDeskOptions) {
    this.#chain = options.chain;
    this.#names = options.names;
    this.#now = options.now ?? (() => Math.floor(Date.now() / 1000));
  }

  async network(patient: string): Promise<PatientNetwork> {
    const { consent, relationships } = this.#chain;
    const now = this.#now();
    const [blockNumber, providers, me, grantIds, proxies, requestIds, studyIds, directory] = await Promise.all([
      this.#chain.provider.getBlockNumber(),
      this.#names.providers(),
      this.#names.describe(patient),
      consent.read('grantIdsByPatient', patient),
      consent.read('proxiesOf', patient),
      consent.read('requestIdsByPatient', patient),
      consent.read('studyIdsByPatient', patient),
      this.#names.directory(),
    ]);
    const holding = (await relationships.read('providersOf', patient)).map((a) => a.toLowerCase());
    const name = async (a: string) => this.#names.describe(a, providers);

    const studies: StudyView[] = [];
    const studyOfGrant = new Map<string, string>();
    for (const id of studyIds) {
      const [study, participation] = await Promise.all([consent.read('getStudy', id), consent.read('getParticipation', id, patient)]);
      const status = participation.status === 1 ? 'invited' : participation.status === 2 ? 'enrolled' : 'withdrawn';
      if (participation.grantId > 0n) studyOfGrant.set(participation.grantId.toString(), id.toString());
      if (!study.open && status === 'invited') continue;
      studies.push({ id: id.toString(), title: study.title, researcher: await name(study.researcher), resourceTypes: listOrStar(study.terms.resourceTypes), status });
    }

    const grants: GrantView[] = [];
    for (const id of grantIds) {
      const g = await consent.read('getGrant', id);
      const t = g.terms;
      const active = !g.revoked && t.notBefore <= now && (t.expiresAt === 0 || now < t.expiresAt);
      const studyId = studyOfGrant.get(id.toString());
      grants.push({
        id: studyId ? `study:${studyId}` : id.toString(),
        kind: studyId ? 'study' : 'grant',
        grantee: await name(g.grantee),
        providers: listOrStar(t.providers),
        resourceTypes: listOrStar(t.resourceTypes),
        actions: actionNames(t.actions),
        purpose: PURPOSES[t.purpose] ?? 'any',
        notBefore: t.notBefore,
        expiresAt: t.expiresAt,
        active,
      });
    }
    for (const proxy of proxies) {
      const d = await consent.read('getDelegation', patient, proxy);
      grants.push({
        id: `delegation:${proxy.toLowerCase()}`,
        kind: 'delegation',
        grantee: await name(proxy),
        providers: '*',
        resourceTypes: '*',
        actions: ['read', 'search'],
        purpose: 'any',
        notBefore: d.since,
        expiresAt: d.expiresAt,
        active: d.active && (d.expiresAt === 0 || now < d.expiresAt),
      });
    }

    const requests: AccessRequestView[] = [];
    for (const id of requestIds) {
      const r = await consent.read('getRequest', id);
      const status = r.status === 1 ? 'pending' : r.status === 2 ? 'approved' : 'declined';
      if (r.status === 4) continue; // cancelled by the requester
      requests.push({
        id: id.toString(), requester: await name(r.requester), providers: listOrStar(r.terms.providers),
        resourceTypes: listOrStar(r.terms.resourceTypes), purpose: PURPOSES[r.terms.purpose] ?? 'any', expiresAt: r.terms.expiresAt, status,
      });
    }

    const providerViews: ProviderView[] = holding.map((a) => providers.find((p) => p.address === a) ?? { address: a, name: a, role: 'provider' });
    return { me, providers: providerViews, grants, requests, studies, directory, blockNumber };
  }

  async prepare(patient: string, params: PatientActionParams): Promise<PreparedAction> {
    const { consent } = this.#chain;
    const actor = getAddress(patient);
    const nonce = (await consent.read('nonces', actor)).toString();
    const deadline = String(this.#now() + DEADLINE_SECONDS);
    const domain = consentDomain(this.#chain.chainId, getAddress(consent.address));
    const typed = (primaryType: ConsentPrimaryType, fields: Record<string, unknown>, summary: string): PreparedAction => ({
      summary,
      typedData: consentTypedData(domain, primaryType, { actor, ...fields, nonce, deadline }),
    });
    switch (params.action) {
      case 'grant': {
        const g = params.grant;
        if (g.expiresAt !== 0 && g.expiresAt <= this.#now()) throw new DeskError(400, 'The end date is in the past.', 'Pick a date in the future.');
        const terms = {
          providers: g.providers === '*' ? [] : g.providers.map((p) => getAddress(p)),
          resourceTypes: g.resourceTypes === '*' ? [] : [...g.resourceTypes],
          actions: ACTIONS_READ_SEARCH,
          purpose: purposeCode(g.purpose),
          notBefore: 0,
          expiresAt: g.expiresAt,
        };
        return typed('CreateGrant', { patient: actor, grantee: getAddress(g.grantee), terms }, 'Share records');
      }
      case 'revoke':
        return typed('RevokeGrant', { grantId: idNumber(params.id).toString() }, 'Revoke access');
      case 'delegate':
        return typed('SetDelegation', { proxy: getAddress(params.proxy), expiresAt: params.expiresAt }, 'Appoint a healthcare proxy');
      case 'undelegate': {
        const proxy = params.id.replace(/^delegation:/, '');
        if (!/^0x[0-9a-fA-F]{40}$/.test(proxy)) throw new DeskError(400, 'That is not a proxy address.', 'Reload the page and try again.');
        return typed('RevokeDelegation', { patient: actor, proxy: getAddress(proxy) }, 'End a healthcare proxy');
      }
      case 'approve':
      case 'decline':
        return typed('AnswerRequest', { requestId: idNumber(params.id).toString(), approve: params.action === 'approve' }, params.action === 'approve' ? 'Approve a request' : 'Decline a request');
      case 'enroll':
        return typed('Enroll', { studyId: idNumber(params.id, 'study').toString(), patient: actor }, 'Join a study');
      case 'withdraw':
        return typed('Withdraw', { studyId: idNumber(params.id, 'study').toString(), patient: actor }, 'Leave a study');
    }
  }

  async relay(patient: string, typedData: TypedData, signature: string): Promise<RelayOutcome> {
    const { primaryType, message: m } = typedData;
    if (!isConsentPrimaryType(primaryType)) throw new DeskError(400, 'This is not a MedRec consent message.', 'Start the change again.');
    // Signed by the signed-in patient for this chain and contract: refuse anything else early (the contract checks again).
    const expected = consentDomain(this.#chain.chainId, getAddress(this.#chain.consent.address));
    const types = consentTypedData(expected, primaryType, {}).types;
    let signer: string;
    try {
      signer = verifyTypedData(expected, types as Record<string, Array<{ name: string; type: string }>>, m, signature).toLowerCase();
    } catch {
      throw new DeskError(400, 'The signed message could not be read.', 'Start the change again.');
    }
    if (signer !== patient || String(m.actor).toLowerCase() !== patient) {
      throw new DeskError(403, 'This message was not signed by you.', 'Sign it with the wallet you signed in with.');
    }
    const { txHash, blockNumber } = await relayed(this.#chain, { type: primaryType, message: toActionMessage(primaryType, m), signature }, explainRevert);
    const summaries: Record<ConsentPrimaryType, string> = {
      CreateGrant: 'Access granted.', RevokeGrant: 'Access revoked.', SetDelegation: 'Proxy appointed.', RevokeDelegation: 'Proxy ended.',
      AnswerRequest: m.approve ? 'Request approved.' : 'Request declined.', Enroll: 'You joined the study.', Withdraw: 'You left the study.',
    };
    return { txHash, blockNumber, summary: summaries[primaryType] };
  }
}

/** JSON message (decimal strings) → the typed message the contracts client relays (bigints). */
function toActionMessage(type: ConsentPrimaryType, m: Record<string, unknown>): ActionMessages[ConsentPrimaryType] {
  const big = (k: string) => BigInt(String(m[k]));
  const addr = (k: string) => getAddress(String(m[k]));
  const envelope = { actor: addr('actor'), nonce: big('nonce'), deadline: big('deadline') };
  switch (type) {
    case 'CreateGrant': {
      const t = m.terms as Record<string, unknown>;
      const terms: TermsInput = {
        providers: (t.providers as string[]).map((p) => getAddress(p)),
        resourceTypes: [...(t.resourceTypes as string[])],
        actions: Number(t.actions),
        purpose: Number(t.purpose) as Purpose,
        notBefore: BigInt(String(t.notBefore)),
        expiresAt: BigInt(String(t.expiresAt)),
      };
      return { ...envelope, patient: addr('patient'), grantee: addr('grantee'), terms };
    }
    case 'RevokeGrant': return { ...envelope, grantId: big('grantId') };
    case 'SetDelegation': return { ...envelope, proxy: addr('proxy'), expiresAt: big('expiresAt') };
    case 'RevokeDelegation': return { ...envelope, patient: addr('patient'), proxy: addr('proxy') };
    case 'AnswerRequest': return { ...envelope, requestId: big('requestId'), approve: m.approve === true || m.approve === 'true' };
    case 'Enroll': return { ...envelope, studyId: big('studyId'), patient: addr('patient') };
    case 'Withdraw': return { ...envelope, studyId: big('studyId'), patient: addr('patient') };
  }
}
