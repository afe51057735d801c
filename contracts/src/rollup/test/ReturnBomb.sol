// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @notice A message recipient for tests that reverts with `size` bytes of return data, to
///         check that the messengers copy at most a bounded prefix of it.
contract ReturnBomb {
    uint256 public size = 100_000;

    fallback() external payable {
        uint256 n = size;
        assembly {
            revert(0, n)
        }
    }
}
