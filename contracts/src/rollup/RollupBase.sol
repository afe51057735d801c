// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {RLP} from "@openzeppelin/contracts/utils/RLP.sol";
import {Memory} from "@openzeppelin/contracts/utils/Memory.sol";
import {TrieProof} from "@openzeppelin/contracts/utils/cryptography/TrieProof.sol";
import {MerkleTree} from "@openzeppelin/contracts/utils/structs/MerkleTree.sol";

import {RollupMessages} from "./RollupMessages.sol";

/// @title RollupBase
/// @notice What every native rollup of this family shares, whoever may settle and however:
///         the EXECUTE call and its input/output layout, the L1 escrow of L2 ETH, and
///         messaging both ways. It keeps no chain of its own: {ExecuteSettlement} settles
///         every block through EXECUTE ({NativeRollup}), an optimistic rollup keeps proposals
///         that become provable once final. Each says which L2 state roots withdrawals may
///         prove against ({_provableStateRoot}).
///
/// Fees: EXECUTE draws its execute fee from `tx.origin`. The L2 base fee (`burnedFees` in
/// EXECUTE's output) destroys L2 ETH that this contract still escrows, so settling through
/// EXECUTE pays it from the escrow to the settler ({_payBurnedFees}), which keeps the escrow equal to the L2 ETH in circulation.
/// ETH sent to the constructor backs any L2 genesis balances outside the messenger. If the
/// escrow cannot pay the burned fees (only an under-backed L2 genesis can cause that) the
/// block is refused with {BurnedFeesExceedEscrow}; anyone can restore the backing with
/// {addEscrow}.
///
/// L1 -> L2: {sendMessage} appends the message hash (see {RollupMessages}) to an append-only
/// OpenZeppelin `MerkleTree` (depth 32, empty leaf `bytes32(0)`, commutative keccak pairs,
/// which the L2 messenger verifies with `MerkleProof`). A settled block's anchor must be a root
/// this tree has had (or zero, "no new messages"), never older than the last anchored one.
///
/// L2 -> L1: {claimL2Message} proves, with OpenZeppelin `TrieProof`, the L2 messenger's
/// account and its `sent[messageHash]` entry against a settled L2 state root, then releases
/// the escrow. The proven slot is `keccak256(abi.encode(messageHash, SENT_MESSAGES_SLOT))`
/// and must hold `true`: it is derived from the message itself, so no field of the message
/// can point the proof at other messenger state. Claims are recorded by message hash. If the
/// call to `to` or the fee payment fails the claim reverts and the message stays claimable;
/// a claim with too little gas for the message's `minGasLimit` reverts too.
///
/// Messages carry the rollup's domain (see {RollupMessages}): L1 chain id, L2 chain id, this
/// contract's address and the direction. `to` may not be the L2 messenger or a system
/// address (L1 -> L2), nor this contract or an L1 system address (L2 -> L1).
abstract contract RollupBase {
    using MerkleTree for MerkleTree.Bytes32PushTree;
    using RLP for bytes;
    using RLP for Memory.Slice;

    /// @notice The EXECUTE precompile (NR-EXECUTE v1).
    address public constant EXECUTE = address(0x0101);
    /// @notice EXECUTE's reason code for an invalid transaction.
    uint256 public constant REASON_INVALID_TRANSACTION = 6;
    /// @notice Depth of the L1 -> L2 message tree (2**32 messages).
    uint8 public constant MESSAGE_TREE_DEPTH = 32;
    /// @notice Base slot of the L2 messenger's `sent` mapping: its ERC-7201 namespace
    ///         (`L2Messenger.STORAGE_LOCATION`, the mapping is the namespace's first member).
    bytes32 public constant SENT_MESSAGES_SLOT = 0x69fdd5c6a0cdd3ec7e220012ad5384810d755d84ec4339c53dde910ced467900;

    /// @notice EXECUTE's `ExecuteHead` (12 static words).
    struct ExecuteHead {
        bytes32 preStateRoot;
        bytes32 postStateRoot;
        uint256 gasUsed;
        bytes32 receiptsRoot;
        bytes32 parentHash;
        uint256 chainId;
        uint256 number;
        uint256 gasLimit;
        uint256 timestamp;
        address coinbase;
        bytes32 prevRandao;
        bytes32 l1Anchor;
    }

    /// @notice EXECUTE's output on success (8 words).
    struct ExecuteOutput {
        bytes32 postStateRoot;
        uint256 number;
        uint256 gasUsed;
        uint256 burnedFees;
        uint256 baseFeePerGas;
        bytes32 blockHash;
        uint256 executeFee;
        uint256 executeBaseFeePerGas;
    }

    /// @notice The L2 fields of a block a settler claims (the rest comes from storage).
    struct L2Block {
        bytes32 postStateRoot;
        bytes32 receiptsRoot;
        uint256 gasUsed;
        uint256 timestamp;
        address coinbase;
        bytes32 prevRandao;
        bytes32 anchor;
    }

    /// @notice The L2 chain id (EXECUTE's `chainId`).
    uint256 public immutable l2ChainId;
    /// @notice The L2 block gas limit (fixed, EXECUTE's `gasLimit`).
    uint256 public immutable l2GasLimit;
    /// @notice The L2 messenger predeploy whose `sent` entries withdrawals prove.
    address public immutable l2Messenger;

    MerkleTree.Bytes32PushTree private _messageTree;
    /// @notice The current root of the L1 -> L2 message tree.
    bytes32 public messageRoot;
    /// @notice Leaves of the message tree, in order (`messageLeaves.length` messages sent).
    bytes32[] public messageLeaves;
    /// @dev Every root the tree has had -> (message count at that root) + 1.
    mapping(bytes32 root => uint256 countPlusOne) private _messageRoots;
    /// @notice L2 -> L1 messages claimed here, by message hash.
    mapping(bytes32 messageHash => bool) public isL2MessageClaimed;
    /// @notice L1 ETH held against L2 ETH in circulation.
    uint256 public escrowed;

    address private transient _xDomainMessageSender;

    /// @notice L1 -> L2 message `nonce` was appended to the message tree.
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
    /// @notice L2 -> L1 message `messageHash` was delivered; `claimer` got its fee.
    event L2MessageClaimed(bytes32 indexed messageHash, uint256 indexed nonce, address indexed claimer);
    /// @notice `from` added `amount` wei of backing to the escrow.
    event EscrowAdded(address indexed from, uint256 amount);

    error TimestampInFuture(uint256 timestamp, uint256 now_);
    error UnknownAnchor(bytes32 anchor);
    error StaleAnchor(bytes32 anchor, uint256 messageCount, uint256 anchoredMessageCount);
    error ExecuteHalted();
    error UnexpectedExecuteOutput();
    error L2BlockNotSettled(uint256 number);
    error AlreadyClaimed(bytes32 messageHash);
    error MessageNotSent(bytes32 messageHash);
    error InsufficientEscrow(uint256 wanted, uint256 escrowed);
    error BurnedFeesExceedEscrow(uint256 burnedFees, uint256 escrowed);
    error MessageCallFailed(bytes32 messageHash, bytes returnData);
    error PaymentFailed(address to);
    error NotInMessage();

    /// @param chainId_     L2 chain id
    /// @param gasLimit_    L2 block gas limit (fixed)
    /// @param l2Messenger_ the L2 messenger predeploy whose `sent` entries {claimL2Message} proves
    constructor(uint256 chainId_, uint256 gasLimit_, address l2Messenger_) payable {
        l2ChainId = chainId_;
        l2GasLimit = gasLimit_;
        l2Messenger = l2Messenger_;
        bytes32 emptyRoot = _messageTree.setup(MESSAGE_TREE_DEPTH, bytes32(0));
        messageRoot = emptyRoot;
        _messageRoots[emptyRoot] = 1;
        escrowed = msg.value;
    }

    // -- EXECUTE ----------------------------------------------------------------------------

    /// @dev The message count a block anchored at `anchor` makes claimable, after a parent
    ///      that made `previousCount` claimable: zero keeps it ("no new messages"); any other
    ///      anchor must be a root the message tree has had, never older than the parent's.
    function _anchoredCount(bytes32 anchor, uint256 previousCount) internal view returns (uint256) {
        if (anchor == bytes32(0)) return previousCount;
        uint256 countPlusOne = _messageRoots[anchor];
        if (countPlusOne == 0) revert UnknownAnchor(anchor);
        uint256 count = countPlusOne - 1;
        if (count < previousCount) revert StaleAnchor(anchor, count, previousCount);
        return count;
    }

    /// @dev Call EXECUTE with `input`; a halt reverts {ExecuteHalted}, an invalid block reverts
    ///      with EXECUTE's own `ExecuteInvalid(reason)` data.
    function _execute(bytes memory input) internal returns (ExecuteOutput memory) {
        (bool ok, bytes memory out) = EXECUTE.call(input);
        if (!ok) {
            if (out.length == 0) revert ExecuteHalted();
            assembly ("memory-safe") {
                revert(add(out, 0x20), mload(out)) // ExecuteInvalid(reason), as EXECUTE said it
            }
        }
        if (out.length != 256) revert UnexpectedExecuteOutput();
        return abi.decode(out, (ExecuteOutput));
    }

    /// @dev EXECUTE's verdict on `input` without reverting: `(true, 0)` for a valid block,
    ///      `(false, reason)` for an invalid one, `(false, 0)` for a halt.
    function _tryExecute(bytes memory input) internal returns (bool valid, uint256 reason) {
        (bool ok, bytes memory out) = EXECUTE.call(input);
        if (ok) return (true, 0);
        if (out.length == 36) {
            assembly ("memory-safe") {
                reason := mload(add(out, 0x24))
            }
        }
        return (false, reason);
    }

    /// @dev L2 base fees are L2 ETH destroyed while its L1 backing stays here: release it to
    ///      the settler. An escrow smaller than the fees means the L2 holds ETH the L1 never
    ///      backed; paying less would hide that, so the block is refused until {addEscrow}.
    function _payBurnedFees(uint256 burnedFees) internal {
        if (burnedFees == 0) return;
        if (burnedFees > escrowed) revert BurnedFeesExceedEscrow(burnedFees, escrowed);
        escrowed -= burnedFees;
        _pay(msg.sender, burnedFees);
    }

    /// @notice Add `msg.value` to the escrow without minting anything on L2 (restores the
    ///         backing of an under-backed L2 genesis).
    function addEscrow() external payable {
        escrowed += msg.value;
        emit EscrowAdded(msg.sender, msg.value);
    }

    /// @dev The L2 state root withdrawals from block `number` prove against; reverts if block
    ///      `number` is not settled (or not final) here.
    function _provableStateRoot(uint256 number) internal view virtual returns (bytes32);

    // -- L1 -> L2 ---------------------------------------------------------------------------

    /// @notice Send a message to L2: `msg.value - fee` goes to `to` (called with `data` and
    ///         at least `minGasLimit` gas), `fee` to whoever delivers it on L2. All of
    ///         `msg.value` is escrowed here. `to` may not be the L2 messenger or a system address.
    /// @return nonce the message's leaf index in the message tree
    function sendMessage(address to, uint256 minGasLimit, uint256 fee, bytes calldata data)
        external
        payable
        returns (uint256 nonce)
    {
        uint256 value = RollupMessages.checkSend(to, l2Messenger, minGasLimit, fee, msg.value);
        nonce = messageLeaves.length;
        bytes32 leaf = RollupMessages.hash(
            RollupMessages.L1_TO_L2, domain(), nonce, msg.sender, to, value, fee, minGasLimit, keccak256(data)
        );
        (, bytes32 newRoot) = _messageTree.push(leaf);
        messageLeaves.push(leaf);
        messageRoot = newRoot;
        _messageRoots[newRoot] = nonce + 2; // count (nonce + 1) plus one
        escrowed += msg.value;
        emit MessageSent(nonce, msg.sender, to, value, fee, minGasLimit, data, leaf);
    }

    /// @notice This rollup's message domain: L1 chain id, L2 chain id, this contract.
    function domain() public view returns (RollupMessages.Domain memory) {
        return RollupMessages.Domain(block.chainid, l2ChainId, address(this));
    }

    /// @notice How many L1 -> L2 messages were sent (the next nonce).
    function messageCount() external view returns (uint256) {
        return messageLeaves.length;
    }

    /// @notice Whether `root` is a root the message tree has had.
    function isMessageRoot(bytes32 root) external view returns (bool) {
        return _messageRoots[root] != 0;
    }

    // -- L2 -> L1 ---------------------------------------------------------------------------

    /// @notice Deliver L2 -> L1 message `m`, sent in or before settled (final) L2 block
    ///         `l2BlockNumber`: `accountProof` proves the messenger account against that
    ///         block's state root, `storageProof` its `sent[messageHash]` slot
    ///         (`eth_getProof` on the L2 node gives both). Pays `m.value` to `m.to` (called with
    ///         `m.data`, at least `m.minGasLimit` gas, the L2 sender readable through
    ///         {xDomainMessageSender}) and `m.fee` to the caller. Reverts, changing nothing, if
    ///         the call or the fee payment fails.
    function claimL2Message(
        RollupMessages.Message calldata m,
        uint256 l2BlockNumber,
        bytes[] calldata accountProof,
        bytes[] calldata storageProof
    ) external {
        bytes32 messageHash = RollupMessages.hash(RollupMessages.L2_TO_L1, domain(), m);
        if (isL2MessageClaimed[messageHash]) revert AlreadyClaimed(messageHash);
        if (!_isSent(_provableStateRoot(l2BlockNumber), messageHash, accountProof, storageProof)) {
            revert MessageNotSent(messageHash);
        }
        isL2MessageClaimed[messageHash] = true; // before the call: a re-entering claim fails

        uint256 total = m.value + m.fee;
        if (total > escrowed) revert InsufficientEscrow(total, escrowed);
        escrowed -= total;

        address outer = _xDomainMessageSender;
        _xDomainMessageSender = m.sender;
        (bool ok, bytes memory returnData) = RollupMessages.relay(m);
        _xDomainMessageSender = outer;
        if (!ok) revert MessageCallFailed(messageHash, returnData);
        if (m.fee != 0) _pay(msg.sender, m.fee);
        emit L2MessageClaimed(messageHash, m.nonce, msg.sender);
    }

    /// @dev Whether the L2 messenger's `sent[messageHash]` is `true` in the state with root
    ///      `stateRoot`. A bad account proof reverts (`TrieProofTraversalError`); a storage
    ///      proof that does not show the entry as `true` answers false.
    function _isSent(
        bytes32 stateRoot,
        bytes32 messageHash,
        bytes[] calldata accountProof,
        bytes[] calldata storageProof
    ) private view returns (bool) {
        bytes memory account = TrieProof.traverse(
            stateRoot, abi.encodePacked(keccak256(abi.encodePacked(l2Messenger))), accountProof
        );
        // account = rlp([nonce, balance, storageRoot, codeHash])
        bytes32 storageRoot = account.decodeList()[2].readBytes32();
        bytes32 slot = keccak256(abi.encode(messageHash, SENT_MESSAGES_SLOT));
        try this.provenStorageValue(storageRoot, slot, storageProof) returns (bytes memory value) {
            return value.length == 1 && value[0] == 0x01;
        } catch {
            return false;
        }
    }

    /// @notice The RLP-encoded value of storage `slot` under `storageRoot` as `proof` shows it
    ///         (`eth_getProof`'s storage proof). Reverts if the proof does not show a value,
    ///         including OpenZeppelin's RLP errors on a path that ends in an empty branch.
    /// @dev External so that {claimL2Message} can catch every way a storage proof fails and
    ///      answer {MessageNotSent}.
    function provenStorageValue(bytes32 storageRoot, bytes32 slot, bytes[] calldata proof)
        external
        pure
        returns (bytes memory)
    {
        return TrieProof.traverse(storageRoot, abi.encodePacked(keccak256(abi.encode(slot))), proof);
    }

    /// @notice The L2 sender of the message being delivered; reverts outside a delivery.
    function xDomainMessageSender() external view returns (address) {
        address sender = _xDomainMessageSender;
        if (sender == address(0)) revert NotInMessage();
        return sender;
    }

    function _pay(address to, uint256 amount) internal {
        (bool ok,) = to.call{value: amount}("");
        if (!ok) revert PaymentFailed(to);
    }
}
