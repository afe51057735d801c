// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice The devnet's everyday test contract: storage, events, reverts with a reason
///         and with a custom error, and a payable entry point.
contract Counter {
    uint256 public number;

    event Incremented(address indexed by, uint256 value);
    event Deposited(address indexed from, uint256 amount);

    error TooLarge(uint256 value, uint256 limit);

    constructor(uint256 initial) {
        number = initial;
    }

    function increment() external {
        number += 1;
        emit Incremented(msg.sender, number);
    }

    function setNumber(uint256 value) external {
        if (value > 1_000_000) revert TooLarge(value, 1_000_000);
        number = value;
    }

    function get() external view returns (uint256) {
        return number;
    }

    function failWithReason() external pure {
        revert("counter says no");
    }

    function deposit() external payable {
        emit Deposited(msg.sender, msg.value);
    }
}
