/**
 * The MedRec contracts' logs as chain events. The event signatures are the contracts' stable
 * interface (contracts/src/*.sol); they are spelled out here as human-readable ABI so the
 * follower decodes exactly the events it folds and nothing else.
 * Encodings (Consent.sol): actions bit 1 = read, 2 = search; empty providers = any provider;
 * empty resourceTypes = all types; time 0 = unbounded; purpose codes 0-5.
 */
import { Interface, getAddress, type EventFragment } from 'ethers';
import type { ConsentAction, Purpose } from '../access/permission-snapshot.ts';
import type { ChainEvent } from './chain-events.ts';
import type { ChainEventSource } from './chain-follower.ts';
import type { ChainLog } from './raw-logs.ts';
import { EventDecoder } from './abi-decode.ts';

export const AUTHZ_EVENTS = [
  // ProviderRegistry
  'event ProviderAdmitted(address indexed provider, string name, string fhirBaseUrl, address node, uint256 indexed motionId)',
  'event ProviderRemoved(address indexed provider, uint256 indexed motionId)',
  // ParticipantDirectory
  'event ParticipantRegistered(address indexed account, uint8 role, string displayName, string jwksUrl)',
  'event ParticipantUpdated(address indexed account, uint8 role, string displayName, string jwksUrl)',
  'event ParticipantRemoved(address indexed account)',
  // Relationships
  'event RelationshipAdded(address indexed provider, address indexed patient, bytes32 commitment)',
  'event RelationshipUpdated(address indexed provider, address indexed patient, bytes32 commitment)',
  'event RelationshipEnded(address indexed provider, address indexed patient, address indexed by)',
  // Consent
  'event GrantCreated(uint256 indexed grantId, address indexed patient, address indexed grantee, address issuer, address[] providers, string[] resourceTypes, uint8 actions, uint8 purpose, uint64 notBefore, uint64 expiresAt)',
  'event GrantRevoked(uint256 indexed grantId, address indexed patient, address indexed by)',
  'event DelegationSet(address indexed patient, address indexed proxy, uint64 expiresAt)',
  'event DelegationRevoked(address indexed patient, address indexed proxy, address indexed by)',
  'event StudyOpened(uint256 indexed studyId, address indexed researcher, string title, address[] providers, string[] resourceTypes, uint8 actions, uint64 notBefore, uint64 expiresAt)',
  'event StudyEnrolled(uint256 indexed studyId, address indexed patient, uint256 indexed grantId, address by)',
  'event StudyClosed(uint256 indexed studyId)',
] as const;

export const PURPOSES: readonly Purpose[] = ['treatment', 'payment', 'operations', 'research', 'public-health', 'any'];
export const ROLES = ['none', 'patient', 'pharmacy', 'proxy', 'researcher', 'clinician', 'organisation'] as const;

export function decodeActions(bits: number): ConsentAction[] {
  const actions: ConsentAction[] = [];
  if (bits & 1) actions.push('read');
  if (bits & 2) actions.push('search');
  return actions;
}

export function decodePurpose(code: number): Purpose {
  return PURPOSES[code] ?? 'any';
}

const lower = (a: unknown) => String(a).toLowerCase();
const addressList = (v: unknown): string[] | '*' => {
  const list = (v as readonly string[]).map(lower);
  return list.length === 0 ? '*' : list;
};
const typeList = (v: unknown): string[] | '*' => {
  const list = [...(v as readonly string[])];
  return list.length === 0 ? '*' : list;
};

export interface MedrecContracts {
  readonly providerRegistry: string;
  readonly participantDirectory: string;
  readonly relationships: string;
  readonly consent: string;
}

export class MedrecEventSource implements ChainEventSource {
  readonly addresses: readonly string[];
  readonly fromBlock: number;
  readonly #iface = new Interface(AUTHZ_EVENTS as unknown as string[]);
  /** topic0 → event: ethers recomputes topic hashes on every lookup, so they are computed once. */
  readonly #byTopic = new Map<string, EventFragment>();
  readonly #decoder = new EventDecoder(this.#iface);
  /** Which contract may emit which event: a log from another address is ignored. */
  readonly #emitter: ReadonlyMap<string, string>;

