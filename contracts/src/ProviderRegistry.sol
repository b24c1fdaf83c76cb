// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Vocabulary} from "./Vocabulary.sol";

/// @title ProviderRegistry
/// @notice The providers (hospitals, practices) that form the MedRec network. Providers admit and
///         remove providers by a strict majority of the current providers: a motion passes with
///         more than n/2 yes votes of the n current providers, for admission and removal alike.
///         The provider to be removed counts in n but can neither propose nor vote on its own
///         removal (its silence is a no), so a removal needs more than n/2 yes votes from the others:
///         with two providers no removal can pass by vote (admit a third provider first). The
///         last provider cannot be removed. A motion lapses 30 days after it opens (a motion
///         nobody carried is not kept alive for a later, different electorate); `expireMotion`
///         or the next motion about the same subject records the lapse. Each
///         provider names a node address; `getValidators()` lists them so that a Besu QBFT chain
///         can take its validator set from this contract (`validatorcontractaddress`).
contract ProviderRegistry {
    /// @notice What a motion asks for.
    enum MotionKind {
        Admit,
        Remove
    }

    /// @notice Where a motion stands.
    enum MotionStatus {
        None,
        Open,
        Passed,
        Rescinded,
        /// @dev Not carried within its lifetime. Stored (with `ProviderMotionLapsed`) by
        ///      `expireMotion` or when a new motion about the same subject opens; `getMotion`
        ///      reports an Open motion past its `expiresAt` as Lapsed before that.
        Lapsed
    }

    /// @notice A provider's public record (no patient data ever).
    struct Provider {
        address account;
        string name;
        string fhirBaseUrl;
        /// @dev Address of the provider's chain node key (its QBFT validator identity).
        address node;
    }

    /// @notice A motion to admit or remove one provider.
    struct Motion {
        MotionKind kind;
        MotionStatus status;
        address subject;
        address proposer;
        string name;
        string fhirBaseUrl;
        address node;
        address[] voters;
        /// @dev Unix seconds when the motion lapses if not carried.
        uint64 expiresAt;
    }

    /// @notice The caller is not a current provider.
    error NotProvider(address account);
    /// @notice The candidate is already a provider.
    error AlreadyProvider(address account);
    /// @notice A node address is zero or already used by another provider.
    error InvalidNode(address node);
    /// @notice A provider account or name field is empty/zero.
    error InvalidProvider();
    /// @notice No open motion with this id.
    error MotionNotOpen(uint256 motionId);
    /// @notice The subject already has an open motion.
    error MotionPending(address subject, uint256 motionId);
    /// @notice The voter already voted on this motion.
    error AlreadyVoted(uint256 motionId, address voter);
    /// @notice A provider may not propose or vote on its own removal.
    error SelfVote(address provider);
    /// @notice The last provider cannot be removed.
    error LastProvider();
    /// @notice Only the proposer may rescind a motion (or any provider, once the proposer left).
    error NotProposer(uint256 motionId);
    /// @notice The motion lapsed: it was not carried within its lifetime.
    error MotionLapsed(uint256 motionId);
    /// @notice The motion is still within its lifetime (it lapses at `expiresAt`).
    error MotionNotLapsed(uint256 motionId, uint64 expiresAt);
    /// @notice The motion does not have the votes it needs.
    error MotionNotPassed(uint256 motionId, uint256 yes, uint256 required);

    /// @notice A motion was opened (the proposer's vote is counted at once).
    event ProviderProposed(
        uint256 indexed motionId,
        MotionKind kind,
        address indexed subject,
        address indexed proposer,
        string name,
        string fhirBaseUrl,
        address node
    );
    /// @notice A provider voted for a motion; `yes` counts the votes of current eligible providers.
    event ProviderVoted(uint256 indexed motionId, address indexed voter, uint256 yes, uint256 required);
    /// @notice The proposer withdrew a motion.
    event ProviderRescinded(uint256 indexed motionId, address indexed by);
    /// @notice A motion was closed as lapsed (not carried within its lifetime).
    event ProviderMotionLapsed(uint256 indexed motionId, address indexed subject);
    /// @notice A provider joined (motionId 0 for the providers of the deployment).
    event ProviderAdmitted(
        address indexed provider, string name, string fhirBaseUrl, address node, uint256 indexed motionId
    );
    /// @notice A provider left the network.
    event ProviderRemoved(address indexed provider, uint256 indexed motionId);
    /// @notice A provider changed its own public record.
    event ProviderUpdated(address indexed provider, string name, string fhirBaseUrl, address node);

    /// @notice How long a motion stays open for votes.
    /// @return 30 days, in seconds.
    uint64 public constant MOTION_LIFETIME = 30 days;

    uint256 internal constant MAX_NAME = 128;
    uint256 internal constant MAX_URL = 256;

    address[] private _accounts;
    mapping(address account => uint256 indexPlusOne) private _index;
    mapping(address account => Provider) private _providers;
    mapping(address node => address account) private _nodeOwner;

    Motion[] private _motions;
    mapping(address subject => uint256 motionIdPlusOne) private _openMotion;
    mapping(uint256 motionId => mapping(address voter => bool)) private _voted;

    /// @notice Deploys the registry with its first providers.
    /// @param initial The founding providers (at least one).
    constructor(Provider[] memory initial) {
        if (initial.length == 0) revert InvalidProvider();
        _motions.push(); // motion ids start at 1
        for (uint256 i = 0; i < initial.length; i++) {
            Provider memory p = initial[i];
            _checkRecord(p.account, p.name, p.fhirBaseUrl, p.node);
            if (_index[p.account] != 0) revert AlreadyProvider(p.account);
            _admit(p.account, p.name, p.fhirBaseUrl, p.node, 0);
        }
    }

    modifier onlyProvider() {
        if (_index[msg.sender] == 0) revert NotProvider(msg.sender);
        _;
    }

    /// @notice Proposes to admit `candidate` as a provider; counts as the proposer's yes vote.
    /// @param candidate The candidate's account address.
    /// @param name Public name of the organisation.
    /// @param fhirBaseUrl Base URL of the provider's FHIR endpoint (may be empty).
    /// @param node Address of the candidate's chain node key (validator identity).
    /// @return motionId The new motion's id.
    function proposeAdmission(address candidate, string calldata name, string calldata fhirBaseUrl, address node)
        external
        onlyProvider
        returns (uint256 motionId)
    {
        _checkRecord(candidate, name, fhirBaseUrl, node);
        if (_index[candidate] != 0) revert AlreadyProvider(candidate);
        motionId = _open(MotionKind.Admit, candidate, name, fhirBaseUrl, node);
    }

    /// @notice Proposes to remove `provider`; counts as the proposer's yes vote. The motion passes
    ///         with more than n/2 yes votes of the n current providers; `provider` counts in n but
    ///         cannot vote, so with two providers the motion stays open until a third is admitted.
    /// @param provider The provider to remove (not the caller, not the last one).
    /// @return motionId The new motion's id.
    function proposeRemoval(address provider) external onlyProvider returns (uint256 motionId) {
        if (_accounts.length == 1) revert LastProvider();
        if (provider == msg.sender) revert SelfVote(provider);
        if (_index[provider] == 0) revert NotProvider(provider);
        motionId = _open(MotionKind.Remove, provider, "", "", address(0));
    }

    /// @notice Votes yes on an open motion; the motion is carried out as soon as it has a majority.
    /// @param motionId The motion.
    function vote(uint256 motionId) external onlyProvider {
        Motion storage m = _openMotionAt(motionId);
        if (m.kind == MotionKind.Remove && m.subject == msg.sender) revert SelfVote(msg.sender);
        if (_voted[motionId][msg.sender]) revert AlreadyVoted(motionId, msg.sender);
        _voted[motionId][msg.sender] = true;
        m.voters.push(msg.sender);
        _tally(motionId, m);
    }

    /// @notice Carries out an open motion that has a majority, e.g. after a removal shrank the
    ///         electorate so that existing votes now suffice. Anyone may call it.
    /// @param motionId The motion.
    function execute(uint256 motionId) external {
        Motion storage m = _openMotionAt(motionId);
        (uint256 yes, uint256 required) = _count(m);
        if (yes < required) revert MotionNotPassed(motionId, yes, required);
        _carry(motionId, m);
    }

    /// @notice Withdraws an open motion: its proposer, or any current provider once the proposer
    ///         is no longer a provider (nobody else could clear its motion before it lapses).
    /// @param motionId The motion.
    function rescind(uint256 motionId) external {
        Motion storage m = _openMotionAt(motionId);
        bool orphaned = _index[m.proposer] == 0 && _index[msg.sender] != 0;
        if (m.proposer != msg.sender && !orphaned) revert NotProposer(motionId);
        m.status = MotionStatus.Rescinded;
        delete _openMotion[m.subject];
        emit ProviderRescinded(motionId, msg.sender);
    }

    /// @notice Closes a motion that lapsed without being carried, so that its stored status and
    ///         the events say so (a log follower then sees it closed). Anyone may call it.
    /// @param motionId The motion (open, and past its `expiresAt`).
    function expireMotion(uint256 motionId) external {
        Motion storage m = _motionAt(motionId);
        if (!_lapsed(m)) revert MotionNotLapsed(motionId, m.expiresAt);
        _lapse(motionId, m);
    }

    /// @notice Updates the caller's own public record (name, FHIR base URL, node address).
    /// @dev A new node address rotates the key of the caller's own validator seat, without a vote:
    ///      the vote decides who holds a seat, not which key it signs with (a provider must be
    ///      able to replace a lost or compromised node key at once). The seat count is unchanged
    ///      and a node address can back one seat only.
    /// @param name Public name.
    /// @param fhirBaseUrl FHIR base URL.
    /// @param node Node key address (must not be another provider's).
    function updateProvider(string calldata name, string calldata fhirBaseUrl, address node) external onlyProvider {
        _checkRecord(msg.sender, name, fhirBaseUrl, node);
        Provider storage p = _providers[msg.sender];
        if (p.node != node) {
            if (_nodeOwner[node] != address(0)) revert InvalidNode(node);
            delete _nodeOwner[p.node];
            _nodeOwner[node] = msg.sender;
        }
        p.name = name;
        p.fhirBaseUrl = fhirBaseUrl;
        p.node = node;
        emit ProviderUpdated(msg.sender, name, fhirBaseUrl, node);
    }

    // ---------------------------------------------------------------- views

    /// @notice The node addresses of the current providers: the QBFT validator set.
    /// @return validators The node addresses, in the order of `getProviders()`.
    function getValidators() external view returns (address[] memory validators) {
        validators = new address[](_accounts.length);
        for (uint256 i = 0; i < _accounts.length; i++) validators[i] = _providers[_accounts[i]].node;
    }

    /// @notice The account addresses of the current providers.
    /// @return The accounts (the order changes when one is removed).
    function getProviders() external view returns (address[] memory) {
        return _accounts;
    }

    /// @notice The public records of all current providers.
    /// @return records The records, in the order of `getProviders()`.
    function getProviderRecords() external view returns (Provider[] memory records) {
        records = new Provider[](_accounts.length);
        for (uint256 i = 0; i < _accounts.length; i++) records[i] = _providers[_accounts[i]];
    }

    /// @notice The public record of one provider (zero record when not a provider).
    /// @param account The account.
    /// @return The record: account, name, FHIR base URL, node address.
    function getProvider(address account) external view returns (Provider memory) {
        return _providers[account];
    }

    /// @notice Whether `account` is a current provider.
    /// @param account The account.
    /// @return True for a current provider.
    function isProvider(address account) external view returns (bool) {
        return _index[account] != 0;
    }

    /// @notice How many providers there are now.
    /// @return The number of current providers.
    function providerCount() external view returns (uint256) {
        return _accounts.length;
    }

    /// @notice How many motions were ever opened (ids run from 1 to this number).
    /// @return The number of motions.
    function motionCount() external view returns (uint256) {
        return _motions.length - 1;
    }

    /// @notice A motion with its live tally: `yes` counts the votes of eligible current providers,
    ///         `required` is the strict majority it needs now. An open motion past its lifetime
    ///         reads as `Lapsed`.
    /// @param motionId The motion.
    /// @return motion The motion as stored, its status Lapsed once past `expiresAt`.
    /// @return yes The yes votes that count now.
    /// @return required The yes votes it needs now.
    function getMotion(uint256 motionId) external view returns (Motion memory motion, uint256 yes, uint256 required) {
        if (motionId == 0 || motionId >= _motions.length) revert MotionNotOpen(motionId);
        motion = _motions[motionId];
        if (motion.status == MotionStatus.Open && _lapsed(_motions[motionId])) motion.status = MotionStatus.Lapsed;
        (yes, required) = _count(_motions[motionId]);
    }

    /// @notice The open (not lapsed) motion about `subject`, or 0.
    /// @param subject The candidate or provider the motion is about.
    /// @return The motion id, 0 when none is open.
    function openMotionOf(address subject) external view returns (uint256) {
        uint256 id = _openMotion[subject];
        return id == 0 || _lapsed(_motions[id - 1]) ? 0 : id - 1;
    }

    /// @notice Whether `voter` voted on `motionId`.
    /// @param motionId The motion.
    /// @param voter The provider.
    /// @return True once `voter` voted (the proposer included).
    function hasVoted(uint256 motionId, address voter) external view returns (bool) {
        return _voted[motionId][voter];
    }

    // ------------------------------------------------------------- internals

    function _checkRecord(address account, string memory name, string memory url, address node) private view {
        if (account == address(0) || bytes(name).length == 0) revert InvalidProvider();
        Vocabulary.checkLength(name, MAX_NAME);
        Vocabulary.checkLength(url, MAX_URL);
        if (node == address(0)) revert InvalidNode(node);
        address owner = _nodeOwner[node];
        if (owner != address(0) && owner != account) revert InvalidNode(node);
    }

    function _open(MotionKind kind, address subject, string memory name, string memory url, address node)
        private
        returns (uint256 motionId)
    {
        uint256 pending = _openMotion[subject];
        if (pending != 0) {
            Motion storage previous = _motions[pending - 1];
            if (!_lapsed(previous)) revert MotionPending(subject, pending - 1);
            // A lapsed motion no longer holds its subject: it is closed before the new one opens.
            _lapse(pending - 1, previous);
        }
        motionId = _motions.length;
        Motion storage m = _motions.push();
        m.kind = kind;
        m.status = MotionStatus.Open;
        m.subject = subject;
        m.proposer = msg.sender;
        m.name = name;
        m.fhirBaseUrl = url;
        m.node = node;
        m.expiresAt = uint64(block.timestamp) + MOTION_LIFETIME;
        m.voters.push(msg.sender);
        _voted[motionId][msg.sender] = true;
        _openMotion[subject] = motionId + 1;
        emit ProviderProposed(motionId, kind, subject, msg.sender, name, url, node);
        _tally(motionId, m);
    }

    /// @dev A motion whose stored status is Open (it may have lapsed).
    function _motionAt(uint256 motionId) private view returns (Motion storage m) {
        if (motionId == 0 || motionId >= _motions.length) revert MotionNotOpen(motionId);
        m = _motions[motionId];
        if (m.status != MotionStatus.Open) revert MotionNotOpen(motionId);
    }

    /// @dev A motion that is Open and within its lifetime.
    function _openMotionAt(uint256 motionId) private view returns (Motion storage m) {
        m = _motionAt(motionId);
        if (_lapsed(m)) revert MotionLapsed(motionId);
    }

    function _lapsed(Motion storage m) private view returns (bool) {
        return block.timestamp >= m.expiresAt;
    }

    function _lapse(uint256 motionId, Motion storage m) private {
        m.status = MotionStatus.Lapsed;
        delete _openMotion[m.subject];
        emit ProviderMotionLapsed(motionId, m.subject);
    }

    /// @dev Yes votes of voters who are still providers (never the subject of a removal), and
    ///      the strict majority of all n current providers (the subject of a removal included).
    function _count(Motion storage m) private view returns (uint256 yes, uint256 required) {
        for (uint256 i = 0; i < m.voters.length; i++) {
            address v = m.voters[i];
            if (_index[v] != 0 && !(m.kind == MotionKind.Remove && v == m.subject)) yes++;
        }
        required = _accounts.length / 2 + 1;
    }

    function _tally(uint256 motionId, Motion storage m) private {
        (uint256 yes, uint256 required) = _count(m);
        emit ProviderVoted(motionId, msg.sender, yes, required);
        if (yes >= required) _carry(motionId, m);
    }

    function _carry(uint256 motionId, Motion storage m) private {
        m.status = MotionStatus.Passed;
        delete _openMotion[m.subject];
        if (m.kind == MotionKind.Admit) {
            // The node may have been taken since the motion opened.
            if (_nodeOwner[m.node] != address(0)) revert InvalidNode(m.node);
            _admit(m.subject, m.name, m.fhirBaseUrl, m.node, motionId);
        } else {
            // Never the last provider: its silence is a no, so a motion against it cannot reach
            // a majority (and proposeRemoval refuses when only one provider remains).
            _remove(m.subject, motionId);
        }
    }

    function _admit(address account, string memory name, string memory url, address node, uint256 motionId) private {
        _accounts.push(account);
        _index[account] = _accounts.length;
        _providers[account] = Provider(account, name, url, node);
        _nodeOwner[node] = account;
        emit ProviderAdmitted(account, name, url, node, motionId);
    }

    function _remove(address account, uint256 motionId) private {
        uint256 i = _index[account] - 1;
        address last = _accounts[_accounts.length - 1];
        _accounts[i] = last;
        _index[last] = i + 1;
        _accounts.pop();
        delete _index[account];
        delete _nodeOwner[_providers[account].node];
        delete _providers[account];
        emit ProviderRemoved(account, motionId);
    }
}
