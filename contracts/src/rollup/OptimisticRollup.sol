// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Address} from "@openzeppelin/contracts/utils/Address.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

import {RollupBase} from "./RollupBase.sol";

/// @title OptimisticRollup
/// @notice A native rollup settled optimistically: the sequencer {propose}s each L2 block
///         (its head fields, transactions and witness as calldata, their keccak stored) with a
///         bond and no EXECUTE call; during `CHALLENGE_WINDOW` L1 blocks anyone may
///         {challenge} it, which calls EXECUTE exactly once on the proposed data. After the
///         window the proposal is final and withdrawals prove against its state root.
///
/// Proposals: only `sequencer` proposes, one L2 block at a time on top of the last proposal,
/// each with exactly `PROPOSER_BOND` wei. The proposal records the commitment
/// `keccak256(abi.encode(head, keccak256(transactions), keccak256(witness)))`, the claimed
/// block hash and post-state root (the next proposal's parent hash and pre-state root, and
/// the root withdrawals prove against), the L1 block it arrived in, and the message count its
/// anchor makes claimable. What EXECUTE would halt on instead of judging (a `gasUsed` above the
/// L2 gas limit, a timestamp in the L1's future, more than `MAX_BLOCK_DATA` bytes of data, an
/// anchor the message tree never had) is refused at {propose}, so every proposal can be judged.
///
/// Challenges: the challenger sends the proposal's head, transactions and witness (the
/// proposal transaction's calldata) with exactly `CHALLENGER_BOND` wei. The contract checks
/// them against the commitment, builds the `ExecuteHead` from the parent proposal (parent hash,
/// pre-state root) and its own constants (number, chain id, gas limit), and calls EXECUTE once:
/// - EXECUTE says invalid (`ExecuteInvalid(reason)`), or valid with another block hash than
///   the proposal claims: the proposal and every later one are discarded (the sequencer
///   re-proposes from the parent). The challenger gets its bond back plus half the
///   proposer's bond; the other half is burned (sent to `address(0)`), so a sequencer that
///   challenges itself still loses half a bond per forged block. The discarded descendants'
///   bonds are credited back to the sequencer: only the challenged block was judged.
/// - EXECUTE says valid: the challenge fails and costs the challenger its bond, credited to
///   the sequencer (whose block it delayed nothing but cost gas to defend); the proposal is
///   marked verified and cannot be challenged again.
/// - EXECUTE halts (too little gas forwarded, the L1 block's execute-gas limit reached, a
///   challenger with code or without the execute fee): the call reverts with
///   {ExecuteHalted}; nothing was judged, retry.
/// The execute fee is drawn from the challenger (`tx.origin`) either way.
///
/// Finality: a proposal is final once `CHALLENGE_WINDOW` L1 blocks have passed since the one
/// it arrived in ({isFinalized}); withdrawals ({claimL2Message}) prove only against final
/// roots, no {finalize} call needed. {finalize} (anyone) credits the bonds of final proposals
/// back to the sequencer.
///
/// Payments: everything owed to the sequencer (returned bonds, failed challengers' bonds)
/// accrues in {sequencerCredit} and leaves through {withdrawCredit}, so a sequencer that
/// refuses ETH cannot block a challenge. The challenger is paid in the challenge itself.
///
/// Anchors: {propose} accepts an anchor as `NativeRollup` does (a root the message tree has
/// had, or zero, never older than the parent proposal's); each proposal records the message
/// count it makes claimable, so a discard returns to the surviving parent's.
///
/// Fees: no EXECUTE runs on the happy path, so the L2 base fees a block burns are not known
/// here; they stay in the escrow (which then backs more than the L2 circulation, never less).
contract OptimisticRollup is RollupBase, ReentrancyGuardTransient {
    /// @notice At most this many bytes of `transactions` plus `witness` per proposal, so a
    ///         challenge (the same calldata plus EXECUTE) always fits an L1 block.
    uint256 public constant MAX_BLOCK_DATA = 512 * 1024;
    /// @notice {ProposalsDiscarded}'s reason when EXECUTE accepted the block but computed
    ///         another block hash than the proposal claims (EXECUTE's own reasons are 1-12).
    uint256 public constant REASON_BLOCK_HASH = 0;

    /// @notice The head fields of a proposed L2 block (the L2 header's values) and the block
    ///         hash the sequencer claims for it.
    struct L2Head {
        bytes32 postStateRoot;
        bytes32 receiptsRoot;
        uint256 gasUsed;
        uint256 timestamp;
        address coinbase;
        bytes32 prevRandao;
        bytes32 anchor;
        bytes32 blockHash;
    }

    /// @notice One proposal (entry 0 is the L2 genesis, final from the start).
    struct Proposal {
        bytes32 blockHash;
        bytes32 stateRoot;
        bytes32 commitment;
        uint48 proposedAt; // L1 block number
        uint40 anchoredCount; // L1 -> L2 messages claimable after this block
        bool verified; // a challenge showed EXECUTE accepts it
    }

    /// @notice The only address allowed to {propose}; what it is owed accrues in
    ///         {sequencerCredit} and leaves with {withdrawCredit}.
    address public immutable sequencer;
    /// @notice L1 blocks during which a proposal can be challenged.
    uint256 public immutable CHALLENGE_WINDOW;
    /// @notice Wei the sequencer locks with each proposal.
    uint256 public immutable PROPOSER_BOND;
    /// @notice Wei a challenger locks with a challenge.
    uint256 public immutable CHALLENGER_BOND;

    /// @notice Wei owed to the sequencer (returned bonds, failed challengers' bonds). Paid
    ///         by {withdrawCredit}, never pushed: a sequencer that refuses ETH cannot make a
    ///         challenge or {finalize} revert.
    uint256 public sequencerCredit;
    /// @notice The last proposed L2 block number (discards move it back).
    uint256 public lastProposedNumber;
    /// @notice Proposals up to this number had their bonds credited by {finalize}.
    uint256 public lastFinalizedNumber;
    mapping(uint256 number => Proposal) private _proposals;

    /// @notice L2 block `number` was proposed; `head`, `transactions` and `witness` are in
    ///         the transaction's calldata.
    event Proposed(
        uint256 indexed number, bytes32 indexed blockHash, bytes32 postStateRoot, bytes32 commitment, bytes32 anchor
    );
    /// @notice A challenge of `number` succeeded: proposals `number..lastNumber` are gone.
    event ProposalsDiscarded(
        uint256 indexed number, uint256 lastNumber, address indexed challenger, uint256 reason, uint256 reward
    );
    /// @notice A challenge of `number` failed (EXECUTE accepts the block): its bond was
    ///         credited to the sequencer.
    event ChallengeFailed(uint256 indexed number, address indexed challenger, uint256 executeFee);
    /// @notice `amount` wei of {sequencerCredit} was paid to the sequencer.
    event CreditWithdrawn(uint256 amount);
    /// @notice Proposals up to `number` are final and their bonds credited to the sequencer.
    event Finalized(uint256 indexed number, uint256 bondsReturned);

    error NotSequencer(address caller);
    error WrongBond(uint256 sent, uint256 required);
    error GasUsedAboveLimit(uint256 gasUsed, uint256 gasLimit);
    error BlockDataTooLarge(uint256 size, uint256 limit);
    error NoSuchProposal(uint256 number);
    error ChallengeWindowClosed(uint256 number, uint256 closedAfter);
    error AlreadyVerified(uint256 number);
    error DataMismatch(uint256 number);
    error NotFinalized(uint256 number);

    /// @param genesisHash      L2 genesis block hash (the first parent hash)
    /// @param genesisStateRoot L2 genesis state root (the first pre-state root)
    /// @param chainId_         L2 chain id
    /// @param gasLimit_        L2 block gas limit (fixed)
    /// @param sequencer_       the only address allowed to {propose}
    /// @param l2Messenger_     the L2 messenger predeploy whose `sent` entries withdrawals prove
    /// @param challengeWindow  L1 blocks a proposal stays challengeable
    /// @param proposerBond     wei locked with each proposal
    /// @param challengerBond   wei locked with each challenge
    constructor(
        bytes32 genesisHash,
        bytes32 genesisStateRoot,
        uint256 chainId_,
        uint256 gasLimit_,
        address sequencer_,
        address l2Messenger_,
        uint256 challengeWindow,
        uint256 proposerBond,
        uint256 challengerBond
    ) payable RollupBase(chainId_, gasLimit_, l2Messenger_) {
        sequencer = sequencer_;
        CHALLENGE_WINDOW = challengeWindow;
        PROPOSER_BOND = proposerBond;
        CHALLENGER_BOND = challengerBond;
        _proposals[0] = Proposal(genesisHash, genesisStateRoot, bytes32(0), 0, 0, true);
    }

    // -- proposals --------------------------------------------------------------------------

    /// @notice Propose the next L2 block on top of the last proposal, with exactly
    ///         `PROPOSER_BOND` wei. No EXECUTE call: the data is only committed to.
    /// @param head         the block's header fields and its claimed block hash
    /// @param transactions the block body's transaction list (RLP), as EXECUTE takes it
    /// @param witness      the block's execution witness (EXECUTE's canonical RLP)
    /// @return number the proposed L2 block number
    function propose(L2Head calldata head, bytes calldata transactions, bytes calldata witness)
        external
        payable
        returns (uint256 number)
    {
        if (msg.sender != sequencer) revert NotSequencer(msg.sender);
        if (msg.value != PROPOSER_BOND) revert WrongBond(msg.value, PROPOSER_BOND);
        if (head.timestamp > block.timestamp) revert TimestampInFuture(head.timestamp, block.timestamp);
        if (head.gasUsed > l2GasLimit) revert GasUsedAboveLimit(head.gasUsed, l2GasLimit);
        uint256 size = transactions.length + witness.length;
        if (size > MAX_BLOCK_DATA) revert BlockDataTooLarge(size, MAX_BLOCK_DATA);

        uint256 parent = lastProposedNumber;
        uint256 count = _anchoredCount(head.anchor, _proposals[parent].anchoredCount);
        number = parent + 1;
        bytes32 commitment = commitmentOf(head, transactions, witness);
        _proposals[number] = Proposal(
            head.blockHash, head.postStateRoot, commitment, uint48(block.number), uint40(count), false
        );
        lastProposedNumber = number;
        emit Proposed(number, head.blockHash, head.postStateRoot, commitment, head.anchor);
    }

    /// @notice The commitment {propose} stores for a block's data.
    function commitmentOf(L2Head calldata head, bytes calldata transactions, bytes calldata witness)
        public
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(head, keccak256(transactions), keccak256(witness)));
    }

    // -- challenges -------------------------------------------------------------------------

    /// @notice Challenge proposal `number` within its window, with exactly `CHALLENGER_BOND`
    ///         wei and the data it was proposed with: EXECUTE re-executes it once. Invalid:
    ///         it and all later proposals are discarded, the challenger gets its bond back
    ///         plus half the proposer's bond (the other half is burned). Valid: the
    ///         challenger's bond goes to the sequencer and the proposal counts as verified.
    /// @return invalid whether the proposal was discarded
    function challenge(
        uint256 number,
        L2Head calldata head,
        bytes calldata transactions,
        bytes calldata witness
    ) external payable nonReentrant returns (bool invalid) {
        if (msg.value != CHALLENGER_BOND) revert WrongBond(msg.value, CHALLENGER_BOND);
        if (number == 0 || number > lastProposedNumber) revert NoSuchProposal(number);
        Proposal storage p = _proposals[number];
        uint256 closesAfter = uint256(p.proposedAt) + CHALLENGE_WINDOW;
        if (block.number > closesAfter) revert ChallengeWindowClosed(number, closesAfter);
        if (p.verified) revert AlreadyVerified(number);
        if (commitmentOf(head, transactions, witness) != p.commitment) revert DataMismatch(number);

        Proposal storage parent = _proposals[number - 1];
        ExecuteHead memory executeHead = ExecuteHead({
            preStateRoot: parent.stateRoot,
            postStateRoot: head.postStateRoot,
            gasUsed: head.gasUsed,
            receiptsRoot: head.receiptsRoot,
            parentHash: parent.blockHash,
            chainId: l2ChainId,
            number: number,
            gasLimit: l2GasLimit,
            timestamp: head.timestamp,
            coinbase: head.coinbase,
            prevRandao: head.prevRandao,
            l1Anchor: head.anchor
        });
        (bool ok, bytes memory out) = EXECUTE.call(abi.encode(executeHead, transactions, witness));
        uint256 reason;
        if (!ok) {
            if (out.length == 0) revert ExecuteHalted();
            if (out.length != 36) revert UnexpectedExecuteOutput();
            reason = _word(out, 4);
            invalid = true;
        } else {
            if (out.length != 256) revert UnexpectedExecuteOutput();
            ExecuteOutput memory o = abi.decode(out, (ExecuteOutput));
            if (o.number != number || o.postStateRoot != head.postStateRoot) revert UnexpectedExecuteOutput();
            if (o.blockHash != head.blockHash) {
                reason = REASON_BLOCK_HASH;
                invalid = true;
            } else {
                p.verified = true;
                sequencerCredit += msg.value;
                emit ChallengeFailed(number, msg.sender, o.executeFee);
                return false;
            }
        }
        _discardFrom(number, reason);
    }

    /// @dev Proposals `number..lastProposedNumber` are gone; pay the challenger, burn half the
    ///      challenged bond, credit the descendants' bonds to the sequencer.
    function _discardFrom(uint256 number, uint256 reason) private {
        uint256 last = lastProposedNumber;
        lastProposedNumber = number - 1;
        uint256 reward = PROPOSER_BOND / 2;
        emit ProposalsDiscarded(number, last, msg.sender, reason, reward);
        Address.sendValue(payable(msg.sender), msg.value + reward);
        Address.sendValue(payable(address(0)), PROPOSER_BOND - reward);
        uint256 descendants = last - number;
        sequencerCredit += descendants * PROPOSER_BOND;
    }

    function _word(bytes memory data, uint256 offset) private pure returns (uint256 value) {
        assembly ("memory-safe") {
            value := mload(add(add(data, 0x20), offset))
        }
    }

    // -- finality ---------------------------------------------------------------------------

    /// @notice Whether proposal `number` is final: proposed (and not discarded) and its
    ///         challenge window has passed (the genesis is final).
    function isFinalized(uint256 number) public view returns (bool) {
        if (number > lastProposedNumber) return false;
        return number <= lastFinalizedNumber
            || block.number > uint256(_proposals[number].proposedAt) + CHALLENGE_WINDOW;
    }

    /// @notice The last L2 block number that is final.
    function finalizedNumber() external view returns (uint256) {
        // windows close in proposal order: binary search for the last closed one
        uint256 lo = lastFinalizedNumber;
        uint256 hi = lastProposedNumber;
        while (lo < hi) {
            uint256 mid = (lo + hi + 1) / 2;
            if (isFinalized(mid)) lo = mid;
            else hi = mid - 1;
        }
        return lo;
    }

    /// @notice Credit the bonds of proposals up to `number`, which must be final, to the
    ///         sequencer ({sequencerCredit}; anyone may call; windows pass in proposal order,
    ///         so every earlier proposal is final too).
    function finalize(uint256 number) external nonReentrant {
        if (!isFinalized(number)) revert NotFinalized(number);
        uint256 done = lastFinalizedNumber;
        if (number <= done) return;
        lastFinalizedNumber = number;
        uint256 bonds = (number - done) * PROPOSER_BOND;
        sequencerCredit += bonds;
        emit Finalized(number, bonds);
    }

    /// @notice Pay the sequencer everything {sequencerCredit} holds (anyone may call).
    function withdrawCredit() external nonReentrant {
        uint256 amount = sequencerCredit;
        sequencerCredit = 0;
        emit CreditWithdrawn(amount);
        Address.sendValue(payable(sequencer), amount);
    }

    /// @notice Proposal `number` as stored (reverts if there is none).
    function proposal(uint256 number) external view returns (Proposal memory) {
        if (number > lastProposedNumber) revert NoSuchProposal(number);
        return _proposals[number];
    }

    /// @notice The L2 state root of final block `number` (reverts if it is not final).
    function finalizedStateRoot(uint256 number) public view returns (bytes32) {
        if (!isFinalized(number)) revert NotFinalized(number);
        return _proposals[number].stateRoot;
    }

    /// @notice Messages `[0, anchoredMessageCount)` are claimable on L2 after the last proposal.
    function anchoredMessageCount() external view returns (uint256) {
        return _proposals[lastProposedNumber].anchoredCount;
    }

    function _provableStateRoot(uint256 number) internal view override returns (bytes32) {
        return finalizedStateRoot(number);
    }
}
