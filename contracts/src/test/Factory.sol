// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice Made by ``Factory``: holds the ether it was made with, answers ``ping`` (reverting
///         on zero) and destroys itself on request.
contract Child {
    address public maker;

    constructor() payable {
        maker = msg.sender;
    }

    function ping(uint256 x) external payable returns (uint256) {
        require(x != 0, "zero");
        return x + 1;
    }

    function destroy(address payable to) external {
        selfdestruct(to);
    }
}

/// @notice The frames a Parity-style trace reports that ``Nested`` has not: CREATE and CREATE2
///         from a running contract (with value), SELFDESTRUCT (of an old contract, and of one
///         made in the same transaction, which EIP-6780 really deletes), a plain value transfer
///         to an account without code, a CALLCODE, a creation that reverts, and a storage
///         refund.
contract Factory {
    Child public child;

    event Made(address child);

    function make() external payable returns (address) {
        child = new Child{value: msg.value}();
        emit Made(address(child));
        return address(child);
    }

    function make2(bytes32 salt) external payable returns (address) {
        Child made = new Child{salt: salt, value: msg.value}();
        return address(made);
    }

    function poke(uint256 x) external payable returns (uint256) {
        uint256 r = child.ping{value: msg.value}(x);
        try child.ping(0) returns (uint256) {} catch {}
        (bool ok,) = address(child).staticcall(abi.encodeWithSignature("maker()"));
        require(ok, "static failed");
        address target = address(child);
        bytes memory data = abi.encodeCall(Child.ping, (x));
        assembly {
            pop(callcode(gas(), target, 0, add(data, 32), mload(data), 0, 0))
        }
        return r;
    }

    function kill(address payable to) external {
        child.destroy(to);
    }

    function makeAndKill(address payable to) external payable {
        Child made = new Child{value: msg.value}();
        made.destroy(to);
    }

    function pay(address payable to) external payable {
        (bool ok,) = to.call{value: msg.value}("");
        require(ok, "pay failed");
    }

    function forget() external {
        delete child; // a storage refund
    }

    function failedMake() external {
        try new Reverter() returns (Reverter) {} catch {}
    }
}

/// @notice A creation that always reverts.
contract Reverter {
    constructor() {
        revert("no");
    }
}
