// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title SequencingPolicy
/// @notice Who may settle the next L2 block, fixed at deployment.
///         - `SEQUENCER`: only `sequencer` (v1), unless the rollup opens settlement to all
///           (the forced-inclusion liveness fallback, see {ForcedInclusion}).
///         - `BASED`: anyone; the first valid block for a number wins (the L1's own block
///           builders order the competing settlements).
abstract contract SequencingPolicy {
    /// @notice The deployment-time sequencing policy.
    enum Policy {
        SEQUENCER,
        BASED
    }

    /// @notice This rollup's policy.
    Policy public immutable policy;
    /// @notice The only settler under `SEQUENCER` (zero under `BASED`). It must accept ETH:
    ///         it is paid the burned fees.
    address public immutable sequencer;

    /// @notice `caller` is not the sequencer and settlement is not open to all.
    error NotSequencer(address caller);
    /// @notice A `SEQUENCER` rollup needs a sequencer; a `BASED` one must not name one.
    error BadPolicyConfig(Policy policy, address sequencer);

    constructor(Policy policy_, address sequencer_) {
        if ((policy_ == Policy.SEQUENCER) == (sequencer_ == address(0))) revert BadPolicyConfig(policy_, sequencer_);
        policy = policy_;
        sequencer = sequencer_;
    }

    /// @dev Revert unless `who` may settle now; `openToAll` is the rollup's own reason to let
    ///      anyone settle (the liveness fallback).
    function _authorizeSettler(address who, bool openToAll) internal view {
        if (policy == Policy.SEQUENCER && who != sequencer && !openToAll) revert NotSequencer(who);
    }
}
