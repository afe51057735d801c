// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title RollupMessages
/// @notice The one message format of the native rollup, used in both directions.
/// @dev A message is committed to by
///      `keccak256(abi.encodePacked(sender, to, value, fee, keccak256(data), index))`
///      (20 + 20 + 32 + 32 + 32 + 32 bytes). `index` is the message's position in its
///      direction's sequence (the L1 message tree's leaf index for L1 -> L2, the L2
///      messenger's `sentMessages` index for L2 -> L1), so every message hash is unique and
///      "claimed" is tracked per index. The sender pays `value + fee` (`msg.value`): `value`
///      goes to `to` (called with `data`), `fee` to whoever delivers the message.
library RollupMessages {
    struct Message {
        address sender;
        address to;
        uint256 value;
        uint256 fee;
        bytes data;
        uint256 index;
    }

    /// @notice The message's commitment (an L1 tree leaf or an L2 `sentMessages` entry).
    function hash(Message calldata m) internal pure returns (bytes32) {
        return hash(m.sender, m.to, m.value, m.fee, keccak256(m.data), m.index);
    }

    function hash(
        address sender,
        address to,
        uint256 value,
        uint256 fee,
        bytes32 dataHash,
        uint256 index
    ) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(sender, to, value, fee, dataHash, index));
    }
}
