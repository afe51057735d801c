// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

interface ICrossDomainMessenger {
    function xDomainMessageSender() external view returns (address);
}

/// @notice A message recipient for tests (either layer): records who sent the message on the
///         other layer, the value and the argument; reverts while `closed`, to exercise the
///         messengers' failed-call policy.
contract MessageRecorder {
    bool public closed;
    uint256 public calls;
    address public lastMessenger;
    address public lastSender;
    uint256 public lastValue;
    uint256 public lastTag;

    error Closed();

    function setClosed(bool closed_) external {
        closed = closed_;
    }

    function record(uint256 tag) external payable {
        if (closed) revert Closed();
        calls += 1;
        lastMessenger = msg.sender;
        lastSender = ICrossDomainMessenger(msg.sender).xDomainMessageSender();
        lastValue = msg.value;
        lastTag = tag;
    }
}
