// viem 2 against a node: the flows of tests/e2e/test_web3.py through a public client and a
// wallet client, with JSON-RPC accounts (the node's unlocked dev accounts) and local
// accounts (keys held by viem, eth_sendRawTransaction), plus EIP-7702 authorizations.
//   node tests/js/viem_flows.mjs <rpc-url> <fixture.json>

import {
  ContractFunctionExecutionError,
  ContractFunctionRevertedError,
  InsufficientFundsError,
  createPublicClient,
  createWalletClient,
  encodeFunctionData,
  getAddress,
  http,
  parseAbiItem,
  recoverMessageAddress,
  recoverTypedDataAddress,
  webSocket,
} from 'viem';
import { generatePrivateKey, mnemonicToAccount, privateKeyToAccount } from 'viem/accounts';
import { foundry } from 'viem/chains';
import {
  CHAIN_ID,
  DEV_BALANCE,
  TYPED_DATA,
  assert,
  loadArgs,
  nextBaseFee,
  rawRpc,
  rejects,
  suite,
} from './lib.mjs';

const { url, fixture, target } = loadArgs();
const { abi, bytecode, deployedBytecode } = fixture.counter;
const t = suite('viem', target);
const transport = http(url);
// a short polling interval: receipts are seen as soon as the automined block is
const client = createPublicClient({ chain: foundry, transport, pollingInterval: 50 });
const wallet = createWalletClient({ chain: foundry, transport, pollingInterval: 50 });
const accounts = fixture.accounts.map((a) => getAddress(a));
const local = (i) => mnemonicToAccount(fixture.mnemonic, { addressIndex: i });
const fresh = () => privateKeyToAccount(generatePrivateKey()).address;
const receiptOf = (hash) => client.waitForTransactionReceipt({ hash, pollingInterval: 50 });
const INCREMENTED = parseAbiItem('event Incremented(address indexed by, uint256 value)');

let counter; // address of the Counter deployed by the deploy check
let deployBlock;

await t.check('chain id: public and wallet clients', async () => {
  assert.equal(await client.getChainId(), CHAIN_ID);
  assert.equal(await wallet.getChainId(), CHAIN_ID);
});

await t.check('accounts: eth_accounts / eth_requestAccounts are the mnemonic\'s first ten', async () => {
  const derived = [...Array(10).keys()].map((i) => local(i).address);
  assert.deepEqual(await wallet.getAddresses(), derived);
  assert.deepEqual(await wallet.requestAddresses(), derived);
  assert.deepEqual(derived, accounts);
  assert.equal(local(0).address, privateKeyToAccount(fixture.keys[0]).address);
});

await t.check('balances: every dev account holds 10000 ETH at genesis', async () => {
  for (const address of accounts) {
    assert.equal(await client.getBalance({ address, blockNumber: 0n }), DEV_BALANCE);
    assert.equal(await client.getTransactionCount({ address, blockNumber: 0n }), 0);
  }
  assert.equal(await client.getBalance({ address: fresh() }), 0n);
  assert.ok((await client.getBlockNumber({ cacheTime: 0 })) >= 0n);
});

await t.check('transfer from a JSON-RPC account (eth_sendTransaction), wait, exact deltas', async () => {
  const from = accounts[1];
  const to = fresh();
  const value = 123_456_789n;
  const nonce = await client.getTransactionCount({ address: from });
  const hash = await wallet.sendTransaction({ account: from, to, value });
  const receipt = await receiptOf(hash);
  assert.equal(receipt.status, 'success');
  assert.equal(receipt.transactionHash, hash);
  assert.equal(getAddress(receipt.from), from);
  assert.equal(getAddress(receipt.to), to);
  assert.equal(receipt.gasUsed, 21_000n);
  assert.equal(receipt.contractAddress, null);
  assert.deepEqual(receipt.logs, []);
  const block = receipt.blockNumber;
  const cost = receipt.gasUsed * receipt.effectiveGasPrice;
  const before = await client.getBalance({ address: from, blockNumber: block - 1n });
  const after = await client.getBalance({ address: from, blockNumber: block });
  assert.equal(before - after, value + cost);
  assert.equal(await client.getBalance({ address: to }), value);
  assert.equal(await client.getTransactionCount({ address: from }), nonce + 1);
  const tx = await client.getTransaction({ hash });
  assert.equal(tx.type, 'eip1559');
  assert.equal(tx.nonce, nonce);
  assert.equal(tx.blockHash, receipt.blockHash);
  assert.equal(tx.chainId, CHAIN_ID);
});

