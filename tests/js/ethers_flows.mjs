// ethers 6 against a node: the flows of tests/e2e/test_web3.py through JsonRpcProvider,
// JsonRpcSigner (the node's unlocked dev accounts: eth_sendTransaction, personal_sign,
// eth_signTypedData_v4), Wallet (local keys: eth_sendRawTransaction), ContractFactory,
// Contract, provider.getLogs and waitForTransaction, plus an EIP-7702 authorization.
//   node tests/js/ethers_flows.mjs <rpc-url> <fixture.json>

import {
  Contract,
  ContractFactory,
  HDNodeWallet,
  JsonRpcProvider,
  Transaction,
  Wallet,
  WebSocketProvider,
  getAddress,
  id,
  verifyMessage,
  verifyTypedData,
  zeroPadValue,
} from 'ethers';
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
const { counter: artifact } = fixture;
const t = suite('ethers', target);
// a short polling interval: waits resolve as soon as the automined block is seen; no
// 250 ms result cache (ethers' default), which would serve a nonce from before the
// previous, already mined, transaction (as hardhat's ethers plugin does, for automine)
const provider = new JsonRpcProvider(url, undefined, { pollingInterval: 50, cacheTimeout: -1 });
const accounts = fixture.accounts.map((a) => getAddress(a));
const wallet = (i) => new Wallet(fixture.keys[i], provider);
const fresh = () => Wallet.createRandom().address;
const INCREMENTED = 'Incremented(address,uint256)';

let counter; // the Counter deployed by the ContractFactory check
let deployReceipt;

await t.check('chain id: getNetwork and eth_chainId', async () => {
  const network = await provider.getNetwork();
  assert.equal(network.chainId, BigInt(CHAIN_ID));
  assert.equal(await provider.send('eth_chainId', []), '0x7a69');
});

await t.check('accounts: listAccounts are the mnemonic\'s first ten, funded at genesis', async () => {
  const signers = await provider.listAccounts();
  const listed = signers.map((s) => s.address);
  const derived = [...Array(10).keys()].map(
    (i) => HDNodeWallet.fromPhrase(fixture.mnemonic, undefined, `m/44'/60'/0'/0/${i}`).address,
  );
  assert.deepEqual(listed, derived);
  assert.deepEqual(listed, accounts);
  for (const address of listed) {
    assert.equal(await provider.getBalance(address, 0), DEV_BALANCE);
    assert.equal(await provider.getTransactionCount(address, 0), 0);
  }
  assert.equal(await provider.getBalance(fresh()), 0n);
});

await t.check('transfer from an unlocked account (JsonRpcSigner) and wait for the receipt', async () => {
  const signer = await provider.getSigner(accounts[1]);
  const to = fresh();
  const value = 123_456_789n;
  const nonce = await provider.getTransactionCount(accounts[1]);
  const tx = await signer.sendTransaction({ to, value });
  const receipt = await tx.wait();
  assert.equal(receipt.status, 1);
  assert.equal(receipt.hash, tx.hash);
  assert.equal(receipt.from, accounts[1]);
  assert.equal(receipt.to, to);
  assert.equal(receipt.gasUsed, 21_000n);
  assert.equal(receipt.contractAddress, null);
  assert.equal(receipt.logs.length, 0);
  const block = receipt.blockNumber;
  const cost = receipt.gasUsed * receipt.gasPrice;
  const before = await provider.getBalance(accounts[1], block - 1);
  assert.equal(before - (await provider.getBalance(accounts[1], block)), value + cost);
  assert.equal(await provider.getBalance(to, block - 1), 0n);
  assert.equal(await provider.getBalance(to), value);
  assert.equal(await provider.getTransactionCount(accounts[1]), nonce + 1);
  const got = await provider.getTransaction(tx.hash);
  assert.equal(got.from, accounts[1]);
  assert.equal(got.nonce, nonce);
  assert.equal(got.value, value);
  assert.equal(got.blockNumber, block);
  assert.equal(got.blockHash, receipt.blockHash);
  assert.equal(got.chainId, BigInt(CHAIN_ID));
});

