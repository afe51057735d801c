// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title RollupMessages
/// @notice The one message format of the native rollup (both directions), its
///         domain-separated hash, the recipient rules, and the relayed call with a gas floor
///         and a bounded return-data copy. Both messengers use exactly this code.
/// @dev A message is committed to by
///      `keccak256(abi.encode(direction, l1ChainId, l2ChainId, rollup, nonce, sender, to,
///      value, fee, minGasLimit, keccak256(data)))`:
///      - `direction` (`L1_TO_L2` or `L2_TO_L1`) fixes which chain is the source and which the
///        destination, so a message of one direction is never valid in the other;
///      - `l1ChainId`, `l2ChainId` and `rollup` (the L1 `NativeRollup`) bind it to one rollup
///        on one L1, so it cannot be replayed on another rollup or chain;
///      - `nonce` is the message's position in its direction's sequence, so hashes are unique.
///      The sender pays `value + fee`: `value` goes to `to` (called with `data` and at least
///      `minGasLimit` gas), `fee` to whoever delivers the message.
library RollupMessages {
    /// @notice Direction tag of L1 -> L2 messages (deposits and calls).
    bytes32 internal constant L1_TO_L2 = keccak256("NativeRollup.L1ToL2.v1");
    /// @notice Direction tag of L2 -> L1 messages (withdrawals and calls).
    bytes32 internal constant L2_TO_L1 = keccak256("NativeRollup.L2ToL1.v1");

    /// @notice Largest `minGasLimit` a message may ask for (it must fit in one L2 block of the
    ///         devnet, 5,000,000 gas, next to the claim itself).
    uint256 internal constant MAX_MIN_GAS_LIMIT = 4_000_000;
    /// @notice Largest nonce a claim accepts: no sequence gets anywhere near 2**64 messages, so
    ///         a larger one is refused before any proof is read.
    uint256 internal constant MAX_NONCE = type(uint64).max;
    /// @notice Most bytes of a relayed call's return data that are copied (into an event or
    ///         revert): a callee cannot make the relay pay for a huge copy.
    uint256 internal constant MAX_RETURN_DATA = 256;
    /// @notice Gas the CALL itself may cost before the callee runs: cold account (2,600),
    ///         value transfer (9,000), new account (25,000), rounded up.
    uint256 internal constant RELAY_CALL_OVERHEAD = 40_000;
    /// @notice Gas kept back for the work after the relayed call (restore the sender, pay
    ///         the fee, emit the event).
    uint256 internal constant RELAY_RESERVED_GAS = 40_000;

    /// @notice System contracts that must never be a message's `to` on either layer.
    address internal constant BEACON_ROOTS = 0x000F3df6D732807Ef1319fB7B8bB8522d0Beac02;
    address internal constant HISTORY_STORAGE = 0x0000F90827F1C53a10cb7A02335B175320002935;
    address internal constant WITHDRAWAL_REQUESTS = 0x00000961Ef480Eb55e80D19ad83579A64c007002;
    address internal constant CONSOLIDATION_REQUESTS = 0x0000BBdDc7CE488642fb579F8B00f3a590007251;

    struct Message {
        uint256 nonce;
        address sender;
        address to;
        uint256 value;
        uint256 fee;
        uint256 minGasLimit;
        bytes data;
    }

    /// @notice The rollup a message belongs to.
    struct Domain {
        uint256 l1ChainId;
        uint256 l2ChainId;
        address rollup;
    }

    /// @notice `to` is a system address (a precompile, EXECUTE, a system contract) or one of the
    ///         rollup's own messaging contracts.
    error ForbiddenRecipient(address to);
    /// @notice `minGasLimit` is above {MAX_MIN_GAS_LIMIT}.
    error MinGasLimitTooHigh(uint256 minGasLimit, uint256 max);
    /// @notice `fee` is more than the ETH sent with the message.
    error FeeExceedsValue(uint256 fee, uint256 paid);
    /// @notice A claimed message's nonce is above {MAX_NONCE}.
    error NonceOutOfRange(uint256 nonce, uint256 max);
    /// @notice The relay was given too little gas to forward `minGasLimit` to the recipient;
    ///         nothing happened and the message stays deliverable.
    error InsufficientRelayGas(uint256 minGasLimit, uint256 gasLeft);

    /// @notice The message's commitment in `direction` within rollup `d`; reverts with
    ///         {NonceOutOfRange} for a nonce above {MAX_NONCE} (only claims hash calldata messages).
    function hash(bytes32 direction, Domain memory d, Message calldata m) internal pure returns (bytes32) {
        if (m.nonce > MAX_NONCE) revert NonceOutOfRange(m.nonce, MAX_NONCE);
        return hash(direction, d, m.nonce, m.sender, m.to, m.value, m.fee, m.minGasLimit, keccak256(m.data));
    }

    function hash(
        bytes32 direction,
        Domain memory d,
        uint256 nonce,
        address sender,
        address to,
        uint256 value,
        uint256 fee,
        uint256 minGasLimit,
        bytes32 dataHash
    ) internal pure returns (bytes32) {
        return keccak256(
            abi.encode(
                direction, d.l1ChainId, d.l2ChainId, d.rollup, nonce, sender, to, value, fee, minGasLimit, dataHash
            )
        );
    }

    /// @notice Checks of a new message at send time; returns `value` (`paid - fee`).
    /// @param messenger the destination layer's messaging contract (never a valid `to`)
    function checkSend(address to, address messenger, uint256 minGasLimit, uint256 fee, uint256 paid)
        internal
        pure
        returns (uint256 value)
    {
        if (to == messenger || isSystemAddress(to)) revert ForbiddenRecipient(to);
        if (minGasLimit > MAX_MIN_GAS_LIMIT) revert MinGasLimitTooHigh(minGasLimit, MAX_MIN_GAS_LIMIT);
        if (fee > paid) revert FeeExceedsValue(fee, paid);
        return paid - fee;
    }

    /// @notice Precompiles and EXECUTE (addresses up to 0xffff) and the system contracts.
    function isSystemAddress(address a) internal pure returns (bool) {
        return uint160(a) <= 0xffff || a == BEACON_ROOTS || a == HISTORY_STORAGE || a == WITHDRAWAL_REQUESTS
            || a == CONSOLIDATION_REQUESTS;
    }

    /// @notice Call `m.to` with `m.value` and `m.data`, guaranteeing it at least `m.minGasLimit`
    ///         gas, and keep at most {MAX_RETURN_DATA} bytes of what it returns.
    /// @dev The gas floor follows the OP messenger's reasoning: a relayer that gives the relay
    ///      too little gas could make the recipient fail (e.g. an inner try/catch) while the
    ///      relay itself succeeds. EIP-150 forwards at most 63/64 of the gas left after the
    ///      CALL's own cost, so the relay requires `minGasLimit * 64 / 63` plus the CALL's cost
    ///      plus the gas it needs afterwards, and otherwise reverts (the message is untouched
    ///      and can be relayed again with more gas). The call itself is made in assembly so
    ///      that only `MAX_RETURN_DATA` bytes are copied to memory (Solidity's `.call` copies
    ///      all of it: a "return bomb" would make the relay pay quadratic memory gas after the
    ///      call, in the part of the budget the floor does not cover).
    function relay(Message calldata m) internal returns (bool ok, bytes memory returnData) {
        uint256 needed = m.minGasLimit * 64 / 63 + RELAY_CALL_OVERHEAD + RELAY_RESERVED_GAS;
        if (gasleft() < needed) revert InsufficientRelayGas(m.minGasLimit, gasleft());
        return callBounded(m.to, gasleft() - RELAY_RESERVED_GAS, m.value, m.data);
    }

    /// @notice A call that copies at most {MAX_RETURN_DATA} bytes of return data.
    function callBounded(address to, uint256 gasLimit, uint256 value, bytes memory data)
        internal
        returns (bool ok, bytes memory returnData)
    {
        uint256 maxCopy = MAX_RETURN_DATA;
        returnData = new bytes(maxCopy);
        assembly ("memory-safe") {
            ok := call(gasLimit, to, value, add(data, 0x20), mload(data), 0, 0)
            let size := returndatasize()
            if gt(size, maxCopy) { size := maxCopy }
            mstore(returnData, size)
            returndatacopy(add(returnData, 0x20), 0, size)
        }
    }
}