await t.check('transfer from a local account: viem fills nonce, gas and fees, signs', async () => {
  const account = local(2);
  const to = fresh();
  const value = 10n ** 15n + 7n;
  const request = await wallet.prepareTransactionRequest({ account, to, value });
  assert.equal(request.type, 'eip1559');
  assert.equal(request.gas, 21_000n);
  assert.equal(request.nonce, await client.getTransactionCount({ address: account.address }));
  const hash = await wallet.sendTransaction(request);
  const receipt = await receiptOf(hash);
  assert.equal(receipt.status, 'success');
  assert.equal(getAddress(receipt.from), account.address);
  assert.equal(await client.getBalance({ address: to }), value);
  const tx = await client.getTransaction({ hash });
  assert.equal(tx.maxFeePerGas, request.maxFeePerGas);
  assert.equal(tx.maxPriorityFeePerGas, request.maxPriorityFeePerGas);
  const signed = await account.signTransaction({ ...request, chainId: CHAIN_ID });
  assert.equal((await rawRpc(url, 'eth_getRawTransactionByHash', [hash])).result, signed);
});

await t.check('EIP-1559 fee fields: estimateFeesPerGas, fee history, effective gas price', async () => {
  const block = await client.getBlock();
  const tip = await client.estimateMaxPriorityFeePerGas();
  assert.equal(tip, BigInt((await rawRpc(url, 'eth_maxPriorityFeePerGas')).result));
  const fees = await client.estimateFeesPerGas();
  assert.equal(fees.maxPriorityFeePerGas, tip);
  assert.equal(fees.maxFeePerGas, (block.baseFeePerGas * 12n) / 10n + tip); // viem's 1.2 x base
  assert.ok((await client.getGasPrice()) >= block.baseFeePerGas);

  const hash = await wallet.sendTransaction({ account: accounts[7], to: fresh(), value: 99n });
  const receipt = await receiptOf(hash);
  const mined = await client.getBlock({ blockNumber: receipt.blockNumber });
  const parent = await client.getBlock({ blockNumber: receipt.blockNumber - 1n });
  assert.equal(mined.baseFeePerGas, nextBaseFee(parent.baseFeePerGas, parent.gasUsed, parent.gasLimit));
  const tx = await client.getTransaction({ hash });
  const room = tx.maxFeePerGas - mined.baseFeePerGas;
  const paid = tx.maxPriorityFeePerGas < room ? tx.maxPriorityFeePerGas : room;
  assert.equal(receipt.effectiveGasPrice, mined.baseFeePerGas + paid);

  const history = await client.getFeeHistory({ blockCount: 2, rewardPercentiles: [10, 50] });
  assert.equal(history.oldestBlock, receipt.blockNumber - 1n);
  assert.deepEqual(history.baseFeePerGas.slice(0, 2), [parent.baseFeePerGas, mined.baseFeePerGas]);
  assert.equal(history.reward.length, 2);
  assert.equal(history.gasUsedRatio.length, 2);
});

await t.check('deploy a contract (deployContract) and read its code', async () => {
  const account = local(0);
  const hash = await wallet.deployContract({ account, abi, bytecode, args: [5n] });
  const receipt = await receiptOf(hash);
  assert.equal(receipt.status, 'success');
  assert.equal(receipt.to, null);
  counter = getAddress(receipt.contractAddress);
  deployBlock = receipt.blockNumber;
  assert.equal(await client.getCode({ address: counter }), deployedBytecode);
  assert.equal(
    await client.getStorageAt({ address: counter, slot: '0x0' }),
    `0x${'5'.padStart(64, '0')}`,
  );
});

await t.check('read and write the contract: readContract, simulateContract, writeContract', async () => {
  assert.equal(await client.readContract({ address: counter, abi, functionName: 'number' }), 5n);
  const { request, result } = await client.simulateContract({
    account: accounts[0],
    address: counter,
    abi,
    functionName: 'increment',
  });
  assert.equal(result, undefined);
  const hash = await wallet.writeContract(request);
  const receipt = await receiptOf(hash);
  assert.equal(receipt.status, 'success');
  assert.equal(await client.readContract({ address: counter, abi, functionName: 'get' }), 6n);
  const before = receipt.blockNumber - 1n;
  assert.equal(
    await client.readContract({ address: counter, abi, functionName: 'number', blockNumber: before }),
    5n,
  );
  // a local account's write: signed by viem
  const deposit = await wallet.writeContract({
    account: local(0),
    address: counter,
    abi,
    functionName: 'deposit',
    value: 1234n,
  });
  assert.equal((await receiptOf(deposit)).status, 'success');
  assert.equal(await client.getBalance({ address: counter }), 1234n);
});

