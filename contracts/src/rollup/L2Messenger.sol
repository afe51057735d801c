// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

import {RollupMessages} from "./RollupMessages.sol";

/// @title L2Messenger
/// @notice The L2 end of the native rollup's messaging: a predeploy that releases L2 ETH
///         against L1 deposits and records withdrawals for the L1 to prove.
///
/// Predeploy: lives at `0x4200000000000000000000000000000000000007` in `genesis/l2.json`
/// with its runtime code and a pre-minted balance (1,000,000 ETH, the escrow capacity), and
/// no initial storage. L2 ETH enters circulation only through {claim}, i.e. against ETH the
/// L1 rollup contract escrows; {sendMessage} returns ETH to this contract's locked balance.
///
/// Storage: everything lives in one ERC-7201 namespace ({STORAGE_LOCATION}), as hash-keyed
/// mappings. The L1 rollup contract proves `sent[messageHash] == true`, i.e. the slot
/// `keccak256(abi.encode(messageHash, STORAGE_LOCATION))`: the slot is a hash of the very
/// message it vouches for, so no message (and no other state) can steer it onto another
/// slot, and nothing the contract writes there is anything but `true`.
///
/// Binding: the predeploy cannot know the L1 chain id and rollup address at genesis. Every
/// L1 -> L2 message hash carries them, and the first successful Merkle proof against an
/// anchored root (which the L1 contract only accepts from its own tree) binds the messenger
/// to that domain for good ({RollupBound}); later claims must name the same one, and
/// {sendMessage} refuses to run before the binding.
///
/// L1 -> L2: the sequencer anchors a root of the L1 message tree in each L2 block; EXECUTE
/// writes it into the EIP-4788 beacon-roots contract keyed by the L2 block timestamp.
/// {claim} reads the root back for a timestamp and verifies an OpenZeppelin `MerkleProof`
/// of exactly {MESSAGE_TREE_DEPTH} siblings (commutative keccak pairs, as OpenZeppelin
/// `MerkleTree` builds the L1 tree).
///
/// Failed calls: a claim that gives too little gas for `minGasLimit` reverts (nothing
/// changes). A call that fails with enough gas is recorded ({MessageDeliveryFailed},
/// {failedAt}); the message stays deliverable, and anyone may retry it. Once
/// {REFUND_DELAY} has passed since its first failure, anyone may {refund} it instead: the
/// message is marked done (so it can never be delivered too) and an L2 -> L1 message from
/// this contract returns `value + fee` to the L1 sender, who claims it on L1 like any
/// withdrawal. Delivery and refund share the one `done` flag, so a message pays out once.
contract L2Messenger {
    /// @notice The EIP-4788 beacon-roots contract, where EXECUTE writes the L1 anchor.
    address public constant BEACON_ROOTS = RollupMessages.BEACON_ROOTS;
    /// @notice Depth of the L1 message tree: every proof has exactly this many siblings.
    uint256 public constant MESSAGE_TREE_DEPTH = 32;
    /// @notice Seconds after a message's first failed delivery before it may be refunded.
    uint256 public constant REFUND_DELAY = 1 days;
    /// @notice ERC-7201 base of the messenger's storage:
    ///         `keccak256(abi.encode(uint256(keccak256("native-rollup.L2Messenger")) - 1)) & ~bytes32(uint256(0xff))`.
    bytes32 public constant STORAGE_LOCATION = 0x69fdd5c6a0cdd3ec7e220012ad5384810d755d84ec4339c53dde910ced467900;

    /// @custom:storage-location erc7201:native-rollup.L2Messenger
    struct MessengerStorage {
        /// L2 -> L1 messages sent here (offset 0: the L1 proves these entries).
        mapping(bytes32 messageHash => bool) sent;
        /// L1 -> L2 messages delivered or refunded.
        mapping(bytes32 messageHash => bool) done;
        /// L1 -> L2 messages whose call failed: the time of the first failure.
        mapping(bytes32 messageHash => uint256) failedAt;
        /// The next L2 -> L1 nonce.
        uint256 sentCount;
        /// The bound domain (zero until the first claim).
        uint256 l1ChainId;
        address rollup;
    }

    address private transient _xDomainMessageSender;

    /// @notice An L2 -> L1 message was sent (a withdrawal, a call, or a refund from here).
    event MessageSent(
        uint256 indexed nonce,
        address indexed sender,
        address indexed to,
        uint256 value,
        uint256 fee,
        uint256 minGasLimit,
        bytes data,
        bytes32 messageHash
    );
    /// @notice L1 -> L2 message `messageHash` was delivered; `claimer` got its fee.
    event MessageDelivered(bytes32 indexed messageHash, uint256 indexed nonce, address indexed claimer);
    /// @notice The call of L1 -> L2 message `messageHash` failed (first {MAX_RETURN_DATA} bytes
    ///         of what it returned); the message stays deliverable.
    event MessageDeliveryFailed(bytes32 indexed messageHash, uint256 indexed nonce, bytes returnData);
    /// @notice L1 -> L2 message `messageHash` was refunded by L2 -> L1 message `refundHash`.
    event MessageRefunded(bytes32 indexed messageHash, uint256 indexed nonce, bytes32 refundHash);
    /// @notice The messenger is bound to the rollup `rollup` on L1 chain `l1ChainId`.
    event RollupBound(uint256 l1ChainId, address rollup);

    error UnknownAnchor(uint256 timestamp);
    error AlreadyDone(bytes32 messageHash);
    error InvalidMessageProof(bytes32 messageHash);
    error WrongDomain(uint256 l1ChainId, address rollup);
    error NotBound();
    error NotFailed(bytes32 messageHash);
    error RefundNotDue(bytes32 messageHash, uint256 dueAt);
    error FeePaymentFailed(address claimer);
    error NotInMessage();

    function _storage() private pure returns (MessengerStorage storage $) {
        assembly ("memory-safe") {
            $.slot := STORAGE_LOCATION
        }
    }

    // -- L1 -> L2 ---------------------------------------------------------------------------

    /// @notice Deliver L1 -> L2 message `m` of rollup `rollup` on L1 chain `l1ChainId`: verify
    ///         it against the anchor of the L2 block at `anchorTimestamp`, call `m.to` with
    ///         `m.value` and `m.data` (at least `m.minGasLimit` gas, the L1 sender readable
    ///         through {xDomainMessageSender}), and pay `m.fee` to the caller.
    /// @return delivered true if the call succeeded; false if it failed (recorded, no fee paid,
    ///         the message stays deliverable). Reverts, changing nothing, on a bad proof, a
    ///         message already done, or too little gas for `m.minGasLimit`.
    function claim(
        uint256 l1ChainId,
        address rollup,
        RollupMessages.Message calldata m,
        bytes32[] calldata proof,
        uint256 anchorTimestamp
    ) external returns (bool delivered) {
        MessengerStorage storage $ = _storage();
        bytes32 messageHash = _verify($, l1ChainId, rollup, m, proof, anchorTimestamp);
        $.done[messageHash] = true; // before the call: a re-entering claim finds it done

        address outer = _xDomainMessageSender;
        _xDomainMessageSender = m.sender;
        (bool ok, bytes memory returnData) = RollupMessages.relay(m);
        _xDomainMessageSender = outer;
        if (!ok) {
            $.done[messageHash] = false;
            if ($.failedAt[messageHash] == 0) $.failedAt[messageHash] = block.timestamp;
            emit MessageDeliveryFailed(messageHash, m.nonce, returnData);
            return false;
        }
        if (m.fee != 0) {
            (bool paid,) = RollupMessages.callBounded(msg.sender, gasleft(), m.fee, "");
            if (!paid) revert FeePaymentFailed(msg.sender);
        }
        emit MessageDelivered(messageHash, m.nonce, msg.sender);
        return true;
    }

    /// @notice Refund L1 -> L2 message `m` whose delivery failed at least {REFUND_DELAY}
    ///         seconds ago: mark it done and send `m.value + m.fee` back to `m.sender` on L1
    ///         as an L2 -> L1 message from this contract (fee 0, no data, no gas floor).
    ///         Anyone may call it; the ETH only ever goes to the L1 sender.
    /// @return refundHash the hash of the L2 -> L1 refund message
    function refund(
        uint256 l1ChainId,
        address rollup,
        RollupMessages.Message calldata m,
        bytes32[] calldata proof,
        uint256 anchorTimestamp
    ) external returns (bytes32 refundHash) {
        MessengerStorage storage $ = _storage();
        bytes32 messageHash = _verify($, l1ChainId, rollup, m, proof, anchorTimestamp);
        uint256 failed = $.failedAt[messageHash];
        if (failed == 0) revert NotFailed(messageHash);
        if (block.timestamp < failed + REFUND_DELAY) revert RefundNotDue(messageHash, failed + REFUND_DELAY);
        $.done[messageHash] = true;
        refundHash = _send($, address(this), m.sender, m.value + m.fee, 0, 0, "");
        emit MessageRefunded(messageHash, m.nonce, refundHash);
    }

    /// @dev Binds on first use, then: message not done, proof of exactly the tree depth
    ///      against a non-zero anchored root. Returns the message hash.
    function _verify(
        MessengerStorage storage $,
        uint256 l1ChainId,
        address rollup,
        RollupMessages.Message calldata m,
        bytes32[] calldata proof,
        uint256 anchorTimestamp
    ) private returns (bytes32 messageHash) {
        bytes32 root = anchorRoot(anchorTimestamp);
        bool bound = $.rollup != address(0);
        if (bound && ($.rollup != rollup || $.l1ChainId != l1ChainId)) revert WrongDomain(l1ChainId, rollup);
        messageHash = RollupMessages.hash(
            RollupMessages.L1_TO_L2, RollupMessages.Domain(l1ChainId, block.chainid, rollup), m
        );
        if ($.done[messageHash]) revert AlreadyDone(messageHash);
        if (proof.length != MESSAGE_TREE_DEPTH || !MerkleProof.verifyCalldata(proof, root, messageHash)) {
            revert InvalidMessageProof(messageHash);
        }
        if (!bound) {
            $.l1ChainId = l1ChainId;
            $.rollup = rollup;
            emit RollupBound(l1ChainId, rollup);
        }
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

    /// @notice Whether L1 -> L2 message `messageHash` was delivered or refunded.
    function isDone(bytes32 messageHash) external view returns (bool) {
        return _storage().done[messageHash];
    }

    /// @notice When the call of L1 -> L2 message `messageHash` first failed (0: never).
    function failedAt(bytes32 messageHash) external view returns (uint256) {
        return _storage().failedAt[messageHash];
    }

    // -- L2 -> L1 ---------------------------------------------------------------------------

    /// @notice Send an L2 -> L1 message: `msg.value - fee` to `to` on L1 (called with `data`
    ///         and at least `minGasLimit` gas), `fee` to whoever claims it on L1. The ETH stays
    ///         locked here. `to` may not be the rollup contract or an L1 system address.
    /// @return messageHash the hash the L1 proves (`sent[messageHash]`)
    function sendMessage(address to, uint256 minGasLimit, uint256 fee, bytes calldata data)
        external
        payable
        returns (bytes32 messageHash)
    {
        MessengerStorage storage $ = _storage();
        if ($.rollup == address(0)) revert NotBound();
        uint256 value = RollupMessages.checkSend(to, $.rollup, minGasLimit, fee, msg.value);
        return _send($, msg.sender, to, value, fee, minGasLimit, data);
    }

    function _send(
        MessengerStorage storage $,
        address sender,
        address to,
        uint256 value,
        uint256 fee,
        uint256 minGasLimit,
        bytes memory data
    ) private returns (bytes32 messageHash) {
        uint256 nonce = $.sentCount++;
        messageHash = RollupMessages.hash(
            RollupMessages.L2_TO_L1,
            RollupMessages.Domain($.l1ChainId, block.chainid, $.rollup),
            nonce,
            sender,
            to,
            value,
            fee,
            minGasLimit,
            keccak256(data)
        );
        $.sent[messageHash] = true;
        emit MessageSent(nonce, sender, to, value, fee, minGasLimit, data, messageHash);
    }

    /// @notice Whether L2 -> L1 message `messageHash` was sent.
    function isSent(bytes32 messageHash) external view returns (bool) {
        return _storage().sent[messageHash];
    }

    /// @notice How many L2 -> L1 messages were sent (the next nonce).
    function sentMessageCount() external view returns (uint256) {
        return _storage().sentCount;
    }

    /// @notice The L1 chain id and rollup this messenger is bound to (zero before the first claim).
    function boundRollup() external view returns (uint256 l1ChainId, address rollup) {
        MessengerStorage storage $ = _storage();
        return ($.l1ChainId, $.rollup);
    }
}