await t.check('EIP-1559 fee fields: getFeeData, a type-2 tx, its effective gas price', async () => {
  const fee = await provider.getFeeData();
  const latest = await provider.getBlock('latest');
  assert.ok(latest.baseFeePerGas > 0n);
  const tip = BigInt(await provider.send('eth_maxPriorityFeePerGas', []));
  assert.equal(fee.maxPriorityFeePerGas, tip);
  assert.equal(fee.maxFeePerGas, latest.baseFeePerGas * 2n + tip);
  assert.ok(fee.gasPrice >= latest.baseFeePerGas);

  const sender = wallet(2);
  const tx = await sender.sendTransaction({ to: fresh(), value: 1n });
  assert.equal(tx.type, 2);
  const receipt = await tx.wait();
  const header = await provider.getBlock(receipt.blockNumber);
  const parent = await provider.getBlock(receipt.blockNumber - 1);
  assert.equal(
    header.baseFeePerGas,
    nextBaseFee(parent.baseFeePerGas, parent.gasUsed, parent.gasLimit),
  );
  const mined = await provider.getTransaction(tx.hash);
  assert.equal(mined.type, 2);
  assert.equal(mined.maxFeePerGas, tx.maxFeePerGas);
  assert.equal(mined.maxPriorityFeePerGas, tx.maxPriorityFeePerGas);
  const paidTip = [mined.maxPriorityFeePerGas, mined.maxFeePerGas - header.baseFeePerGas].reduce(
    (a, b) => (a < b ? a : b),
  );
  assert.equal(receipt.gasPrice, header.baseFeePerGas + paidTip);
});

await t.check('signed transfer (Wallet, eth_sendRawTransaction) and waitForTransaction', async () => {
  const sender = wallet(2);
  const to = fresh();
  const value = 10n ** 15n + 7n;
  const nonce = await provider.getTransactionCount(sender.address);
  const populated = await sender.populateTransaction({ to, value });
  assert.equal(populated.chainId, BigInt(CHAIN_ID));
  assert.equal(populated.gasLimit, 21_000n);
  const signed = await sender.signTransaction(populated);
  const hash = await provider.send('eth_sendRawTransaction', [signed]);
  const receipt = await provider.waitForTransaction(hash, 1, 30_000);
  assert.equal(receipt.status, 1);
  assert.equal(receipt.from, sender.address);
  assert.equal(await provider.getBalance(to), value);
  assert.equal(await provider.getTransactionCount(sender.address), nonce + 1);
  const got = await provider.getTransaction(hash);
  assert.equal(got.nonce, nonce);
  assert.equal(got.maxFeePerGas, populated.maxFeePerGas);
  assert.equal(got.signature.serialized, Transaction.from(signed).signature.serialized);
  // the node keeps exactly what was signed
  assert.equal((await rawRpc(url, 'eth_getRawTransactionByHash', [hash])).result, signed);
});

await t.check('deploy with ContractFactory', async () => {
  const factory = new ContractFactory(artifact.abi, artifact.bytecode, wallet(0));
  const estimate = await factory.getDeployTransaction(5).then((tx) => wallet(0).estimateGas(tx));
  counter = await factory.deploy(5);
  await counter.waitForDeployment();
  deployReceipt = await counter.deploymentTransaction().wait();
  assert.equal(deployReceipt.status, 1);
  assert.equal(deployReceipt.to, null);
  assert.equal(deployReceipt.contractAddress, await counter.getAddress());
  assert.ok(estimate >= deployReceipt.gasUsed);
  assert.equal(await provider.getCode(deployReceipt.contractAddress), artifact.deployedBytecode);
  assert.equal(
    await provider.getStorage(deployReceipt.contractAddress, 0),
    zeroPadValue('0x05', 32),
  );
});

await t.check('read and write the contract (Contract)', async () => {
  assert.equal(await counter.number(), 5n);
  assert.equal(await counter.get(), 5n);
  const receipt = await (await counter.increment()).wait();
  assert.equal(receipt.status, 1);
  assert.equal(await counter.number(), 6n);
  assert.equal(await counter.number({ blockTag: receipt.blockNumber - 1 }), 5n);
  const [event] = receipt.logs.map((log) => counter.interface.parseLog(log));
  assert.equal(event.name, 'Incremented');
  assert.equal(event.args.by, accounts[0]);
  assert.equal(event.args.value, 6n);
  // a payable call moves value into the contract
  await (await counter.deposit({ value: 1234n })).wait();
  assert.equal(await provider.getBalance(await counter.getAddress()), 1234n);
  // a read-only Contract on the provider sees the same state
  const reader = new Contract(await counter.getAddress(), artifact.abi, provider);
  assert.equal(await reader.number(), 6n);
});

