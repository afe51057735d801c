// viem 2's test client (createTestClient, mode 'anvil') against a node: the anvil_* /
// evm_* controls as viem sends them (e.g. mine is `anvil_mine [blocks, interval]`, always
// with an interval).
//   node tests/js/viem_test_actions.mjs <rpc-url> <fixture.json>

import {
  TransactionNotFoundError,
  createTestClient,
  getAddress,
  http,
  parseEther,
  parseGwei,
  publicActions,
  walletActions,
} from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { foundry } from 'viem/chains';
import { assert, loadArgs, rejects, suite } from './lib.mjs';

const { url, fixture, target } = loadArgs();
const { abi, bytecode, deployedBytecode } = fixture.counter;
const t = suite('viem-test-client', target);
const client = createTestClient({ chain: foundry, mode: 'anvil', transport: http(url), pollingInterval: 50 })
  .extend(publicActions)
  .extend(walletActions);
const accounts = fixture.accounts.map((a) => getAddress(a));
const fresh = () => privateKeyToAccount(generatePrivateKey()).address;
const receiptOf = (hash) => client.waitForTransactionReceipt({ hash, pollingInterval: 50 });
const head = () => client.getBlock({ blockTag: 'latest' });
const height = () => client.getBlockNumber({ cacheTime: 0 });

await t.check('mine: blocks, and blocks with an interval between their timestamps', async () => {
  const start = await height();
  await client.mine({ blocks: 3 });
  assert.equal(await height(), start + 3n);
  await client.mine({ blocks: 2, interval: 10 });
  const last = await head();
  const previous = await client.getBlock({ blockNumber: last.number - 1n });
  assert.equal(last.number, start + 5n);
  assert.equal(last.timestamp - previous.timestamp, 10n);
});

await t.check('setBalance', async () => {
  const address = fresh();
  await client.setBalance({ address, value: parseEther('5') });
  assert.equal(await client.getBalance({ address }), parseEther('5'));
  await client.setBalance({ address: accounts[9], value: 1n });
  assert.equal(await client.getBalance({ address: accounts[9] }), 1n);
});

await t.check('setCode, setStorageAt, setNonce', async () => {
  const address = fresh();
  await client.setCode({ address, bytecode: deployedBytecode });
  await client.setStorageAt({ address, index: 0, value: `0x${'2a'.padStart(64, '0')}` });
  assert.equal(await client.getCode({ address }), deployedBytecode);
  assert.equal(await client.readContract({ address, abi, functionName: 'number' }), 42n);
  await client.setNonce({ address: accounts[8], nonce: 17 });
  assert.equal(await client.getTransactionCount({ address: accounts[8] }), 17);
});

await t.check('snapshot, then revert: blocks, balances, nonces and transactions undone', async () => {
  const address = fresh();
  const startHeight = await height();
  const id = await client.snapshot();
  await client.setBalance({ address, value: 777n });
  const hash = await client.sendTransaction({ account: accounts[1], to: address, value: 1n });
  await receiptOf(hash);
  const nonce = await client.getTransactionCount({ address: accounts[1] });
  assert.equal(await client.getBalance({ address }), 778n);
  assert.equal(await height(), startHeight + 1n);
  await client.revert({ id });
  assert.equal(await height(), startHeight);
  assert.equal(await client.getBalance({ address }), 0n);
  assert.equal(await client.getTransactionCount({ address: accounts[1] }), nonce - 1);
  await rejects(client.getTransaction({ hash }), 'the reverted transaction');
  // a snapshot is used up by its revert
  const again = await client.request({ method: 'evm_revert', params: [id] });
  assert.equal(again, false);
});

await t.check('impersonateAccount: send from an address without its key, then stop', async () => {
  const whale = fresh();
  const to = fresh();
  await client.setBalance({ address: whale, value: parseEther('1') });
  await client.impersonateAccount({ address: whale });
  const hash = await client.sendTransaction({ account: whale, to, value: 12_345n });
  const receipt = await receiptOf(hash);
  assert.equal(receipt.status, 'success');
  assert.equal(getAddress(receipt.from), whale);
  assert.equal(await client.getBalance({ address: to }), 12_345n);
  await client.stopImpersonatingAccount({ address: whale });
  await rejects(client.sendTransaction({ account: whale, to, value: 1n }), 'after stopping');
});