await t.check('events and logs: getLogs, getContractEvents, event filters', async () => {
  const filter = await client.createContractEventFilter({ address: counter, abi, eventName: 'Incremented' });
  const blocks = await client.createBlockFilter();
  const hashes = [];
  for (const account of [accounts[4], accounts[5], accounts[4]]) {
    hashes.push(
      await wallet.writeContract({ account, address: counter, abi, functionName: 'increment' }),
    );
  }
  const receipts = [];
  for (const hash of hashes) receipts.push(await receiptOf(hash));
  const all = await client.getContractEvents({ address: counter, abi, eventName: 'Incremented', fromBlock: deployBlock });
  assert.deepEqual(
    all.map((e) => [getAddress(e.args.by), e.args.value]),
    [
      [accounts[0], 6n],
      [accounts[4], 7n],
      [accounts[5], 8n],
      [accounts[4], 9n],
    ],
  );
  const bobs = await client.getLogs({
    address: counter,
    event: INCREMENTED,
    args: { by: accounts[5] },
    fromBlock: deployBlock,
    toBlock: 'latest',
  });
  assert.equal(bobs.length, 1);
  assert.equal(bobs[0].transactionHash, receipts[1].transactionHash);
  assert.equal(bobs[0].args.value, 8n);
  assert.equal(bobs[0].removed, false);
  const changes = await client.getFilterChanges({ filter });
  assert.deepEqual(changes.map((e) => e.args.value), [7n, 8n, 9n]);
  assert.deepEqual(await client.getFilterChanges({ filter }), []);
  // the filter was made without fromBlock: 'latest', resolved when its logs are asked for
  // (geth, anvil): eth_getFilterLogs answers the head block's log only
  assert.deepEqual((await client.getFilterLogs({ filter })).map((e) => e.args.value), [9n]);
  const newBlocks = await client.getFilterChanges({ filter: blocks });
  assert.deepEqual(
    newBlocks.slice(-3),
    receipts.map((r) => r.blockHash),
  );
  assert.equal(await client.uninstallFilter({ filter }), true);
  assert.equal(await client.uninstallFilter({ filter: blocks }), true);
});

await t.check('estimateGas: a transfer is 21000, a contract call\'s estimate is enough', async () => {
  assert.equal(await client.estimateGas({ account: accounts[8], to: fresh(), value: 1n }), 21_000n);
  const gas = await client.estimateContractGas({
    account: accounts[8],
    address: counter,
    abi,
    functionName: 'increment',
  });
  assert.ok(gas > 21_000n);
  const hash = await wallet.writeContract({
    account: accounts[8],
    address: counter,
    abi,
    functionName: 'increment',
    gas,
  });
  const receipt = await receiptOf(hash);
  assert.equal(receipt.status, 'success');
  assert.ok(receipt.gasUsed <= gas);
});

function revertOf(err) {
  assert.ok(err instanceof ContractFunctionExecutionError, `not a ContractFunctionExecutionError: ${err}`);
  const revert = err.walk((e) => e instanceof ContractFunctionRevertedError);
  assert.ok(revert, `no ContractFunctionRevertedError in ${err}`);
  return revert;
}

