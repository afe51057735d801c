// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

import {RollupBase} from "./RollupBase.sol";
import {ExecuteSettlement} from "./ExecuteSettlement.sol";
import {ForcedInclusion} from "./ForcedInclusion.sol";
import {SequencingPolicy} from "./SequencingPolicy.sol";

/// @title NativeRollup
/// @notice The L1 contract of one native rollup that settles every L2 block by re-executing
///         it with the EXECUTE precompile ({RollupBase}, {ExecuteSettlement}), under a sequencing policy fixed at
///         deployment ({SequencingPolicy}: `SEQUENCER` or `BASED`), with a forced-inclusion
///         queue and its liveness fallback ({ForcedInclusion}).
///
/// Each settlement is exactly the next L2 block on top of the last settled one; EXECUTE checks
/// everything about it, and the contract supplies the parent hash, pre-state root, number,
/// chain id and gas limit itself. {advanceTo} names the block number it settles, so that under
/// `BASED` a block that lost the race for its number fails cleanly with {BlockAlreadySettled}
/// (before any EXECUTE call) instead of being re-executed on the wrong parent. Settling is not
/// re-entrant (OpenZeppelin `ReentrancyGuardTransient`): the burned fees and forced-inclusion
/// fees paid to the settler cannot call back into a settlement half done.
contract NativeRollup is ForcedInclusion, SequencingPolicy, ReentrancyGuardTransient {
    /// @notice Block `number` was already settled (another settler won it).
    error BlockAlreadySettled(uint256 number, uint256 lastBlockNumber);
    /// @notice Block `number` is not the next one, `next`.
    error BlockNotNext(uint256 number, uint256 next);

    /// @param genesisHash      L2 genesis block hash (the first `parentHash`)
    /// @param genesisStateRoot L2 genesis state root (the first `preStateRoot`)
    /// @param chainId_         L2 chain id
    /// @param gasLimit_        L2 block gas limit (fixed)
    /// @param sequencer_       the sequencer (`SEQUENCER`), zero under `BASED`
    /// @param l2Messenger_     the L2 messenger predeploy whose `sentMessages` claims prove
    /// @param policy_          the sequencing policy
    /// @param forceDelay_      L1 blocks until a forced transaction is due (and the fallback delay)
    /// @param forceFee_        least L1 fee of a forced transaction
    constructor(
        bytes32 genesisHash,
        bytes32 genesisStateRoot,
        uint256 chainId_,
        uint256 gasLimit_,
        address sequencer_,
        address l2Messenger_,
        Policy policy_,
        uint256 forceDelay_,
        uint256 forceFee_
    )
        payable
        RollupBase(chainId_, gasLimit_, l2Messenger_)
        ExecuteSettlement(genesisHash, genesisStateRoot)
        ForcedInclusion(forceDelay_, forceFee_)
        SequencingPolicy(policy_, sequencer_)
    {}

    /// @notice Settle the next L2 block: EXECUTE re-executes `transactions` on top of the
    ///         last settled block with `witness`; on success the block becomes the new head.
    ///         An invalid block reverts with EXECUTE's `ExecuteInvalid(reason)` data (the
    ///         execute fee is still drawn from `tx.origin`). Due forced transactions must open
    ///         the block ({ForcedInclusion}); use {advanceTo} to drop one proven invalid.
    function advance(
        bytes32 postStateRoot,
        bytes32 receiptsRoot,
        uint256 gasUsed,
        uint256 timestamp,
        address coinbase,
        bytes32 prevRandao,
        bytes32 anchor,
        bytes calldata transactions,
        bytes calldata witness
    ) external nonReentrant returns (bytes32 blockHash) {
        InvalidForcedTx[] memory none;
        return _advance(
            L2Block(postStateRoot, receiptsRoot, gasUsed, timestamp, coinbase, prevRandao, anchor),
            transactions,
            witness,
            none
        );
    }

    /// @notice Settle L2 block `number`, which must be the next one: reverts with
    ///         {BlockAlreadySettled} if it was settled already, {BlockNotNext} if it is ahead.
    ///         `invalid` shows, in queue order, the due forced transactions the block leaves
    ///         out because EXECUTE rejects them ({ForcedInclusion}).
    function advanceTo(
        uint256 number,
        L2Block calldata b,
        bytes calldata transactions,
        bytes calldata witness,
        InvalidForcedTx[] calldata invalid
    ) external nonReentrant returns (bytes32 blockHash) {
        if (number <= lastBlockNumber) revert BlockAlreadySettled(number, lastBlockNumber);
        if (number != lastBlockNumber + 1) revert BlockNotNext(number, lastBlockNumber + 1);
        return _advance(b, transactions, witness, invalid);
    }

    /// @notice Whether `who` may settle the next block now (policy or liveness fallback).
    function maySettle(address who) external view returns (bool) {
        return policy == Policy.BASED || who == sequencer || forcedFallbackOpen();
    }

    function _advance(
        L2Block memory b,
        bytes calldata transactions,
        bytes calldata witness,
        InvalidForcedTx[] memory invalid
    ) private returns (bytes32) {
        _authorizeSettler(msg.sender, forcedFallbackOpen());
        uint256 forcedFees = _consumeForced(b, transactions, invalid);
        ExecuteOutput memory out = _settle(b, transactions, witness);
        _noteSettled();
        if (forcedFees != 0) _pay(msg.sender, forcedFees); // last: nothing is left to check
        return out.blockHash;
    }
}