  constructor(contracts: MedrecContracts, fromBlock = 0) {
    this.addresses = [contracts.providerRegistry, contracts.participantDirectory, contracts.relationships, contracts.consent].map((a) =>
      getAddress(a),
    );
    this.fromBlock = fromBlock;
    this.#iface.forEachEvent((fragment) => this.#byTopic.set(fragment.topicHash, fragment));
    const c = (a: string) => a.toLowerCase();
    this.#emitter = new Map([
      ['ProviderAdmitted', c(contracts.providerRegistry)],
      ['ProviderRemoved', c(contracts.providerRegistry)],
      ['ParticipantRegistered', c(contracts.participantDirectory)],
      ['ParticipantUpdated', c(contracts.participantDirectory)],
      ['ParticipantRemoved', c(contracts.participantDirectory)],
      ['RelationshipAdded', c(contracts.relationships)],
      ['RelationshipUpdated', c(contracts.relationships)],
      ['RelationshipEnded', c(contracts.relationships)],
      ['GrantCreated', c(contracts.consent)],
      ['GrantRevoked', c(contracts.consent)],
      ['DelegationSet', c(contracts.consent)],
      ['DelegationRevoked', c(contracts.consent)],
      ['StudyOpened', c(contracts.consent)],
      ['StudyEnrolled', c(contracts.consent)],
      ['StudyClosed', c(contracts.consent)],
    ]);
  }

  decode(log: ChainLog): ChainEvent | undefined {
    const fragment = log.topics[0] ? this.#byTopic.get(log.topics[0]) : undefined;
    if (!fragment || this.#emitter.get(fragment.name) !== log.address.toLowerCase()) return undefined;
    const parsed = { name: fragment.name, args: this.#decoder.decode(fragment, log.data, log.topics) };
    const a = parsed.args;
    const at = { blockNumber: log.blockNumber, logIndex: log.index };
    switch (parsed.name) {
      case 'ProviderAdmitted':
        return { ...at, kind: 'provider-added', provider: lower(a.provider) };
      case 'ProviderRemoved':
        return { ...at, kind: 'provider-removed', provider: lower(a.provider) };
      case 'ParticipantRegistered':
      case 'ParticipantUpdated':
        return { ...at, kind: 'participant-registered', account: lower(a.account), role: ROLES[Number(a.role)] ?? 'none' };
      case 'ParticipantRemoved':
        return { ...at, kind: 'participant-removed', account: lower(a.account) };
      case 'RelationshipAdded':
      case 'RelationshipUpdated':
        return { ...at, kind: 'relationship-added', provider: lower(a.provider), patient: lower(a.patient), commitment: String(a.commitment) };
      case 'RelationshipEnded':
        return { ...at, kind: 'relationship-ended', provider: lower(a.provider), patient: lower(a.patient) };
      case 'GrantCreated':
        return {
          ...at,
          kind: 'grant-created',
          grantId: String(a.grantId),
          patient: lower(a.patient),
          grantee: lower(a.grantee),
          providers: addressList(a.providers),
          resourceTypes: typeList(a.resourceTypes),
          actions: decodeActions(Number(a.actions)),
          purpose: decodePurpose(Number(a.purpose)),
          notBefore: Number(a.notBefore),
          expiresAt: Number(a.expiresAt),
        };
      case 'GrantRevoked':
        return { ...at, kind: 'grant-revoked', grantId: String(a.grantId) };
      case 'DelegationSet':
        return { ...at, kind: 'delegation-set', patient: lower(a.patient), delegate: lower(a.proxy), expiresAt: Number(a.expiresAt) };
      case 'DelegationRevoked':
        return { ...at, kind: 'delegation-revoked', patient: lower(a.patient), delegate: lower(a.proxy) };
      case 'StudyOpened':
        return { ...at, kind: 'study-opened', studyId: String(a.studyId), researcher: lower(a.researcher) };
      case 'StudyEnrolled':
        return { ...at, kind: 'study-enrolled', studyId: String(a.studyId), patient: lower(a.patient), grantId: String(a.grantId) };
      case 'StudyClosed':
        return { ...at, kind: 'study-closed', studyId: String(a.studyId) };
      default:
        return undefined;
    }
  }
}
