/**
 * The event signatures are the contracts' interface to every log follower (server/authz folds
 * them into Redis). This golden list fails the build when one changes by accident; change it
 * only together with the followers, and say so in the commit message.
 */
import t from 'tap';
import { Interface, type InterfaceAbi } from 'ethers';
import { consentAbi } from '../../contracts/bindings/Consent.ts';
import { participantDirectoryAbi } from '../../contracts/bindings/ParticipantDirectory.ts';
import { providerRegistryAbi } from '../../contracts/bindings/ProviderRegistry.ts';
import { relationshipsAbi } from '../../contracts/bindings/Relationships.ts';

const FROZEN: Record<string, readonly string[]> = {
  providerRegistryAbi: [
    'event ProviderAdmitted(address indexed provider, string name, string fhirBaseUrl, address node, uint256 indexed motionId)',
    'event ProviderMotionLapsed(uint256 indexed motionId, address indexed subject)',
    'event ProviderProposed(uint256 indexed motionId, uint8 kind, address indexed subject, address indexed proposer, string name, string fhirBaseUrl, address node)',
    'event ProviderRemoved(address indexed provider, uint256 indexed motionId)',
    'event ProviderRescinded(uint256 indexed motionId, address indexed by)',
    'event ProviderUpdated(address indexed provider, string name, string fhirBaseUrl, address node)',
    'event ProviderVoted(uint256 indexed motionId, address indexed voter, uint256 yes, uint256 required)',
  ],
  participantDirectoryAbi: [
    'event EIP712DomainChanged()',
    'event ParticipantRegistered(address indexed account, uint8 role, string displayName, string jwksUrl)',
    'event ParticipantRemoved(address indexed account)',
    'event ParticipantUpdated(address indexed account, uint8 role, string displayName, string jwksUrl)',
  ],
  relationshipsAbi: [
    'event EIP712DomainChanged()',
    'event RecordsChanged(address indexed provider, address indexed patient, string[] resourceTypes)',
    'event RelationshipAdded(address indexed provider, address indexed patient, bytes32 commitment)',
    'event RelationshipEnded(address indexed provider, address indexed patient, address indexed by)',
    'event RelationshipUpdated(address indexed provider, address indexed patient, bytes32 commitment)',
  ],
  consentAbi: [
    'event AccessApproved(uint256 indexed requestId, uint256 indexed grantId, address indexed by)',
    'event AccessDeclined(uint256 indexed requestId, address indexed by)',
    'event AccessRequestCancelled(uint256 indexed requestId)',
    'event AccessRequested(uint256 indexed requestId, address indexed patient, address indexed requester, address[] providers, string[] resourceTypes, uint8 actions, uint8 purpose, uint64 notBefore, uint64 expiresAt)',
    'event DelegationRevoked(address indexed patient, address indexed proxy, address indexed by)',
    'event DelegationSet(address indexed patient, address indexed proxy, uint64 expiresAt)',
    'event EIP712DomainChanged()',
    'event GrantCreated(uint256 indexed grantId, address indexed patient, address indexed grantee, address issuer, address[] providers, string[] resourceTypes, uint8 actions, uint8 purpose, uint64 notBefore, uint64 expiresAt)',
    'event GrantRevoked(uint256 indexed grantId, address indexed patient, address indexed by)',
    'event StudyClosed(uint256 indexed studyId)',
    'event StudyEnrolled(uint256 indexed studyId, address indexed patient, uint256 indexed grantId, address by)',
    'event StudyInvited(uint256 indexed studyId, address indexed patient)',
    'event StudyOpened(uint256 indexed studyId, address indexed researcher, string title, address[] providers, string[] resourceTypes, uint8 actions, uint64 notBefore, uint64 expiresAt)',
    'event StudyWithdrawn(uint256 indexed studyId, address indexed patient, uint256 indexed grantId, address by)',
  ],
};

const abis: Record<string, InterfaceAbi> = { providerRegistryAbi, participantDirectoryAbi, relationshipsAbi, consentAbi };

t.test('event signatures are unchanged', async (t) => {
  for (const [name, abi] of Object.entries(abis)) {
    const events: string[] = [];
    new Interface(abi).forEachEvent((e) => events.push(e.format('full')));
    t.same(events.sort(), FROZEN[name], name);
  }
});