await t.check('increaseTime, then mine: the block is the increase ahead of the wall clock', async () => {
  const before = await head();
  const wall = BigInt(Math.floor(Date.now() / 1000)); // read before the increase
  await client.increaseTime({ seconds: 3600 });
  await client.mine({ blocks: 1 }); // viem sends anvil_mine ["0x1", "0x0"]
  const after = await head();
  assert.equal(after.number, before.number + 1n);
  assert.ok(after.timestamp >= wall + 3600n, `${after.timestamp} < wall clock ${wall} + 3600`);
});

await t.check('setNextBlockTimestamp, then mine: the block has that timestamp', async () => {
  const next = (await head()).timestamp + 10_000n;
  await client.setNextBlockTimestamp({ timestamp: next });
  await client.mine({ blocks: 1 });
  assert.equal((await head()).timestamp, next);
  // and for an automined transaction's block
  const later = next + 500n;
  await client.setNextBlockTimestamp({ timestamp: later });
  const receipt = await receiptOf(
    await client.sendTransaction({ account: accounts[2], to: fresh(), value: 1n }),
  );
  assert.equal((await client.getBlock({ blockNumber: receipt.blockNumber })).timestamp, later);
});

// Needs the head ahead of the node's clock, as the check above leaves it (by 10500 s).
await t.check(
  'after setNextBlockTimestamp, increaseTime then mine moves the clock by the increase',
  async () => {
    const before = await head();
    await client.increaseTime({ seconds: 3600 });
    await client.mine({ blocks: 1 });
    const moved = (await head()).timestamp - before.timestamp;
    assert.ok(moved >= 3600n, `the timestamp moved ${moved} s, not the 3600 s increase`);
  },
);

await t.check('setBlockGasLimit: the next blocks have that gas limit', async () => {
  await client.setBlockGasLimit({ gasLimit: 45_000_000n });
  await client.mine({ blocks: 1 });
  assert.equal((await head()).gasLimit, 45_000_000n);
  const receipt = await receiptOf(
    await client.sendTransaction({ account: accounts[2], to: fresh(), value: 1n }),
  );
  assert.equal((await client.getBlock({ blockNumber: receipt.blockNumber })).gasLimit, 45_000_000n);
});

await t.check('setNextBlockBaseFeePerGas: the next block has that base fee', async () => {
  const baseFee = parseGwei('7');
  await client.setNextBlockBaseFeePerGas({ baseFeePerGas: baseFee });
  await client.mine({ blocks: 1 });
  assert.equal((await head()).baseFeePerGas, baseFee);
});

await t.check('setCoinbase: the next blocks name that miner and pay it the tips', async () => {
  const coinbase = fresh();
  await client.setCoinbase({ address: coinbase });
  await client.mine({ blocks: 1 });
  assert.equal(getAddress((await head()).miner), coinbase);
  const hash = await client.sendTransaction({
    account: accounts[3],
    to: fresh(),
    value: 1n,
    maxPriorityFeePerGas: parseGwei('2'),
  });
  const receipt = await receiptOf(hash);
  const block = await client.getBlock({ blockNumber: receipt.blockNumber });
  assert.equal(getAddress(block.miner), coinbase);
  const tip = receipt.effectiveGasPrice - block.baseFeePerGas;
  assert.equal(await client.getBalance({ address: coinbase }), tip * receipt.gasUsed);
});

