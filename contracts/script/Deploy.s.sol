// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Counter} from "../src/test/Counter.sol";

/// @notice The few Foundry cheatcodes this script uses (forge-std is not available here).
interface Vm {
    function envUint(string calldata name) external view returns (uint256);
    function envOr(string calldata name, uint256 defaultValue) external view returns (uint256);
    function startBroadcast(uint256 privateKey) external;
    function stopBroadcast() external;
}

/// @notice Deploys Counter and then sends several calls to it from the same key, so that
///         `forge script --broadcast` submits a burst of transactions with consecutive
///         nonces (forge sends them concurrently unless `--slow`).
///
///         Env: DEPLOYER_PRIVATE_KEY (required), COUNTER_INITIAL (default 7).
///         Transactions: deploy Counter(initial), increment(), increment(),
///         setNumber(40), increment()  ->  number() == 41, 5 transactions in all.
contract DeployCounter {
    Vm internal constant vm = Vm(0x7109709ECfa91a80626fF3989D68f67F5b1DD12D);

    /// @dev forge-std's Script marks itself this way; kept for tools that look for it.
    bool public IS_SCRIPT = true;

    uint256 public constant FINAL_NUMBER = 41;
    uint256 public constant TX_COUNT = 5;

    function run() external returns (Counter counter) {
        uint256 key = vm.envUint("DEPLOYER_PRIVATE_KEY");
        uint256 initial = vm.envOr("COUNTER_INITIAL", uint256(7));

        vm.startBroadcast(key);
        counter = new Counter(initial);
        counter.increment();
        counter.increment();
        counter.setNumber(40);
        counter.increment();
        vm.stopBroadcast();

        require(counter.number() == FINAL_NUMBER, "unexpected final number");
    }
}
