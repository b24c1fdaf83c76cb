// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {SignedActions} from "./SignedActions.sol";
import {Vocabulary} from "./Vocabulary.sol";

/// @title ParticipantDirectory
/// @notice Anyone registers their own address with a role, a public display name and an optional
///         JWKS URL (for SMART Backend Services clients such as a pharmacy system). Patients
///         register with an EMPTY display name: a patient's name is PHI and never goes on chain.
///         Registration also works as an EIP-712 signed message submitted by any relayer.
contract ParticipantDirectory is SignedActions {
    /// @notice Participant roles. Codes: 1 patient, 2 pharmacy, 3 proxy, 4 researcher,
    ///         5 clinician, 6 organisation (0 = not registered).
    enum Role {
        None,
        Patient,
        Pharmacy,
        Proxy,
        Researcher,
        Clinician,
        Organisation
    }

    /// @notice A directory entry.
    struct Participant {
        Role role;
        string displayName;
        string jwksUrl;
        uint64 registeredAt;
    }

    /// @notice The role code is not one of the defined roles.
    error InvalidRole();
    /// @notice Patients must not publish a display name (it would be PHI).
    error PatientNameNotAllowed();
    /// @notice Non-patient participants need a display name.
    error DisplayNameRequired();
    /// @notice The address is already registered (use `update`).
    error AlreadyRegistered(address account);
    /// @notice The address is not registered.
    error NotRegistered(address account);

    /// @notice An address registered itself.
    event ParticipantRegistered(address indexed account, Role role, string displayName, string jwksUrl);
    /// @notice A participant changed its entry.
    event ParticipantUpdated(address indexed account, Role role, string displayName, string jwksUrl);
    /// @notice A participant removed its entry.
    event ParticipantRemoved(address indexed account);

    /// @notice EIP-712 type hash of the signed `Register` message.
    /// @return The keccak256 of the `Register` type.
    bytes32 public constant REGISTER_TYPEHASH = keccak256(
        "Register(address actor,uint8 role,string displayName,string jwksUrl,uint256 nonce,uint256 deadline)"
    );

    /// @notice EIP-712 type hash of the signed `Update` message.
    /// @return The keccak256 of the `Update` type.
    bytes32 public constant UPDATE_TYPEHASH = keccak256(
        "Update(address actor,uint8 role,string displayName,string jwksUrl,uint256 nonce,uint256 deadline)"
    );
    /// @notice EIP-712 type hash of the signed `Unregister` message.
    /// @return The keccak256 of the `Unregister` type.
    bytes32 public constant UNREGISTER_TYPEHASH = keccak256("Unregister(address actor,uint256 nonce,uint256 deadline)");

    uint256 internal constant MAX_NAME = 128;
    uint256 internal constant MAX_URL = 256;

    mapping(address account => Participant) private _participants;
    address[] private _accounts;
    mapping(address account => uint256 indexPlusOne) private _index;

    constructor() SignedActions("MedRec ParticipantDirectory") {}

    /// @notice Registers the caller.
    /// @param role Role code (see `Role`).
    /// @param displayName Public name; must be empty for patients.
    /// @param jwksUrl Optional JWKS URL for SMART Backend Services authentication.
    function register(Role role, string calldata displayName, string calldata jwksUrl) external {
        _register(msg.sender, role, displayName, jwksUrl);
    }

    /// @notice Registers `actor` from its EIP-712 `Register` message; any relayer may submit.
    /// @param actor The address that signed and is registered.
    /// @param role Role code.
    /// @param displayName Public name; empty for patients.
    /// @param jwksUrl Optional JWKS URL.
    /// @param deadline Unix seconds after which the signature is void.
    /// @param signature The actor's signature over the typed message.
    function registerBySig(
        address actor,
        Role role,
        string calldata displayName,
        string calldata jwksUrl,
        uint256 deadline,
        bytes calldata signature
    ) external {
        bytes32 structHash = keccak256(
            abi.encode(
                REGISTER_TYPEHASH,
                actor,
                role,
                keccak256(bytes(displayName)),
                keccak256(bytes(jwksUrl)),
                _useNonce(actor),
                deadline
            )
        );
        _checkSigned(actor, structHash, deadline, signature);
        _register(actor, role, displayName, jwksUrl);
    }

    /// @notice Changes the caller's role, display name or JWKS URL.
    /// @param role Role code.
    /// @param displayName Public name; empty for patients.
    /// @param jwksUrl Optional JWKS URL.
    function update(Role role, string calldata displayName, string calldata jwksUrl) external {
        _update(msg.sender, role, displayName, jwksUrl);
    }

    /// @notice `update` from the actor's EIP-712 `Update` message; any relayer may submit.
    /// @param actor The registered address that signed.
    /// @param role Role code.
    /// @param displayName Public name; empty for patients.
    /// @param jwksUrl Optional JWKS URL.
    /// @param deadline Unix seconds after which the signature is void.
    /// @param signature The actor's signature.
    function updateBySig(
        address actor,
        Role role,
        string calldata displayName,
        string calldata jwksUrl,
        uint256 deadline,
        bytes calldata signature
    ) external {
        bytes32 structHash = keccak256(
            abi.encode(
                UPDATE_TYPEHASH,
                actor,
                role,
                keccak256(bytes(displayName)),
                keccak256(bytes(jwksUrl)),
                _useNonce(actor),
                deadline
            )
        );
        _checkSigned(actor, structHash, deadline, signature);
        _update(actor, role, displayName, jwksUrl);
    }

    /// @notice Removes the caller's entry.
    function unregister() external {
        _unregister(msg.sender);
    }

    /// @notice `unregister` from the actor's EIP-712 `Unregister` message.
    /// @param actor The registered address that signed.
    /// @param deadline Unix seconds after which the signature is void.
    /// @param signature The actor's signature.
    function unregisterBySig(address actor, uint256 deadline, bytes calldata signature) external {
        bytes32 structHash = keccak256(abi.encode(UNREGISTER_TYPEHASH, actor, _useNonce(actor), deadline));
        _checkSigned(actor, structHash, deadline, signature);
        _unregister(actor);
    }

    /// @notice The entry of `account` (role None when not registered).
    /// @param account The address.
    /// @return The entry: role, display name, JWKS URL, registration time.
    function getParticipant(address account) external view returns (Participant memory) {
        return _participants[account];
    }

    /// @notice The role of `account` (None when not registered).
    /// @param account The address.
    /// @return The role.
    function roleOf(address account) external view returns (Role) {
        return _participants[account].role;
    }

    /// @notice All registered addresses.
    /// @return The addresses (the order changes when one unregisters).
    function getParticipants() external view returns (address[] memory) {
        return _accounts;
    }

    /// @notice How many participants are registered.
    /// @return The number of registered addresses.
    function participantCount() external view returns (uint256) {
        return _accounts.length;
    }

    function _register(address account, Role role, string calldata displayName, string calldata jwksUrl) private {
        if (_index[account] != 0) revert AlreadyRegistered(account);
        _check(role, displayName, jwksUrl);
        _participants[account] = Participant(role, displayName, jwksUrl, uint64(block.timestamp));
        _accounts.push(account);
        _index[account] = _accounts.length;
        emit ParticipantRegistered(account, role, displayName, jwksUrl);
    }

    function _update(address account, Role role, string calldata displayName, string calldata jwksUrl) private {
        if (_index[account] == 0) revert NotRegistered(account);
        _check(role, displayName, jwksUrl);
        Participant storage p = _participants[account];
        p.role = role;
        p.displayName = displayName;
        p.jwksUrl = jwksUrl;
        emit ParticipantUpdated(account, role, displayName, jwksUrl);
    }

    function _unregister(address account) private {
        uint256 index = _index[account];
        if (index == 0) revert NotRegistered(account);
        address last = _accounts[_accounts.length - 1];
        _accounts[index - 1] = last;
        _index[last] = index;
        _accounts.pop();
        delete _index[account];
        delete _participants[account];
        emit ParticipantRemoved(account);
    }

    function _check(Role role, string calldata displayName, string calldata jwksUrl) private pure {
        if (role == Role.None) revert InvalidRole();
        if (role == Role.Patient) {
            if (bytes(displayName).length != 0) revert PatientNameNotAllowed();
        } else if (bytes(displayName).length == 0) {
            revert DisplayNameRequired();
        }
        Vocabulary.checkLength(displayName, MAX_NAME);
        Vocabulary.checkLength(jwksUrl, MAX_URL);
    }
}
