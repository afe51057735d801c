// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

interface IMessageSender {
    function sendMessage(address to, uint256 minGasLimit, uint256 fee, bytes calldata data)
        external
        payable
        returns (uint256);
}

/// @notice Sends many cheap L1 -> L2 messages in one transaction (tests: an attacker filling
///         a run of message nonces without one L1 block per message).
contract MessageBatcher {
    /// @notice One message to `to` per entry of `fees`, each paying exactly its fee (no value,
    ///         no data, no gas floor); `msg.value` must be the sum of `fees`.
    function sendAll(address rollup, address to, uint256[] calldata fees) external payable {
        for (uint256 i = 0; i < fees.length; ++i) {
            IMessageSender(rollup).sendMessage{value: fees[i]}(to, 0, fees[i], "");
        }
    }
}
