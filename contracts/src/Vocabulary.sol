// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

/// @title Vocabulary
/// @notice The only free-form strings these contracts accept are shape-checked here, so that
///         nothing but FHIR type names, URLs and short public names can reach the chain.
library Vocabulary {
    /// @notice A FHIR resource type must be 1-64 ASCII letters starting with an upper-case one.
    error InvalidResourceType(string resourceType);
    /// @notice A text field is longer than allowed.
    error TextTooLong(uint256 length, uint256 max);
    /// @notice A list is longer than allowed.
    error ListTooLong(uint256 length, uint256 max);

    uint256 internal constant MAX_LIST = 64;

    /// @dev Reverts unless every entry looks like a FHIR resource type name (`MedicationRequest`).
    function checkResourceTypes(string[] memory types) internal pure {
        if (types.length > MAX_LIST) revert ListTooLong(types.length, MAX_LIST);
        for (uint256 i = 0; i < types.length; i++) {
            bytes memory t = bytes(types[i]);
            if (t.length == 0 || t.length > 64 || t[0] < "A" || t[0] > "Z") revert InvalidResourceType(types[i]);
            for (uint256 j = 1; j < t.length; j++) {
                bytes1 c = t[j];
                if (!((c >= "A" && c <= "Z") || (c >= "a" && c <= "z"))) revert InvalidResourceType(types[i]);
            }
        }
    }

    /// @dev Reverts when `text` is longer than `max` bytes.
    function checkLength(string memory text, uint256 max) internal pure {
        if (bytes(text).length > max) revert TextTooLong(bytes(text).length, max);
    }

    /// @dev Reverts when a list is longer than the shared bound.
    function checkListLength(uint256 length) internal pure {
        if (length > MAX_LIST) revert ListTooLong(length, MAX_LIST);
    }
}