await t.check('revert reasons: Error(string) and a custom error, decoded by viem', async () => {
  const before = await client.readContract({ address: counter, abi, functionName: 'number' });
  const call = { account: accounts[0], address: counter, abi };
  const reason = revertOf(
    await rejects(client.readContract({ ...call, functionName: 'failWithReason' }), 'read'),
  );
  assert.equal(reason.reason, 'counter says no');
  assert.equal(reason.data.errorName, 'Error');
  const custom = revertOf(
    await rejects(
      client.simulateContract({ ...call, functionName: 'setNumber', args: [2_000_000n] }),
      'simulate',
    ),
  );
  assert.equal(custom.data.errorName, 'TooLarge');
  assert.deepEqual(custom.data.args, [2_000_000n, 1_000_000n]);
  const estimate = revertOf(
    await rejects(client.estimateContractGas({ ...call, functionName: 'failWithReason' }), 'estimate'),
  );
  assert.equal(estimate.reason, 'counter says no');
  // a JSON-RPC account's write that reverts: viem sends eth_sendTransaction without gas.
  // native-devnet fills gas by estimating, as geth does, so the node refuses with the
  // revert (code 3 and its data) and viem decodes it; anvil fills in the block gas limit
  // and mines a reverted transaction instead (a legitimate difference: ours is geth's).
  const writing = wallet.writeContract({ ...call, functionName: 'setNumber', args: [2_000_000n] });
  if (target === 'anvil') {
    const receipt = await receiptOf(await writing);
    assert.equal(receipt.status, 'reverted');
  } else {
    const write = revertOf(await rejects(writing, 'write'));
    assert.equal(write.data.errorName, 'TooLarge');
    assert.deepEqual(write.data.args, [2_000_000n, 1_000_000n]);
  }
  assert.equal(await client.readContract({ address: counter, abi, functionName: 'number' }), before);
});

await t.check('sign a message: personal_sign on the node equals the local account\'s', async () => {
  const message = 'hello from viem';
  const remote = await wallet.signMessage({ account: accounts[4], message });
  const signed = await local(4).signMessage({ message });
  assert.equal(remote, signed);
  assert.equal(await recoverMessageAddress({ message, signature: remote }), accounts[4]);
  // verifyMessage on the public client runs an eth_call (ERC-6492 deployless validator)
  assert.equal(await client.verifyMessage({ address: accounts[4], message, signature: remote }), true);
  assert.equal(await client.verifyMessage({ address: accounts[5], message, signature: remote }), false);
});

await t.check('sign typed data: eth_signTypedData_v4 on the node equals the local account\'s', async () => {
  const remote = await wallet.signTypedData({ account: accounts[4], ...TYPED_DATA });
  const signed = await local(4).signTypedData(TYPED_DATA);
  assert.equal(remote, signed);
  assert.equal(await recoverTypedDataAddress({ ...TYPED_DATA, signature: remote }), accounts[4]);
  assert.equal(await client.verifyTypedData({ address: accounts[4], ...TYPED_DATA, signature: remote }), true);
});

await t.check('eth_createAccessList: the contract\'s storage slot, and the gas used', async () => {
  const { accessList, gasUsed } = await client.createAccessList({
    account: accounts[0],
    to: counter,
    data: encodeFunctionData({ abi, functionName: 'increment' }),
  });
  assert.deepEqual(
    accessList.map((e) => [getAddress(e.address), e.storageKeys]),
    [[counter, [`0x${'0'.repeat(64)}`]]],
  );
  assert.ok(gasUsed > 21_000n);
});

await t.check('a call or estimate with a value above the balance: InsufficientFundsError', async () => {
  const poor = fresh();
  const call = { account: poor, to: counter, value: 10n ** 18n };
  for (const [what, promise] of [
    ['call', client.call(call)],
    ['estimateGas', client.estimateGas(call)],
  ]) {
    const err = await rejects(promise, what);
    assert.ok(err.walk((e) => e instanceof InsufficientFundsError), `${what}: ${err}`);
  }
});

await t.check('eth_signTransaction (JSON-RPC account) signs what a local account would', async () => {
  const from = accounts[9];
  const request = {
    to: fresh(),
    value: 5n,
    nonce: await client.getTransactionCount({ address: from }),
    gas: 21_000n,
    maxFeePerGas: 100n * 10n ** 9n,
    maxPriorityFeePerGas: 10n ** 9n,
    chainId: CHAIN_ID,
    type: 'eip1559',
  };
  const remote = await wallet.signTransaction({ account: from, ...request });
  const signed = await local(9).signTransaction(request); // RFC 6979: the same bytes
  assert.equal(remote, signed);
  const hash = await wallet.sendRawTransaction({ serializedTransaction: remote });
  assert.equal((await receiptOf(hash)).status, 'success');
  assert.equal(await client.getBalance({ address: request.to }), 5n);
});

