// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {RollupBase} from "./RollupBase.sol";

/// @title ExecuteSettlement
/// @notice The chain of L2 blocks settled one by one through EXECUTE: the head (hash and
///         number), a ring buffer of settled state roots that withdrawals prove against, and
///         the settlement itself. The contract supplies the parent hash, pre-state root,
///         number, chain id and gas limit; EXECUTE checks everything else about the block.
abstract contract ExecuteSettlement is RollupBase {
    /// @notice How many settled L2 state roots stay provable (ring buffer by block number).
    uint256 public constant STATE_ROOT_HISTORY = 8191;

    struct SettledRoot {
        uint256 number;
        bytes32 stateRoot;
    }

    /// @notice Hash of the last settled L2 block.
    bytes32 public lastBlockHash;
    /// @notice Number of the last settled L2 block.
    uint256 public lastBlockNumber;
    SettledRoot[STATE_ROOT_HISTORY] private _settledRoots;
    /// @notice Messages `[0, anchoredMessageCount)` are claimable on L2 (the last anchor).
    uint256 public anchoredMessageCount;

    /// @notice L2 block `number` was settled with hash `blockHash`.
    event BlockSettled(
        uint256 indexed number,
        bytes32 indexed blockHash,
        bytes32 postStateRoot,
        uint256 gasUsed,
        uint256 burnedFees,
        uint256 executeFee
    );

    /// @param genesisHash      L2 genesis block hash (the first `parentHash`)
    /// @param genesisStateRoot L2 genesis state root (the first `preStateRoot`)
    constructor(bytes32 genesisHash, bytes32 genesisStateRoot) {
        lastBlockHash = genesisHash;
        _settledRoots[0] = SettledRoot(0, genesisStateRoot);
    }

    /// @dev The `ExecuteHead` of block `b` on top of the last settled block.
    function _nextHead(L2Block memory b) internal view returns (ExecuteHead memory) {
        return ExecuteHead({
            preStateRoot: _settledRoots[lastBlockNumber % STATE_ROOT_HISTORY].stateRoot,
            postStateRoot: b.postStateRoot,
            gasUsed: b.gasUsed,
            receiptsRoot: b.receiptsRoot,
            parentHash: lastBlockHash,
            chainId: l2ChainId,
            number: lastBlockNumber + 1,
            gasLimit: l2GasLimit,
            timestamp: b.timestamp,
            coinbase: b.coinbase,
            prevRandao: b.prevRandao,
            l1Anchor: b.anchor
        });
    }

    /// @dev Settle `b` as the next L2 block: EXECUTE re-executes `transactions` with `witness`
    ///      on top of the last settled block; on success the block becomes the new head and the
    ///      burned fees go to the caller. An invalid block reverts with EXECUTE's
    ///      `ExecuteInvalid(reason)` data.
    function _settle(L2Block memory b, bytes calldata transactions, bytes calldata witness)
        internal
        returns (ExecuteOutput memory out)
    {
        if (b.timestamp > block.timestamp) revert TimestampInFuture(b.timestamp, block.timestamp);
        anchoredMessageCount = _anchoredCount(b.anchor, anchoredMessageCount);
        ExecuteHead memory head = _nextHead(b);
        out = _execute(abi.encode(head, transactions, witness));
        if (out.number != head.number || out.postStateRoot != b.postStateRoot) revert UnexpectedExecuteOutput();
        lastBlockHash = out.blockHash;
        lastBlockNumber = head.number;
        _settledRoots[head.number % STATE_ROOT_HISTORY] = SettledRoot(head.number, out.postStateRoot);
        _payBurnedFees(out.burnedFees);
        emit BlockSettled(head.number, out.blockHash, out.postStateRoot, out.gasUsed, out.burnedFees, out.executeFee);
    }

    /// @notice The state root of settled L2 block `number`, while the ring buffer holds it.
    function settledStateRoot(uint256 number) public view returns (bytes32) {
        SettledRoot storage entry = _settledRoots[number % STATE_ROOT_HISTORY];
        if (number > lastBlockNumber || entry.number != number || entry.stateRoot == bytes32(0)) {
            revert L2BlockNotSettled(number);
        }
        return entry.stateRoot;
    }

    function _provableStateRoot(uint256 number) internal view override returns (bytes32) {
        return settledStateRoot(number);
    }
}
