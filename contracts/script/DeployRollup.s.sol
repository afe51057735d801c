// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {NativeRollup} from "../src/rollup/NativeRollup.sol";
import {SequencingPolicy} from "../src/rollup/SequencingPolicy.sol";

/// @notice The few Foundry cheatcodes this script uses (forge-std is not available here).
interface Vm {
    function envUint(string calldata name) external view returns (uint256);
    function envBytes32(string calldata name) external view returns (bytes32);
    function envOr(string calldata name, uint256 defaultValue) external view returns (uint256);
    function envOr(string calldata name, address defaultValue) external view returns (address);
    function addr(uint256 privateKey) external pure returns (address);
    function startBroadcast(uint256 privateKey) external;
    function stopBroadcast() external;
}

/// @notice Deploys one `NativeRollup` on the L1 for the L2 chain described by the env:
///
///   DEPLOYER_PRIVATE_KEY   (required) L1 key that deploys (and by default sequences)
///   L2_GENESIS_HASH        (required) the L2 genesis block hash (the first parentHash)
///   L2_GENESIS_STATE_ROOT  (required) the L2 genesis state root (the first preStateRoot)
///   L2_CHAIN_ID            L2 chain id (default 31338, genesis/l2.json)
///   L2_GAS_LIMIT           L2 block gas limit (default 5000000, genesis/l2.json)
///   SEQUENCER              the only address allowed to advance (default: the deployer)
///   INITIAL_ESCROW_WEI     ETH backing L2 genesis balances outside the messenger (default 0)
///   ROLLUP_POLICY          0 SEQUENCER (default) or 1 BASED (anyone advances; no sequencer)
///   FORCE_DELAY            L1 blocks until a forced L2 tx is due (default 10)
///   FORCE_FEE_WEI          least fee of forceInclude (default 0)
///
/// Read the first three from the L2 node: `cast block 0 --rpc-url $L2` (hash, stateRoot).
/// Run with `forge script contracts/script/DeployRollup.s.sol:DeployRollup --rpc-url $L1
/// --broadcast --skip-simulation` (forge's own EVM has no EXECUTE precompile, so let the node
/// execute the transactions). The messenger is the L2 predeploy at 0x42..07.
contract DeployRollup {
    Vm internal constant vm = Vm(0x7109709ECfa91a80626fF3989D68f67F5b1DD12D);

    /// @dev forge-std's Script marks itself this way; kept for tools that look for it.
    bool public IS_SCRIPT = true;

    address public constant L2_MESSENGER = 0x4200000000000000000000000000000000000007;

    function run() external returns (NativeRollup rollup) {
        uint256 key = vm.envUint("DEPLOYER_PRIVATE_KEY");
        bytes32 genesisHash = vm.envBytes32("L2_GENESIS_HASH");
        bytes32 genesisStateRoot = vm.envBytes32("L2_GENESIS_STATE_ROOT");
        uint256 chainId = vm.envOr("L2_CHAIN_ID", uint256(31338));
        uint256 gasLimit = vm.envOr("L2_GAS_LIMIT", uint256(5_000_000));
        SequencingPolicy.Policy policy = SequencingPolicy.Policy(vm.envOr("ROLLUP_POLICY", uint256(0)));
        address sequencer =
            policy == SequencingPolicy.Policy.BASED ? address(0) : vm.envOr("SEQUENCER", vm.addr(key));
        uint256 escrow = vm.envOr("INITIAL_ESCROW_WEI", uint256(0));

        vm.startBroadcast(key);
        rollup = new NativeRollup{value: escrow}(
            genesisHash,
            genesisStateRoot,
            chainId,
            gasLimit,
            sequencer,
            L2_MESSENGER,
            policy,
            vm.envOr("FORCE_DELAY", uint256(10)),
            vm.envOr("FORCE_FEE_WEI", uint256(0))
        );
        vm.stopBroadcast();

        require(rollup.lastBlockHash() == genesisHash, "genesis hash not stored");
        require(rollup.lastBlockNumber() == 0, "rollup does not start at genesis");
        require(rollup.escrowed() == escrow, "escrow not held");
    }
}