await t.check('WebSocket: eth_subscribe newHeads and logs (watchBlockNumber, watchContractEvent)', async () => {
  const ws = createPublicClient({ chain: foundry, transport: webSocket(url.replace(/^http/, 'ws')) });
  try {
    assert.equal(await ws.getChainId(), CHAIN_ID);
    const heads = [];
    const events = [];
    let resolveDone;
    const done = new Promise((resolve) => {
      resolveDone = resolve;
    });
    const settle = () => heads.length && events.length && resolveDone();
    const unwatchHeads = ws.watchBlockNumber({
      onBlockNumber: (n) => {
        heads.push(n);
        settle();
      },
      onError: (err) => resolveDone(err),
    });
    const unwatchEvents = ws.watchContractEvent({
      address: counter,
      abi,
      eventName: 'Incremented',
      onLogs: (logs) => {
        events.push(...logs);
        settle();
      },
      onError: (err) => resolveDone(err),
    });
    // the subscriptions are live once their eth_subscribe was answered: wait for that
    const socket = await ws.transport.getRpcClient();
    for (let i = 0; i < 250 && socket.subscriptions.size < 2; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(socket.subscriptions.size, 2, 'both eth_subscribe calls answered');
    const hash = await wallet.writeContract({ account: accounts[4], address: counter, abi, functionName: 'increment' });
    const receipt = await receiptOf(hash);
    const timer = setTimeout(() => resolveDone(new Error('no head or log within 20 s')), 20_000);
    const failure = await done;
    clearTimeout(timer);
    unwatchHeads();
    unwatchEvents();
    if (failure) throw failure;
    assert.ok(heads.includes(receipt.blockNumber), `heads ${heads} lack ${receipt.blockNumber}`);
    assert.equal(events.length, 1);
    assert.equal(events[0].transactionHash, hash);
    assert.equal(getAddress(events[0].args.by), accounts[4]);
  } finally {
    (await ws.transport.getRpcClient()).close();
  }
});

async function checkDelegated(authority, hash, expectedNumber) {
  const receipt = await receiptOf(hash);
  assert.equal(receipt.status, 'success');
  assert.equal(receipt.type, 'eip7702');
  const tx = await client.getTransaction({ hash });
  assert.equal(tx.type, 'eip7702');
  assert.equal(tx.authorizationList.length, 1);
  assert.equal(getAddress(tx.authorizationList[0].address), counter);
  assert.equal(
    await client.getCode({ address: authority }),
    `0xef0100${counter.slice(2).toLowerCase()}`,
  );
  assert.equal(
    await client.readContract({ address: authority, abi, functionName: 'number' }),
    expectedNumber,
  );
}

await t.check('EIP-7702: signAuthorization, then a relayer\'s sendTransaction', async () => {
  const authority = privateKeyToAccount(generatePrivateKey());
  const authorization = await wallet.signAuthorization({ account: authority, contractAddress: counter });
  assert.equal(authorization.chainId, CHAIN_ID);
  assert.equal(authorization.nonce, 0);
  const hash = await wallet.sendTransaction({
    account: local(1),
    to: authority.address,
    data: encodeFunctionData({ abi, functionName: 'increment' }),
    authorizationList: [authorization],
  });
  await checkDelegated(authority.address, hash, 1n);
  assert.equal(await client.getTransactionCount({ address: authority.address }), 1);
});

await t.check('EIP-7702: executor "self" (authorization nonce = tx nonce + 1)', async () => {
  const authority = local(3);
  const authorization = await wallet.signAuthorization({
    account: authority,
    contractAddress: counter,
    executor: 'self',
  });
  const nonce = await client.getTransactionCount({ address: authority.address });
  assert.equal(authorization.nonce, nonce + 1);
  const hash = await wallet.sendTransaction({
    account: authority,
    to: authority.address,
    data: encodeFunctionData({ abi, functionName: 'increment' }),
    authorizationList: [authorization],
  });
  await checkDelegated(authority.address, hash, 1n);
  assert.equal(await client.getTransactionCount({ address: authority.address }), nonce + 2);
});

await t.check('EIP-7702: a JSON-RPC account sends the authorization list (eth_sendTransaction)', async () => {
  const authority = privateKeyToAccount(generatePrivateKey());
  const authorization = await wallet.signAuthorization({ account: authority, contractAddress: counter });
  const hash = await wallet.sendTransaction({
    account: accounts[6],
    to: authority.address,
    data: encodeFunctionData({ abi, functionName: 'increment' }),
    authorizationList: [authorization],
  });
  await checkDelegated(authority.address, hash, 1n);
});

t.finish();