await t.check('events and logs: provider.getLogs with topics, queryFilter', async () => {
  const bob = await provider.getSigner(accounts[5]);
  const address = await counter.getAddress();
  const asBob = counter.connect(bob);
  const receipts = [];
  for (const c of [counter, asBob, counter]) receipts.push(await (await c.increment()).wait());
  const topic0 = counter.interface.getEvent('Incremented').topicHash;
  assert.equal(topic0, id(INCREMENTED));
  const start = deployReceipt.blockNumber;
  const logs = await provider.getLogs({ fromBlock: start, toBlock: 'latest', address, topics: [topic0] });
  assert.deepEqual(
    logs.map((log) => BigInt(log.data)),
    [6n, 7n, 8n, 9n],
  );
  const bobTopic = zeroPadValue(accounts[5], 32).toLowerCase();
  const bobs = await provider.getLogs({
    fromBlock: start,
    toBlock: 'latest',
    address: [address],
    topics: [topic0, bobTopic],
  });
  assert.equal(bobs.length, 1);
  assert.equal(bobs[0].transactionHash, receipts[1].hash);
  assert.equal(bobs[0].blockNumber, receipts[1].blockNumber);
  assert.equal(bobs[0].removed, false);
  const events = await counter.queryFilter(counter.filters.Incremented(accounts[5]), start);
  assert.deepEqual(
    events.map((e) => [e.args.by, e.args.value]),
    [[accounts[5], 8n]],
  );
  assert.deepEqual(await provider.getLogs({ fromBlock: start, toBlock: start, address }), []);
});

await t.check('estimateGas: a transfer is 21000, a call\'s estimate is enough', async () => {
  const sender = await provider.getSigner(accounts[8]);
  assert.equal(await provider.estimateGas({ from: accounts[8], to: fresh(), value: 1n }), 21_000n);
  const asSender = counter.connect(sender);
  const estimate = await asSender.increment.estimateGas();
  assert.ok(estimate > 21_000n);
  const receipt = await (await asSender.increment({ gasLimit: estimate })).wait();
  assert.equal(receipt.status, 1);
  assert.ok(receipt.gasUsed <= estimate);
});

await t.check('revert reasons: Error(string) and a custom error, decoded', async () => {
  const before = await counter.number();
  const reason = await rejects(counter.failWithReason.staticCall(), 'failWithReason');
  assert.equal(reason.code, 'CALL_EXCEPTION');
  assert.equal(reason.reason, 'counter says no');
  assert.equal(reason.revert.signature, 'Error(string)');
  const custom = await rejects(counter.setNumber.staticCall(2_000_000n), 'setNumber');
  assert.equal(custom.code, 'CALL_EXCEPTION');
  assert.equal(custom.revert.name, 'TooLarge');
  assert.deepEqual([...custom.revert.args], [2_000_000n, 1_000_000n]);
  const estimate = await rejects(counter.failWithReason.estimateGas(), 'estimateGas');
  assert.equal(estimate.code, 'CALL_EXCEPTION');
  assert.equal(estimate.reason, 'counter says no');
  // a sent transaction that reverts: ethers estimates first and refuses with the revert
  // data (on this path it leaves a custom error undecoded: the interface decodes it)
  const sent = await rejects(counter.setNumber(2_000_000n), 'send');
  assert.equal(sent.code, 'CALL_EXCEPTION');
  const decoded = counter.interface.parseError(sent.data);
  assert.equal(decoded.name, 'TooLarge');
  assert.deepEqual([...decoded.args], [2_000_000n, 1_000_000n]);
  assert.equal(await counter.number(), before);
});

await t.check('sign a message: personal_sign on the node equals the Wallet\'s signature', async () => {
  const signer = await provider.getSigner(accounts[3]);
  const message = 'hello from ethers';
  const remote = await signer.signMessage(message);
  const local = await wallet(3).signMessage(message);
  assert.equal(remote, local);
  assert.equal(verifyMessage(message, remote), accounts[3]);
});

await t.check('sign typed data: eth_signTypedData_v4 on the node equals the Wallet\'s', async () => {
  const signer = await provider.getSigner(accounts[3]);
  const { domain, types, message } = TYPED_DATA;
  const remote = await signer.signTypedData(domain, types, message);
  const local = await wallet(3).signTypedData(domain, types, message);
  assert.equal(remote, local);
  assert.equal(verifyTypedData(domain, types, message, remote), accounts[3]);
});

