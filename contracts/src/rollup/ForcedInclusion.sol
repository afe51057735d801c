// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {RLP} from "@openzeppelin/contracts/utils/RLP.sol";
import {Memory} from "@openzeppelin/contracts/utils/Memory.sol";

import {ExecuteSettlement} from "./ExecuteSettlement.sol";

/// @title ForcedInclusion
/// @notice An L1 user's way into the L2 past a censoring or dead sequencer.
///
/// {forceInclude} queues an EIP-1559 L2 transaction (signed for the L2 chain id, at most
/// {MAX_FORCED_TX_BYTES} bytes and {maxForcedTxGas} gas) against a fee of at least
/// `forceFee`; it becomes due `forceDelay` L1 blocks later. Queue order is FIFO.
///
/// Inclusion rule, checked on every settled block with OpenZeppelin `RLP` over the exact
/// `transactions` bytes handed to EXECUTE: the block opens with the queue's entries in order.
/// Every due entry (at most {MAX_FORCED_PER_BLOCK} per block, which always fit in the block's
/// gas) must be either
///   - included: the block's next transaction is exactly the queued bytes; or
///   - provably invalid: the settler hands in the entry with an EXECUTE witness, and EXECUTE,
///     run on this block's header fields over the forced transactions included before it
///     followed by the entry alone, answers "invalid transaction" (reason 6). The L2's own
///     rules decide (nonce, balance, fee, sender with code...), through the same code path
///     that settles blocks, so an invalid entry cannot block the queue and a valid one cannot
///     be dropped.
/// Entries not yet due may open the block too (in order) and leave the queue the same way.
/// A block that leaves out a due entry reverts with {ForcedTxMissing}. The entry's fee goes
/// to whoever settles the block that consumes it.
///
/// Liveness fallback: when the queue's head has been due and no block has been settled for
/// `forceDelay` L1 blocks, settlement opens to anyone and stays open until the queue drains.
abstract contract ForcedInclusion is ExecuteSettlement {
    using RLP for bytes;
    using RLP for Memory.Slice;
    using Memory for Memory.Slice;

    /// @notice Largest forced transaction, in bytes.
    uint256 public constant MAX_FORCED_TX_BYTES = 4096;
    /// @notice Most forced entries one block must consume.
    uint256 public constant MAX_FORCED_PER_BLOCK = 16;
    uint8 private constant EIP1559_TX_TYPE = 0x02;
    uint256 private constant EIP1559_FIELDS = 12;

    /// @notice One queued L2 transaction.
    struct ForcedTx {
        bytes32 txHash; // keccak256 of the typed transaction bytes (the L2 tx hash)
        uint64 dueBlock; // L1 block from which every settled block must consume it
        uint128 fee; // paid to the settler that consumes it
    }

    /// @notice A due entry the settler shows EXECUTE rejects as an invalid transaction.
    struct InvalidForcedTx {
        bytes l2Tx; // the queued bytes
        bytes witness; // EXECUTE witness for the proof block
    }

    /// @notice L1 blocks from {forceInclude} until the entry is due (and the fallback delay).
    uint256 public immutable forceDelay;
    /// @notice Least L1 fee of {forceInclude}.
    uint256 public immutable forceFee;

    ForcedTx[] private _forced;
    /// @notice Index of the queue's head (entries before it were consumed).
    uint256 public forcedHead;
    /// @notice L1 block of the last settlement (deployment block before any).
    uint256 public lastSettledL1Block;
    /// @notice The liveness fallback has opened and the queue has not drained since.
    bool public fallbackActive;

    /// @notice `l2Tx` entered the queue at `index`.
    event ForcedTxQueued(
        uint256 indexed index, bytes32 indexed txHash, address indexed payer, uint256 dueBlock, bytes l2Tx
    );
    /// @notice Entry `index` opened L2 block `l2BlockNumber`.
    event ForcedTxIncluded(uint256 indexed index, bytes32 indexed txHash, uint256 indexed l2BlockNumber);
    /// @notice Entry `index` was shown invalid on top of L2 block `l2BlockNumber - 1` and dropped.
    event ForcedTxSkipped(uint256 indexed index, bytes32 indexed txHash, uint256 indexed l2BlockNumber);

    error ForcedTxTooLarge(uint256 length, uint256 max);
    error ForcedTxNotEip1559();
    error ForcedTxWrongChain(uint256 chainId, uint256 l2ChainId);
    error ForcedTxGasTooHigh(uint256 gas, uint256 max);
    error ForceFeeTooLow(uint256 paid, uint256 fee);
    /// @notice Due entry `index` is neither the block's transaction at `position` nor shown invalid.
    error ForcedTxMissing(uint256 index, bytes32 txHash, uint256 position);
    /// @notice The invalidity proof of entry `index` is not for that entry.
    error InvalidityProofMismatch(uint256 index, bytes32 txHash, bytes32 given);
    /// @notice EXECUTE did not reject entry `index` as an invalid transaction (`valid` or `reason`).
    error ForcedTxNotProvenInvalid(uint256 index, bool valid, uint256 reason);
    /// @notice More invalidity proofs than due entries left out.
    error UnusedInvalidityProof(uint256 count);
    /// @notice `forceDelay` must be at least one L1 block.
    error ZeroForceDelay();

    /// @param forceDelay_ L1 blocks until an entry is due, and the fallback's delay: at least 1
    ///        (with 0 a single {forceInclude} would open settlement to anyone at once)
    /// @param forceFee_   least fee of {forceInclude}
    constructor(uint256 forceDelay_, uint256 forceFee_) {
        if (forceDelay_ == 0) revert ZeroForceDelay();
        forceDelay = forceDelay_;
        forceFee = forceFee_;
        lastSettledL1Block = block.number;
    }

    /// @notice Queue the L2 transaction `l2Tx` (EIP-1559, `0x02 || rlp(...)`, signed for this
    ///         L2) for forced inclusion; it is due `forceDelay` L1 blocks from now. `msg.value`
    ///         (at least `forceFee`) goes to the settler that consumes it. Its validity on L2 is
    ///         not checked here: EXECUTE decides when it is due.
    /// @return index the entry's position in the queue
    function forceInclude(bytes calldata l2Tx) external payable returns (uint256 index) {
        if (l2Tx.length > MAX_FORCED_TX_BYTES) revert ForcedTxTooLarge(l2Tx.length, MAX_FORCED_TX_BYTES);
        if (msg.value < forceFee) revert ForceFeeTooLow(msg.value, forceFee);
        if (l2Tx.length < 2 || uint8(l2Tx[0]) != EIP1559_TX_TYPE) revert ForcedTxNotEip1559();
        Memory.Slice[] memory fields = bytes(l2Tx[1:]).decodeList();
        if (fields.length != EIP1559_FIELDS) revert ForcedTxNotEip1559();
        uint256 chainId = fields[0].readUint256();
        if (chainId != l2ChainId) revert ForcedTxWrongChain(chainId, l2ChainId);
        uint256 gas = fields[4].readUint256();
        if (gas > maxForcedTxGas()) revert ForcedTxGasTooHigh(gas, maxForcedTxGas());

        index = _forced.length;
        bytes32 txHash = keccak256(l2Tx);
        uint256 dueBlock = block.number + forceDelay;
        _forced.push(ForcedTx(txHash, uint64(dueBlock), uint128(msg.value)));
        emit ForcedTxQueued(index, txHash, msg.sender, dueBlock, l2Tx);
    }

    /// @notice Largest gas limit of a forced transaction: {MAX_FORCED_PER_BLOCK} of them fit
    ///         in one L2 block.
    function maxForcedTxGas() public view returns (uint256) {
        return l2GasLimit / MAX_FORCED_PER_BLOCK;
    }

    /// @notice Entries ever queued (the next index).
    function forcedCount() external view returns (uint256) {
        return _forced.length;
    }

    /// @notice Queue entry `index` (consumed or not).
    function forcedTx(uint256 index) external view returns (ForcedTx memory) {
        return _forced[index];
    }

    /// @notice How many entries from the head are due now (capped at {MAX_FORCED_PER_BLOCK}).
    function dueCount() public view returns (uint256 count) {
        uint256 end = _forced.length;
        for (uint256 i = forcedHead; i < end && count < MAX_FORCED_PER_BLOCK; ++i) {
            if (_forced[i].dueBlock > block.number) break;
            ++count;
        }
    }

    /// @notice Whether the liveness fallback lets anyone settle now: the head has been due and
    ///         nothing was settled for `forceDelay` L1 blocks, or the fallback opened and the
    ///         queue has not drained since.
    function forcedFallbackOpen() public view returns (bool) {
        if (forcedHead == _forced.length) return false;
        if (fallbackActive) return true;
        uint256 dueBlock = _forced[forcedHead].dueBlock;
        if (block.number < dueBlock) return false;
        uint256 since = dueBlock > lastSettledL1Block ? dueBlock : lastSettledL1Block;
        return block.number >= since + forceDelay;
    }

    /// @dev Check and consume the queue for block `b` (the next one) whose body is
    ///      `transactions`. Call before settling it; returns the consumed entries' fees, to
    ///      pay the caller once the block is settled.
    function _consumeForced(L2Block memory b, bytes calldata transactions, InvalidForcedTx[] memory invalid)
        internal
        returns (uint256 fees)
    {
        uint256 end = _forced.length;
        uint256 head = forcedHead;
        if (head == end) {
            if (invalid.length != 0) revert UnusedInvalidityProof(invalid.length);
            return 0;
        }
        if (forcedFallbackOpen()) fallbackActive = true;
        uint256 number = lastBlockNumber + 1;
        Memory.Slice[] memory items = bytes(transactions).decodeList();
        uint256 position;
        uint256 proofs;
        for (uint256 k; k < MAX_FORCED_PER_BLOCK && head < end; ++k) {
            ForcedTx memory entry = _forced[head];
            if (position < items.length && _typedTxHash(items[position]) == entry.txHash) {
                ++position;
                emit ForcedTxIncluded(head, entry.txHash, number);
            } else if (entry.dueBlock > block.number) {
                break; // not due, not included: it waits
            } else if (proofs < invalid.length) {
                _proveInvalid(head, entry.txHash, b, items, position, invalid[proofs++]);
                emit ForcedTxSkipped(head, entry.txHash, number);
            } else {
                revert ForcedTxMissing(head, entry.txHash, position);
            }
            fees += entry.fee;
            ++head;
        }
        if (proofs != invalid.length) revert UnusedInvalidityProof(invalid.length - proofs);
        forcedHead = head;
        if (head == end) fallbackActive = false;
    }

    /// @dev Require EXECUTE to reject, as an invalid transaction, block `b` holding the block's
    ///      first `position` transactions (forced ones, included above) and then `p.l2Tx`.
    function _proveInvalid(
        uint256 index,
        bytes32 txHash,
        L2Block memory b,
        Memory.Slice[] memory items,
        uint256 position,
        InvalidForcedTx memory p
    ) private {
        bytes32 given = keccak256(p.l2Tx);
        if (given != txHash) revert InvalidityProofMismatch(index, txHash, given);
        bytes[] memory body = new bytes[](position + 1);
        for (uint256 i; i < position; ++i) {
            body[i] = items[i].toBytes();
        }
        body[position] = RLP.encode(p.l2Tx); // a typed tx is a byte string in a block body
        (bool valid, uint256 reason) = _tryExecute(abi.encode(_nextHead(b), RLP.encode(body), p.witness));
        if (valid || reason != REASON_INVALID_TRANSACTION) revert ForcedTxNotProvenInvalid(index, valid, reason);
    }

    /// @dev keccak256 of a typed transaction in a block body (a byte string); zero for a
    ///      legacy transaction (a list), which never matches a queued entry.
    function _typedTxHash(Memory.Slice item) private pure returns (bytes32) {
        if (uint8(bytes1(item.load(0))) >= 0xc0) return bytes32(0);
        return keccak256(item.readBytes());
    }

    /// @dev Record that a block was settled in this L1 block.
    function _noteSettled() internal {
        lastSettledL1Block = block.number;
    }
}
