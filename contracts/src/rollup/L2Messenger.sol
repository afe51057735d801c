// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {BitMaps} from "@openzeppelin/contracts/utils/structs/BitMaps.sol";

import {RollupMessages} from "./RollupMessages.sol";

/// @title L2Messenger
/// @notice The L2 end of the native rollup's messaging: a predeploy that releases L2 ETH
///         against L1 deposits and records withdrawals for the L1 to prove.
///
/// Predeploy: lives at `0x4200000000000000000000000000000000000007` in `genesis/l2.json`
/// with its runtime code and a pre-minted balance (1,000,000 ETH, the escrow capacity).
/// No constructor runs for a predeploy, so the contract has no immutables and needs no
/// initial storage. L2 ETH enters circulation only through {claim}, i.e. against ETH the L1
/// rollup contract escrows; {sendMessage} returns ETH to this contract's locked balance.
///
/// Storage layout (the L1 rollup contract proves slots of it, so it is fixed):
///   slot 0: `bytes32[] sentMessages` -- length at slot 0, entry `i` at
///           `uint256(keccak256(abi.encode(0))) + i`
///   slot 1: `BitMaps.BitMap _claimed` -- claimed L1 -> L2 message indices
///   transient: `_xDomainMessageSender` (no storage slot)
///
/// L1 -> L2: the sequencer anchors a root of the L1 message tree in each L2 block; EXECUTE
/// writes it into the EIP-4788 beacon-roots contract keyed by the L2 block timestamp.
/// {claim} reads the root back for a timestamp and verifies an OpenZeppelin `MerkleProof`
/// (commutative keccak pairs, as OpenZeppelin `MerkleTree` builds the L1 tree) of the
/// message's leaf. The beacon-roots ring keys roots by `timestamp % 8191`, so an anchor stays
/// readable for at least 8191 seconds; the newest anchor contains every older message.
///
/// Failed calls: if the call to `to` (or the fee payment) fails, {claim} reverts, so the
/// message stays unclaimed and anyone may retry it later (e.g. with more gas, or once the
/// recipient accepts it). A delivery can therefore never be burned by a caller that gives
/// too little gas; a recipient that always reverts keeps its deposit locked on L2.
contract L2Messenger {
    using BitMaps for BitMaps.BitMap;

    /// @notice The EIP-4788 beacon-roots contract, where EXECUTE writes the L1 anchor.
    address public constant BEACON_ROOTS = 0x000F3df6D732807Ef1319fB7B8bB8522d0Beac02;

    /// @notice Hashes of the L2 -> L1 messages, in order (storage slot 0).
    bytes32[] public sentMessages;

    BitMaps.BitMap private _claimed;

    address private transient _xDomainMessageSender;

    event MessageSent(
        uint256 indexed index,
        address indexed sender,
        address indexed to,
        uint256 value,
        uint256 fee,
        bytes data,
        bytes32 messageHash
    );
    event MessageClaimed(uint256 indexed index, bytes32 indexed messageHash, address indexed claimer);

    error UnknownAnchor(uint256 timestamp);
    error AlreadyClaimed(uint256 index);
    error InvalidMessageProof(uint256 index);
    error MessageCallFailed(uint256 index, bytes returnData);
    error FeePaymentFailed(address claimer);
    error FeeExceedsValue(uint256 fee, uint256 paid);
    error NotInMessage();

    /// @notice Deliver L1 -> L2 message `m`: verify it against the anchor of the L2 block at
    ///         `anchorTimestamp`, pay `m.value` to `m.to` calling it with `m.data`, pay
    ///         `m.fee` to the caller. Reverts (and stays claimable) if the call fails.
    function claim(RollupMessages.Message calldata m, bytes32[] calldata proof, uint256 anchorTimestamp)
        external
    {
        bytes32 root = anchorRoot(anchorTimestamp);
        if (_claimed.get(m.index)) revert AlreadyClaimed(m.index);
        bytes32 leaf = RollupMessages.hash(m);
        if (!MerkleProof.verifyCalldata(proof, root, leaf)) revert InvalidMessageProof(m.index);
        _claimed.set(m.index);

        address outer = _xDomainMessageSender;
        _xDomainMessageSender = m.sender;
        (bool ok, bytes memory returnData) = m.to.call{value: m.value}(m.data);
        _xDomainMessageSender = outer;
        if (!ok) revert MessageCallFailed(m.index, returnData);

        if (m.fee != 0) {
            (bool paid,) = msg.sender.call{value: m.fee}("");
            if (!paid) revert FeePaymentFailed(msg.sender);
        }
        emit MessageClaimed(m.index, leaf, msg.sender);
    }

    /// @notice Send an L2 -> L1 message: `msg.value - fee` to `to` on L1 (called with
    ///         `data`), `fee` to whoever claims it on L1. The ETH stays locked here.
    function sendMessage(address to, uint256 fee, bytes calldata data) external payable returns (uint256 index) {
        if (fee > msg.value) revert FeeExceedsValue(fee, msg.value);
        uint256 value = msg.value - fee;
        index = sentMessages.length;
        bytes32 messageHash = RollupMessages.hash(msg.sender, to, value, fee, keccak256(data), index);
        sentMessages.push(messageHash);
        emit MessageSent(index, msg.sender, to, value, fee, data, messageHash);
    }

    /// @notice The L1 message-tree root anchored in the L2 block at `timestamp`.
    function anchorRoot(uint256 timestamp) public view returns (bytes32 root) {
        (bool ok, bytes memory out) = BEACON_ROOTS.staticcall(abi.encode(timestamp));
        if (!ok || out.length != 32) revert UnknownAnchor(timestamp);
        root = abi.decode(out, (bytes32));
        if (root == bytes32(0)) revert UnknownAnchor(timestamp);
    }

    /// @notice The L1 sender of the message being delivered; reverts outside a delivery.
    function xDomainMessageSender() external view returns (address) {
        address sender = _xDomainMessageSender;
        if (sender == address(0)) revert NotInMessage();
        return sender;
    }

    function isClaimed(uint256 index) external view returns (bool) {
        return _claimed.get(index);
    }

    function sentMessageCount() external view returns (uint256) {
        return sentMessages.length;
    }
}
