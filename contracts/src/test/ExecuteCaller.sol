// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice Calls the EXECUTE precompile (0x0101) with CALL and STATICCALL and reports what
///         came back, so tests can see success, return data and gas exactly as a rollup
///         contract would.
contract ExecuteCaller {
    address internal constant EXECUTE = address(0x0101);

    event Executed(bool success, bytes output, uint256 gasUsed);

    bool public lastSuccess;
    bytes public lastOutput;

    /// @notice EXECUTE via CALL; records and emits the outcome.
    function callExecute(bytes calldata input) external returns (bool ok, bytes memory out) {
        uint256 before = gasleft();
        (ok, out) = EXECUTE.call(input);
        uint256 used = before - gasleft();
        lastSuccess = ok;
        lastOutput = out;
        emit Executed(ok, out, used);
    }

    /// @notice EXECUTE via STATICCALL (it writes no EVM state, so this must work too).
    function staticExecute(bytes calldata input) external view returns (bool ok, bytes memory out) {
        (ok, out) = EXECUTE.staticcall(input);
    }

    /// @notice EXECUTE via CALL with a gas cap, to exercise the fixed L1 charge.
    function callExecuteWithGas(bytes calldata input, uint256 gas) external returns (bool ok, bytes memory out) {
        (ok, out) = EXECUTE.call{gas: gas}(input);
        lastSuccess = ok;
        lastOutput = out;
        emit Executed(ok, out, 0);
    }

    /// @notice Calls EXECUTE, then reverts the whole call whatever the outcome (a caller that
    ///         catches the failure and reverts still pays; see the gas-market issue).
    function callExecuteThenRevert(bytes calldata input) external {
        (bool ok,) = EXECUTE.call(input);
        revert(ok ? "executed, then reverted" : "execute failed, then reverted");
    }
}
