// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice The callee of ``Nested``: stores a value (taking any ether sent), emits a log,
///         and reverts with a reason on request.
contract Callee {
    uint256 public value;

    event Stored(address indexed from, uint256 value);

    function store(uint256 v) external payable returns (uint256) {
        value = v;
        emit Stored(msg.sender, v);
        return v * 2;
    }

    function fail() external pure {
        revert("callee says no");
    }
}

/// @notice Code that ``Nested`` runs with DELEGATECALL: its slot 0 is ``Nested.total``.
///         Payable, since a DELEGATECALL keeps the caller's ``msg.value``.
contract Adder {
    uint256 public total;

    function add(uint256 x) external payable returns (uint256) {
        total += x;
        return total;
    }
}

/// @notice Exercises every kind of call frame a tracer reports: CREATE (in the constructor),
///         CALL with value, a caught revert with a reason in a nested call, DELEGATECALL,
///         STATICCALL, logs at two depths, and a revert that bubbles up to the top.
contract Nested {
    uint256 public total; // shared with Adder through DELEGATECALL
    Callee public callee;
    Adder public adder;

    event Done(uint256 result, bool innerOk);

    constructor() {
        callee = new Callee();
        adder = new Adder();
    }

    function run(uint256 v) external payable returns (uint256) {
        uint256 doubled = callee.store{value: msg.value}(v);
        (bool innerOk,) = address(callee).call(abi.encodeCall(Callee.fail, ()));
        (bool added,) = address(adder).delegatecall(abi.encodeCall(Adder.add, (doubled)));
        require(added, "delegatecall failed");
        uint256 stored = callee.value();
        emit Done(stored, innerOk);
        return total;
    }

    function failDeep() external {
        callee.fail();
    }
}
