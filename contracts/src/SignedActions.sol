// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";

/// @title SignedActions
/// @notice Base for contracts whose participants act through EIP-712 signed messages that any
///         relayer submits, so a patient with a zero balance can do everything. Each typed message
///         names its `actor` (the signer), carries the actor's next nonce and a deadline. EOAs and
///         ERC-1271 smart accounts are both accepted (OpenZeppelin SignatureChecker).
abstract contract SignedActions is EIP712, Nonces {
    /// @notice The signed message's deadline (unix seconds) has passed.
    error SignatureExpired(uint256 deadline);
    /// @notice The signature does not recover to the named actor (wrong signer, wrong chain,
    ///         wrong contract, altered fields or a nonce already used).
    error InvalidSignature(address actor);

    constructor(string memory name) EIP712(name, "1") {}

    /// @notice The nonce the next signed message of `owner` must carry.
    /// @param owner The actor.
    /// @return The nonce (0 before its first signed action).
    function nonces(address owner) public view virtual override returns (uint256) {
        return super.nonces(owner);
    }

    /// @notice The EIP-712 domain (ERC-5267): name, version "1", chain id, this contract.
    /// @return fields The ERC-5267 bit set of the fields used (name, version, chain id, contract).
    /// @return name The domain name, e.g. "MedRec Consent".
    /// @return version "1".
    /// @return chainId This chain's id.
    /// @return verifyingContract This contract.
    /// @return salt Unused (zero).
    /// @return extensions Unused (empty).
    function eip712Domain()
        public
        view
        virtual
        override
        returns (
            bytes1 fields,
            string memory name,
            string memory version,
            uint256 chainId,
            address verifyingContract,
            bytes32 salt,
            uint256[] memory extensions
        )
    {
        return super.eip712Domain();
    }

    /// @notice The EIP-712 domain separator of this contract on this chain.
    /// @return The EIP-712 domain separator.
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    /// @dev Checks deadline and signature of a typed message whose struct hash already includes
    ///      `_useNonce(actor)`. A failed check reverts, which also rolls the nonce back.
    function _checkSigned(address actor, bytes32 structHash, uint256 deadline, bytes calldata signature) internal view {
        if (block.timestamp > deadline) revert SignatureExpired(deadline);
        if (!SignatureChecker.isValidSignatureNow(actor, _hashTypedDataV4(structHash), signature)) {
            revert InvalidSignature(actor);
        }
    }

    /// @dev EIP-712 encoding of `address[]`: keccak256 of the 32-byte-padded elements.
    function _hashAddresses(address[] calldata values) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(values));
    }

    /// @dev EIP-712 encoding of `string[]`: keccak256 of the concatenated element hashes.
    function _hashStrings(string[] calldata values) internal pure returns (bytes32) {
        bytes32[] memory hashes = new bytes32[](values.length);
        for (uint256 i = 0; i < values.length; i++) hashes[i] = keccak256(bytes(values[i]));
        return keccak256(abi.encodePacked(hashes));
    }
}
