// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @notice Test helper: an `OptimisticRollup` sequencer that is a contract refusing ETH. It
///         forwards `propose` calls (with their bond); nothing can pay it.
contract OptimisticRefusingSequencer {
    /// @notice Forward `data` (a `propose` call) to `rollup` with `msg.value`; bubbles a revert.
    function forward(address rollup, bytes calldata data) external payable {
        (bool ok, bytes memory out) = rollup.call{value: msg.value}(data);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(out, 0x20), mload(out))
            }
        }
    }
}
