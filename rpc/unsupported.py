"""anvil's methods that native-devnet does not serve, each with the reason it gives.

anvil 1.7.1 answers at least 178 method names (its ``EthRequest`` enum with aliases, checked
against the binary: a name it does not know answers -32601, a known one with bad params
-32602). Those native-devnet does not serve are listed here, each answering -32601 (as
anvil's unknown methods do, so clients that probe a method still fall back) with a message
that says why and what to use instead, not the bare "Method not found". The table is looked
up only for a name no handler serves, on every port; a name not here (a typo, another
client's namespace) keeps the generic answer.

Two kinds of reason: things that do not fit this node (forking, proof of work, reorgs,
Tempo's fee tokens, a raw database) and conveniences not built yet, each naming the served
method that does the same.
"""

from __future__ import annotations

from rpc.errors import METHOD_NOT_FOUND, MethodNotFound, RpcError

FORKING = "forking needs a remote node; native-devnet always starts from its own genesis"
NO_POW = "there is no proof of work: the node mines its own blocks (evm_mine, anvil_mine)"
NO_UNCLES = "blocks have no uncles since the merge (eth_getUncleCount* answers 0)"
TEMPO = "Tempo's fee tokens are not part of Ethereum; native-devnet charges fees in ETH"
SIGNED_ONLY = (
    "not built: a transaction without its sender's key goes through impersonation here; "
    "use anvil_impersonateAccount, then eth_sendTransaction"
)
OTTERSCAN = "the Otterscan API is not served; debug_traceTransaction and debug_traceBlockByNumber give the same traces"
ERC20 = (
    "it guesses the token's storage layout; write the slot with anvil_setStorageAt "
    "(find it with debug_traceCall's prestateTracer)"
)
NO_BLOBS = "blob sidecars are not kept: native-devnet has no blob pool or consensus layer"
NO_REORGS = (
    "blocks are final here (settled L2 blocks, delayed state roots); "
    "roll back with evm_snapshot and evm_revert"
)
BACKWARDS = "time only moves forward here; use evm_setNextBlockTimestamp or evm_increaseTime"
TIMESTAMP_INTERVAL = (
    "not built; space blocks with anvil_mine [blocks, interval] or evm_setNextBlockTimestamp"
)


def _use(method: str) -> str:
    return f"not built; use {method}"


UNSUPPORTED: dict[str, str] = {
    # forking
    "anvil_setRpcUrl": FORKING,
    # chain identity is fixed by the genesis: a rollup contract and EXECUTE bind it
    "anvil_setChainId": "the chain id is fixed by the genesis (--chain-id): a rollup "
    "contract and EXECUTE's chainId bind it",
    # proof of work and uncles
    "eth_getWork": NO_POW,
    "eth_submitWork": NO_POW,
    "eth_submitHashrate": NO_POW,
    "eth_getUncleByBlockHashAndIndex": NO_UNCLES,
    "eth_getUncleByBlockNumberAndIndex": NO_UNCLES,
    # reorgs and time travel
    "anvil_reorg": NO_REORGS,
    "anvil_rollback": NO_REORGS,
    "anvil_setTime": BACKWARDS,
    "evm_setTime": BACKWARDS,
    # transactions without a real signature
    "eth_sendUnsignedTransaction": SIGNED_ONLY,
    "anvil_impersonateSignature": SIGNED_ONLY,
    # Tempo (anvil's fee-token network)
    "anvil_setFeeToken": TEMPO,
    "anvil_setValidatorFeeToken": TEMPO,
    "anvil_setFeeAmmLiquidity": TEMPO,
    # ERC-20 storage guessing
    "anvil_dealERC20": ERC20,
    "hardhat_dealERC20": ERC20,
    "anvil_setERC20Balance": ERC20,
    "anvil_setERC20Allowance": ERC20,
    # blobs
    "anvil_getBlobByHash": NO_BLOBS,
    "anvil_getBlobsByTransactionHash": NO_BLOBS,
    # Otterscan
    "erigon_getHeaderByNumber": OTTERSCAN,
    "ots_getApiLevel": OTTERSCAN,
    "ots_getInternalOperations": OTTERSCAN,
    "ots_hasCode": OTTERSCAN,
    "ots_traceTransaction": OTTERSCAN,
    "ots_getTransactionError": OTTERSCAN,
    "ots_getBlockDetails": OTTERSCAN,
    "ots_getBlockDetailsByHash": OTTERSCAN,
    "ots_getBlockTransactions": OTTERSCAN,
    "ots_searchTransactionsBefore": OTTERSCAN,
    "ots_searchTransactionsAfter": OTTERSCAN,
    "ots_getTransactionBySenderAndNonce": OTTERSCAN,
    "ots_getContractCreator": OTTERSCAN,
    # peer-to-peer
    "eth_protocolVersion": "there is no peer-to-peer protocol on this node (geth removed "
    "the method too)",
    # the node's database
    "debug_dbGet": "there is no raw database access (py-evm's store is not geth's)",
    # conveniences not built, each with the served method that does the same
    "tenderly_addBalance": _use("anvil_addBalance"),
    "tenderly_setBalance": _use("anvil_setBalance"),
    "anvil_setBlockTimestampInterval": TIMESTAMP_INTERVAL,
    "anvil_removeBlockTimestampInterval": TIMESTAMP_INTERVAL,
    "eth_signTypedData": _use("eth_signTypedData_v4"),
    "eth_signTypedData_v3": _use("eth_signTypedData_v4"),
    "eth_getTransactionBySenderAndNonce": _use("eth_getLogs or the block's transactions"),
    "eth_fillTransaction": _use("eth_signTransaction, which fills the same fields"),
    "debug_codeByHash": "py-evm keeps code and trie nodes in one store keyed by their hash, "
    "so a lookup by hash cannot tell code from a trie node; use eth_getCode at the account",
}


def refusal(method: str) -> RpcError:
    """The error for a method no handler serves: its reason if it is one of anvil's that
    native-devnet does not serve, else the generic "Method not found"."""
    reason = UNSUPPORTED.get(method)
    if reason is None:
        return MethodNotFound(method)
    return RpcError(
        METHOD_NOT_FOUND, f"the method {method} is not supported by native-devnet: {reason}"
    )
