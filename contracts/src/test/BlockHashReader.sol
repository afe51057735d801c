// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice Stores BLOCKHASH of an ancestor, so a block's execution depends on old headers.
contract BlockHashReader {
    mapping(uint256 => bytes32) public seen;

    function record(uint256 depth) external {
        uint256 n = block.number - depth;
        seen[n] = blockhash(n);
    }
}