await t.check('the pending block: head + 1 with the pool\'s transactions', async () => {
  await client.setAutomine(false);
  try {
    const from = accounts[5];
    const nonce = await client.getTransactionCount({ address: from });
    const hash = await client.sendTransaction({ account: from, to: fresh(), value: 9n });
    const latest = await head();
    const pending = await client.getBlock({ blockTag: 'pending' });
    assert.equal(pending.number, latest.number + 1n);
    assert.equal(pending.parentHash, latest.hash);
    assert.deepEqual(pending.transactions, [hash]);
    // geth leaves a pending block's hash null (ours does too); anvil fills one in
    if (target === 'anvil') assert.match(pending.hash, /^0x[0-9a-f]{64}$/);
    else assert.equal(pending.hash, null);
    assert.equal(await client.getTransactionCount({ address: from, blockTag: 'pending' }), nonce + 1);
    assert.equal(await client.getTransactionCount({ address: from, blockTag: 'latest' }), nonce);
    await client.mine({ blocks: 1 });
    assert.deepEqual((await head()).transactions, [hash]);
  } finally {
    await client.setAutomine(true);
  }
});

await t.check(
  'state at pending: balance, storage and eth_call see the pool\'s transactions',
  async () => {
    const contract = fresh();
    await client.setCode({ address: contract, bytecode: deployedBytecode });
    await client.setStorageAt({ address: contract, index: 0, value: `0x${'2a'.padStart(64, '0')}` });
    await client.setAutomine(false);
    try {
      const to = fresh();
      await client.sendTransaction({ account: accounts[6], to, value: 9n });
      await client.writeContract({ account: accounts[6], address: contract, abi, functionName: 'increment' });
      const pending = { blockTag: 'pending' };
      assert.equal(await client.getBalance({ address: to, ...pending }), 9n);
      assert.equal(await client.getBalance({ address: to }), 0n);
      assert.equal(
        BigInt(await client.getStorageAt({ address: contract, slot: '0x0', ...pending })),
        43n,
      );
      assert.equal(
        await client.readContract({ address: contract, abi, functionName: 'number', ...pending }),
        43n,
      );
    } finally {
      await client.mine({ blocks: 1 });
      await client.setAutomine(true);
    }
  },
);

await t.check('dropTransaction: a pending transaction leaves the pool', async () => {
  assert.equal(await client.getAutomine(), true);
  await client.setAutomine(false);
  try {
    const to = fresh();
    const hash = await client.sendTransaction({ account: accounts[4], to, value: 5n });
    const pending = await client.getTransaction({ hash });
    assert.equal(pending.blockNumber, null);
    await client.dropTransaction({ hash });
    const dropped = await rejects(client.getTransaction({ hash }), 'the dropped transaction');
    assert.ok(dropped instanceof TransactionNotFoundError, String(dropped));
    await client.mine({ blocks: 1 });
    assert.deepEqual((await head()).transactions, []);
    assert.equal(await client.getBalance({ address: to }), 0n);
  } finally {
    await client.setAutomine(true);
  }
  assert.equal(await client.getAutomine(), true);
});

await t.check('dumpState, then loadState: accounts, code and storage come back', async () => {
  const address = fresh();
  const contract = fresh();
  await client.setBalance({ address, value: 4242n });
  await client.setCode({ address: contract, bytecode: deployedBytecode });
  await client.setStorageAt({ address: contract, index: 0, value: `0x${'07'.padStart(64, '0')}` });
  const state = await client.dumpState();
  assert.match(state, /^0x[0-9a-f]+$/);
  await client.setBalance({ address, value: 1n });
  await client.setStorageAt({ address: contract, index: 0, value: `0x${'00'.padStart(64, '0')}` });
  assert.equal(await client.getBalance({ address }), 1n);
  await client.loadState({ state });
  assert.equal(await client.getBalance({ address }), 4242n);
  assert.equal(await client.getCode({ address: contract }), deployedBytecode);
  assert.equal(await client.readContract({ address: contract, abi, functionName: 'number' }), 7n);
  // the chain goes on from the loaded state: a deploy still works
  const hash = await client.deployContract({ account: accounts[0], abi, bytecode, args: [3n] });
  assert.equal((await receiptOf(hash)).status, 'success');
});

t.finish();