await t.check('eth_signTransaction (JsonRpcSigner) signs what the Wallet would', async () => {
  const signer = await provider.getSigner(accounts[9]);
  const tx = {
    to: fresh(),
    value: 5n,
    nonce: await provider.getTransactionCount(accounts[9]),
    gasLimit: 21_000n,
    maxFeePerGas: 100n * 10n ** 9n,
    maxPriorityFeePerGas: 10n ** 9n,
    chainId: BigInt(CHAIN_ID),
    type: 2,
  };
  const remote = await signer.signTransaction({ ...tx, from: accounts[9] });
  const key = HDNodeWallet.fromPhrase(fixture.mnemonic, undefined, "m/44'/60'/0'/0/9").privateKey;
  const local = await new Wallet(key).signTransaction(tx);
  assert.equal(remote, local); // RFC 6979 signatures: the same bytes
  const hash = await provider.send('eth_sendRawTransaction', [remote]);
  const receipt = await provider.waitForTransaction(hash, 1, 30_000);
  assert.equal(receipt.status, 1);
  assert.equal(await provider.getBalance(tx.to), 5n);
});

await t.check('WebSocketProvider: a block and a contract event through eth_subscribe', async () => {
  const ws = new WebSocketProvider(url.replace(/^http/, 'ws'), undefined, { cacheTimeout: -1 });
  try {
    assert.equal((await ws.getNetwork()).chainId, BigInt(CHAIN_ID));
    let registered = 0; // ethers registers a subscription when eth_subscribe is answered
    const register = ws._register.bind(ws);
    ws._register = (id, subscriber) => {
      registered += 1;
      register(id, subscriber);
    };
    const watched = new Contract(await counter.getAddress(), artifact.abi, ws);
    const blocks = [];
    const events = [];
    let resolveDone;
    const done = new Promise((resolve) => {
      resolveDone = resolve;
    });
    const settle = () => blocks.length && events.length && resolveDone();
    await ws.on('block', (n) => {
      blocks.push(n);
      settle();
    });
    await watched.on('Incremented', (by, value, event) => {
      events.push({ by, value, hash: event.log.transactionHash });
      settle();
    });
    // the subscriptions are live once the node has answered both eth_subscribe calls
    for (let i = 0; i < 250 && registered < 2; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(registered, 2, 'both eth_subscribe calls answered');
    const receipt = await (await counter.increment()).wait();
    const timer = setTimeout(() => resolveDone(new Error('no block or event within 20 s')), 20_000);
    const failure = await done;
    clearTimeout(timer);
    if (failure) throw failure;
    assert.ok(blocks.includes(receipt.blockNumber), `blocks ${blocks} lack ${receipt.blockNumber}`);
    assert.equal(events.length, 1);
    assert.equal(events[0].by, accounts[0]);
    assert.equal(events[0].hash, receipt.hash);
  } finally {
    await ws.destroy();
  }
});

await t.check('EIP-7702: a signed authorization delegates an EOA to the Counter', async () => {
  const authority = Wallet.createRandom(provider);
  const relayer = wallet(1);
  const code = await counter.getAddress();
  const auth = await authority.authorize({ address: code, nonce: 0, chainId: CHAIN_ID });
  const tx = await relayer.sendTransaction({
    type: 4,
    to: authority.address,
    authorizationList: [auth],
    data: counter.interface.encodeFunctionData('increment'),
  });
  const receipt = await tx.wait();
  assert.equal(receipt.status, 1);
  const mined = await provider.getTransaction(tx.hash);
  assert.equal(mined.type, 4);
  assert.equal(mined.authorizationList.length, 1);
  assert.equal(mined.authorizationList[0].address, code);
  // the delegation designator 0xef0100 || address, and the call ran in the EOA's storage
  assert.equal(await provider.getCode(authority.address), `0xef0100${code.slice(2).toLowerCase()}`);
  assert.equal(await provider.getTransactionCount(authority.address), 1);
  const delegated = new Contract(authority.address, artifact.abi, provider);
  assert.equal(await delegated.number(), 1n);
  const raw = await rawRpc(url, 'eth_getStorageAt', [authority.address, '0x0', 'latest']);
  assert.equal(BigInt(raw.result), 1n);
});

t.finish();
