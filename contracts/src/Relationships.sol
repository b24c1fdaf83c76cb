// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {EnumerableSet} from "@openzeppelin/contracts/utils/structs/EnumerableSet.sol";
import {ProviderRegistry} from "./ProviderRegistry.sol";
import {SignedActions} from "./SignedActions.sol";
import {Vocabulary} from "./Vocabulary.sol";

/// @title Relationships
/// @notice A provider records that it holds records for a patient. The chain keeps only a salted
///         hash commitment of the provider's private link (patient address -> local patient ids),
///         never the local id itself. The patient or the provider can end a relationship (the
///         patient also by EIP-712 signed message). Providers announce record changes for a
///         patient as events that carry resource type names only, no clinical content.
contract Relationships is SignedActions {
    using EnumerableSet for EnumerableSet.AddressSet;

    /// @notice One provider-patient relationship.
    struct Relationship {
        bool active;
        bytes32 commitment;
        uint64 since;
    }

    /// @notice The caller is not a current provider.
    error NotProvider(address account);
    /// @notice Zero patient, the provider itself, or a zero commitment.
    error InvalidRelationship();
    /// @notice The relationship already exists.
    error RelationshipExists(address provider, address patient);
    /// @notice No active relationship between these two.
    error NoRelationship(address provider, address patient);
    /// @notice Only the patient or the provider may end a relationship.
    error NotParty(address account);

    /// @notice A provider recorded that it holds records for `patient`.
    event RelationshipAdded(address indexed provider, address indexed patient, bytes32 commitment);
    /// @notice A provider replaced the link commitment (e.g. after merging local records).
    event RelationshipUpdated(address indexed provider, address indexed patient, bytes32 commitment);
    /// @notice The patient or the provider ended the relationship.
    event RelationshipEnded(address indexed provider, address indexed patient, address indexed by);
    /// @notice The provider's records for `patient` changed (resource type names only).
    event RecordsChanged(address indexed provider, address indexed patient, string[] resourceTypes);

    /// @notice EIP-712 type hash of the signed `EndRelationship` message.
    /// @return The keccak256 of the `EndRelationship` type.
    bytes32 public constant END_RELATIONSHIP_TYPEHASH =
        keccak256("EndRelationship(address actor,address provider,uint256 nonce,uint256 deadline)");

    /// @notice The provider registry whose members may record relationships.
    /// @return The registry's address.
    ProviderRegistry public immutable registry;

    mapping(address provider => mapping(address patient => Relationship)) private _relationships;
    mapping(address patient => EnumerableSet.AddressSet) private _providersOf;
    mapping(address provider => EnumerableSet.AddressSet) private _patientsOf;

    /// @param providerRegistry The network's provider registry.
    constructor(ProviderRegistry providerRegistry) SignedActions("MedRec Relationships") {
        registry = providerRegistry;
    }

    modifier onlyProvider() {
        if (!registry.isProvider(msg.sender)) revert NotProvider(msg.sender);
        _;
    }

    /// @notice Records that the caller (a provider) holds records for `patient`.
    /// @param patient The patient's address.
    /// @param commitment Salted hash commitment of the caller's link for this patient.
    function addRelationship(address patient, bytes32 commitment) external onlyProvider {
        if (patient == address(0) || patient == msg.sender || commitment == bytes32(0)) revert InvalidRelationship();
        Relationship storage r = _relationships[msg.sender][patient];
        if (r.active) revert RelationshipExists(msg.sender, patient);
        _relationships[msg.sender][patient] = Relationship(true, commitment, uint64(block.timestamp));
        _providersOf[patient].add(msg.sender);
        _patientsOf[msg.sender].add(patient);
        emit RelationshipAdded(msg.sender, patient, commitment);
    }

    /// @notice Replaces the link commitment of an active relationship of the caller.
    /// @param patient The patient's address.
    /// @param commitment The new commitment.
    function updateCommitment(address patient, bytes32 commitment) external onlyProvider {
        if (commitment == bytes32(0)) revert InvalidRelationship();
        Relationship storage r = _relationships[msg.sender][patient];
        if (!r.active) revert NoRelationship(msg.sender, patient);
        r.commitment = commitment;
        emit RelationshipUpdated(msg.sender, patient, commitment);
    }

    /// @notice Ends a relationship; the caller must be its patient or its provider (a provider
    ///         removed from the network can still end its relationships).
    /// @param provider The provider.
    /// @param patient The patient.
    function endRelationship(address provider, address patient) external {
        if (msg.sender != provider && msg.sender != patient) revert NotParty(msg.sender);
        _end(provider, patient, msg.sender);
    }

    /// @notice Ends a relationship from the patient's EIP-712 `EndRelationship` message.
    /// @param actor The patient who signed.
    /// @param provider The provider.
    /// @param deadline Unix seconds after which the signature is void.
    /// @param signature The patient's signature.
    function endRelationshipBySig(address actor, address provider, uint256 deadline, bytes calldata signature)
        external
    {
        bytes32 structHash = keccak256(abi.encode(END_RELATIONSHIP_TYPEHASH, actor, provider, _useNonce(actor), deadline));
        _checkSigned(actor, structHash, deadline, signature);
        _end(provider, actor, actor);
    }

    /// @notice Announces that the caller's records for `patient` changed.
    /// @param patient The patient.
    /// @param resourceTypes FHIR resource type names that changed (may be empty: "something").
    function announceRecordsChanged(address patient, string[] calldata resourceTypes) external onlyProvider {
        if (!_relationships[msg.sender][patient].active) revert NoRelationship(msg.sender, patient);
        Vocabulary.checkResourceTypes(resourceTypes);
        emit RecordsChanged(msg.sender, patient, resourceTypes);
    }

    /// @notice The relationship of (`provider`, `patient`), active or not.
    /// @param provider The provider.
    /// @param patient The patient.
    /// @return The relationship: active, link commitment, since (0 when there never was one).
    function getRelationship(address provider, address patient) external view returns (Relationship memory) {
        return _relationships[provider][patient];
    }

    /// @notice Providers with an active relationship to `patient`.
    /// @param patient The patient.
    /// @return The providers' addresses.
    function providersOf(address patient) external view returns (address[] memory) {
        return _providersOf[patient].values();
    }

    /// @notice Patients with an active relationship to `provider`.
    /// @param provider The provider.
    /// @return The patients' addresses.
    function patientsOf(address provider) external view returns (address[] memory) {
        return _patientsOf[provider].values();
    }

    function _end(address provider, address patient, address by) private {
        Relationship storage r = _relationships[provider][patient];
        if (!r.active) revert NoRelationship(provider, patient);
        r.active = false;
        _providersOf[patient].remove(provider);
        _patientsOf[provider].remove(patient);
        emit RelationshipEnded(provider, patient, by);
    }
}
