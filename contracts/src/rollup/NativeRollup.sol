// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {RLP} from "@openzeppelin/contracts/utils/RLP.sol";
import {Memory} from "@openzeppelin/contracts/utils/Memory.sol";
import {TrieProof} from "@openzeppelin/contracts/utils/cryptography/TrieProof.sol";
import {MerkleTree} from "@openzeppelin/contracts/utils/structs/MerkleTree.sol";

import {RollupMessages} from "./RollupMessages.sol";

/// @title NativeRollup
/// @notice The L1 contract of one native rollup: it settles L2 blocks by re-executing them
///         with the EXECUTE precompile, holds the L1 escrow of L2 ETH, and carries messages
///         both ways.
///
/// Sequencing (v1): only `sequencer` may {advance} (it must accept ETH: it is paid the
/// burned fees). Each call settles exactly the next L2 block on top of the last settled one;
/// EXECUTE checks everything about it, and the contract supplies the parent hash, pre-state
/// root, number, chain id and gas limit itself.
///
/// Fees: EXECUTE draws its execute fee from `tx.origin` (the sequencer). The L2 base fee
/// (`burnedFees` in EXECUTE's output) destroys L2 ETH that this contract still escrows, so
/// {advance} pays it from the escrow to the sequencer, which keeps the escrow equal to the
/// L2 ETH in circulation. ETH sent to the constructor backs any L2 genesis balances outside
/// the messenger (e.g. gas money for the first relayer). If the escrow cannot pay the burned
/// fees (only an under-backed L2 genesis can cause that) {advance} reverts with
/// {BurnedFeesExceedEscrow} rather than paying less: the shortfall is never hidden, and
/// anyone can restore the backing with {addEscrow}.
///
/// L1 -> L2: {sendMessage} appends the message hash (see {RollupMessages}) to an append-only
/// OpenZeppelin `MerkleTree` (depth 32, empty leaf `bytes32(0)`, commutative keccak pairs,
/// which the L2 messenger verifies with `MerkleProof`). The sequencer passes a root of this
/// tree as EXECUTE's anchor; {advance} accepts only roots the tree has had (or zero, "no new
/// messages"), never older than the last anchored one.
///
/// L2 -> L1: {claimL2Message} proves, with OpenZeppelin `TrieProof`, the L2 messenger's
/// account and its `sent[messageHash]` entry against a settled L2 state root, then releases
/// the escrow. The proven slot is `keccak256(abi.encode(messageHash, SENT_MESSAGES_SLOT))`
/// and must hold `true`: it is derived from the message itself, so no field of the message
/// can point the proof at other messenger state. Claims are recorded by message hash. If the
/// call to `to` or the fee payment fails the claim reverts and the message stays claimable
/// (retry later, with more gas or once the recipient accepts it); a claim with too little gas
/// for the message's `minGasLimit` reverts too.
///
/// Messages carry the rollup's domain (see {RollupMessages}): L1 chain id, L2 chain id, this
/// contract's address and the direction. `to` may not be the L2 messenger or a system
/// address (L1 -> L2), nor this contract or an L1 system address (L2 -> L1).
contract NativeRollup {
    using MerkleTree for MerkleTree.Bytes32PushTree;
    using RLP for bytes;
    using RLP for Memory.Slice;

    /// @notice The EXECUTE precompile (NR-EXECUTE v1).
    address public constant EXECUTE = address(0x0101);
    /// @notice How many settled L2 state roots stay provable (ring buffer by block number).
    uint256 public constant STATE_ROOT_HISTORY = 8191;
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

    /// @notice The L2 fields of a block the sequencer settles.
    struct L2Block {
        bytes32 postStateRoot;
        bytes32 receiptsRoot;
        uint256 gasUsed;
        uint256 timestamp;
        address coinbase;
        bytes32 prevRandao;
        bytes32 anchor;
    }

    struct SettledRoot {
        uint256 number;
        bytes32 stateRoot;
    }

    uint256 public immutable l2ChainId;
    uint256 public immutable l2GasLimit;
    address public immutable sequencer;
    address public immutable l2Messenger;

    bytes32 public lastBlockHash;
    uint256 public lastBlockNumber;
    SettledRoot[STATE_ROOT_HISTORY] private _settledRoots;

    MerkleTree.Bytes32PushTree private _messageTree;
    /// @notice The current root of the L1 -> L2 message tree.
    bytes32 public messageRoot;
    /// @notice Leaves of the message tree, in order (`messageLeaves.length` messages sent).
    bytes32[] public messageLeaves;
    /// @dev Every root the tree has had -> (message count at that root) + 1.
    mapping(bytes32 root => uint256 countPlusOne) private _messageRoots;
    /// @notice Messages `[0, anchoredMessageCount)` are claimable on L2 (the last anchor).
    uint256 public anchoredMessageCount;

    /// @notice L2 -> L1 messages claimed here, by message hash.
    mapping(bytes32 messageHash => bool) public isL2MessageClaimed;
    /// @notice L1 ETH held against L2 ETH in circulation.
    uint256 public escrowed;

    address private transient _xDomainMessageSender;

    event BlockSettled(
        uint256 indexed number,
        bytes32 indexed blockHash,
        bytes32 postStateRoot,
        uint256 gasUsed,
        uint256 burnedFees,
        uint256 executeFee
    );
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

    error NotSequencer(address caller);
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

    /// @param genesisHash   L2 genesis block hash (the first `parentHash`)
    /// @param genesisStateRoot L2 genesis state root (the first `preStateRoot`)
    /// @param chainId_      L2 chain id
    /// @param gasLimit_     L2 block gas limit (fixed)
    /// @param sequencer_    the only address allowed to {advance}
    /// @param l2Messenger_  the L2 messenger predeploy whose `sentMessages` {claimL2Message} proves
    constructor(
        bytes32 genesisHash,
        bytes32 genesisStateRoot,
        uint256 chainId_,
        uint256 gasLimit_,
        address sequencer_,
        address l2Messenger_
    ) payable {
        l2ChainId = chainId_;
        l2GasLimit = gasLimit_;
        sequencer = sequencer_;
        l2Messenger = l2Messenger_;
        lastBlockHash = genesisHash;
        _settledRoots[0] = SettledRoot(0, genesisStateRoot);
        bytes32 emptyRoot = _messageTree.setup(MESSAGE_TREE_DEPTH, bytes32(0));
        messageRoot = emptyRoot;
        _messageRoots[emptyRoot] = 1;
        escrowed = msg.value;
    }

    // -- settlement -----------------------------------------------------------------------

    /// @notice Settle the next L2 block: EXECUTE re-executes `transactions` on top of the
    ///         last settled block with `witness`; on success the block becomes the new head.
    ///         An invalid block reverts with EXECUTE's `ExecuteInvalid(reason)` data (the
    ///         execute fee is still drawn from `tx.origin`).
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
    ) external returns (bytes32 blockHash) {
        return _advance(
            L2Block(postStateRoot, receiptsRoot, gasUsed, timestamp, coinbase, prevRandao, anchor),
            transactions,
            witness
        );
    }

    function _advance(L2Block memory b, bytes calldata transactions, bytes calldata witness)
        private
        returns (bytes32)
    {
        if (msg.sender != sequencer) revert NotSequencer(msg.sender);
        if (b.timestamp > block.timestamp) revert TimestampInFuture(b.timestamp, block.timestamp);
        _consumeAnchor(b.anchor);

        uint256 number = lastBlockNumber + 1;
        ExecuteHead memory head = ExecuteHead({
            preStateRoot: _settledRoots[lastBlockNumber % STATE_ROOT_HISTORY].stateRoot,
            postStateRoot: b.postStateRoot,
            gasUsed: b.gasUsed,
            receiptsRoot: b.receiptsRoot,
            parentHash: lastBlockHash,
            chainId: l2ChainId,
            number: number,
            gasLimit: l2GasLimit,
            timestamp: b.timestamp,
            coinbase: b.coinbase,
            prevRandao: b.prevRandao,
            l1Anchor: b.anchor
        });
        ExecuteOutput memory out = _execute(abi.encode(head, transactions, witness));
        if (out.number != number || out.postStateRoot != b.postStateRoot) revert UnexpectedExecuteOutput();

        lastBlockHash = out.blockHash;
        lastBlockNumber = number;
        _settledRoots[number % STATE_ROOT_HISTORY] = SettledRoot(number, out.postStateRoot);
        _payBurnedFees(out.burnedFees);
        emit BlockSettled(number, out.blockHash, out.postStateRoot, out.gasUsed, out.burnedFees, out.executeFee);
        return out.blockHash;
    }

    function _consumeAnchor(bytes32 anchor) private {
        if (anchor == bytes32(0)) return;
        uint256 countPlusOne = _messageRoots[anchor];
        if (countPlusOne == 0) revert UnknownAnchor(anchor);
        uint256 count = countPlusOne - 1;
        if (count < anchoredMessageCount) revert StaleAnchor(anchor, count, anchoredMessageCount);
        anchoredMessageCount = count;
    }

    function _execute(bytes memory input) private returns (ExecuteOutput memory) {
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

    /// @dev L2 base fees are L2 ETH destroyed while its L1 backing stays here: release it to
    ///      the sequencer. An escrow smaller than the fees means the L2 holds ETH the L1 never
    ///      backed; paying less would hide that, so the block is refused until {addEscrow}.
    function _payBurnedFees(uint256 burnedFees) private {
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

    /// @notice The state root of settled L2 block `number`, while the ring buffer holds it.
    function settledStateRoot(uint256 number) public view returns (bytes32) {
        SettledRoot storage entry = _settledRoots[number % STATE_ROOT_HISTORY];
        if (number > lastBlockNumber || entry.number != number || entry.stateRoot == bytes32(0)) {
            revert L2BlockNotSettled(number);
        }
        return entry.stateRoot;
    }

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

    /// @notice Deliver L2 -> L1 message `m`, sent in or before settled L2 block
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
        if (!_isSent(settledStateRoot(l2BlockNumber), messageHash, accountProof, storageProof)) {
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

    function _pay(address to, uint256 amount) private {
        (bool ok,) = to.call{value: amount}("");
        if (!ok) revert PaymentFailed(to);
    }
}
