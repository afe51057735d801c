// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @notice Test helper: settles through a rollup and, when paid (the burned fees or a forced
///         entry's fee), calls the rollup again with `reentry` and records what happened.
contract ReentrantSettler {
    address public immutable rollup;
    bytes private _reentry;
    /// @notice Whether the re-entering call succeeded.
    bool public reentered;
    /// @notice The re-entering call's revert data.
    bytes public reentryError;

    constructor(address rollup_) {
        rollup = rollup_;
    }

    /// @notice Call the rollup with `outer`; when paid during it, call it with `inner`.
    function settle(bytes calldata outer, bytes calldata inner) external {
        _reentry = inner;
        (bool ok, bytes memory ret) = rollup.call(outer);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(ret, 0x20), mload(ret))
            }
        }
    }

    receive() external payable {
        bytes memory inner = _reentry;
        if (inner.length == 0) return;
        delete _reentry;
        (bool ok, bytes memory ret) = rollup.call(inner);
        reentered = ok;
        reentryError = ret;
    }
}
