// native-devnet's dashboard: one WebSocket to the node that served this page, read methods
// only, refreshed on each newHeads notification (a refresh already running absorbs the heads
// that arrive meanwhile: one refresh at a time, never a poll).
'use strict';

(() => {
  // Every method this page may send; rpc() refuses any other name before it leaves.
  const READ_METHODS = new Set([
    'eth_chainId', 'eth_blockNumber', 'eth_accounts', 'eth_getBalance', 'eth_getCode', 'eth_getBlockByNumber',
    'eth_getBlockReceipts', 'eth_getTransactionByHash', 'eth_getTransactionReceipt',
    'eth_getLogs', 'eth_call', 'eth_subscribe', 'eth_unsubscribe', 'web3_clientVersion',
    'txpool_status', 'txpool_content', 'execute_params', 'execute_feeHistory', 'execute_transactionStatus',
    'execute_disagreements',
  ]);
  const RECENT_BLOCKS = 10; // rows of the blocks table
  const RECENT_TXS = 12; // rows of the transactions table
  const MARKET_BLOCKS = 32; // points of the market charts
  const MAX_POOL_CHECKED = 64; // pending transactions asked execute_transactionStatus per head
  const MAX_POOL_LISTED = 256; // a larger pool is counted (txpool_status), not fetched
  const MAX_TRACKED_MESSAGES = 1000; // rollup messages remembered for the in-flight table
  const SETTLED_ROWS = 10; // settled L2 blocks shown
  const LOG_WINDOW = 10_000; // L1/L2 blocks searched back for rollup events
  const RECONNECT_MAX_MS = 30_000;

  const dash = {
    ready: false, // the first render is done
    busy: false, // a refresh is running
    renders: 0,
    head: null, // the head number the tables show
    heads: 0, // newHeads notifications received
    charts: {},
    market: null, // the execute_feeHistory answer the charts show
    deferred: new Map(), // head number -> EXECUTE calls deferred in the pool at that head
    rollup: null, // what the rollup panel shows (or null)
    errors: [],
  };
  window.dashboard = dash;

  const $ = (id) => document.getElementById(id);
  const big = (hex) => (hex == null ? 0n : BigInt(hex));
  const num = (hex) => Number(big(hex));
  const hex = (n) => '0x' + BigInt(n).toString(16);
  const short = (h, n = 6) => (h && h.length > 2 + 2 * n ? `${h.slice(0, 2 + n)}…${h.slice(-4)}` : h || '');
  const ZERO32 = '0x' + '0'.repeat(64);

  function fmtInt(v) {
    return BigInt(v).toLocaleString('en-US');
  }
  function fmtEth(wei, digits = 4) {
    const w = BigInt(wei);
    const scale = 10n ** BigInt(18 - digits);
    const neg = w < 0n;
    const units = (neg ? -w : w) / scale;
    const whole = units / 10n ** BigInt(digits);
    const frac = (units % 10n ** BigInt(digits)).toString().padStart(digits, '0');
    return `${neg ? '-' : ''}${whole.toLocaleString('en-US')}.${frac}`;
  }
  function fmtGwei(wei) {
    const w = Number(wei);
    return w >= 1e6 ? `${(w / 1e9).toPrecision(4)} gwei` : `${w} wei`;
  }
  function age(seconds) {
    const s = Math.max(0, Math.floor(Date.now() / 1000 - seconds));
    if (s < 60) return `${s}s`;
    if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
    return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  }
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === 'class') node.className = v;
      else if (k === 'title') node.title = v;
      else node.setAttribute(k, v);
    }
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  }
  function fill(tbody, rows) {
    tbody.replaceChildren(...rows);
  }
  function message(id, text) {
    const box = $(id);
    box.hidden = !text;
    box.textContent = text || '';
  }

  // -- JSON-RPC over the WebSocket -----------------------------------------------------------

  let ws = null;
  let nextId = 1;
  const pending = new Map();
  let headsSubscription = null;

  function request(method, params) {
    if (!READ_METHODS.has(method)) throw new Error(`${method} is not a read method`);
    return { jsonrpc: '2.0', id: nextId++, method, params };
  }
  function send(payload, tolerant = false) {
    if (!ws || ws.readyState !== WebSocket.OPEN) return Promise.reject(new Error('not connected'));
    const items = Array.isArray(payload) ? payload : [payload];
    const answers = items.map(
      (item) => new Promise((resolve, reject) => pending.set(item.id, { resolve, reject, method: item.method })),
    );
    ws.send(JSON.stringify(payload));
    if (tolerant) return Promise.allSettled(answers).then((all) => all.map((a) => (a.status === 'fulfilled' ? a.value : null)));
    return Promise.all(answers);
  }
  async function rpc(method, params = []) {
    const [result] = await send(request(method, params));
    return result;
  }
  // One frame, many calls: [[method, params], ...] -> their results, in order.
  async function batch(calls) {
    if (calls.length === 0) return [];
    return send(calls.map(([m, p]) => request(m, p)));
  }
  // The same, each failed call answered null (views a contract may not have).
  async function tryBatch(calls) {
    if (calls.length === 0) return [];
    return send(calls.map(([m, p]) => request(m, p)), true);
  }

  function onMessage(event) {
    let msg;
    try {
      msg = JSON.parse(event.data);
    } catch {
      return;
    }
    for (const item of Array.isArray(msg) ? msg : [msg]) {
      if (item.method === 'eth_subscription') {
        if (item.params && item.params.subscription === headsSubscription) onHead(item.params.result);
        continue;
      }
      const waiter = pending.get(item.id);
      if (!waiter) continue;
      pending.delete(item.id);
      if (item.error) waiter.reject(new Error(`${waiter.method}: ${item.error.message}`));
      else waiter.resolve(item.result);
    }
  }

  function setStatus(live, text) {
    const s = $('status');
    s.textContent = text;
    s.className = `status ${live ? 'live' : 'down'}`;
  }

  let retryMs = 1000;
  function connect() {
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/`;
    ws = new WebSocket(url);
    ws.onmessage = onMessage;
    ws.onopen = async () => {
      retryMs = 1000;
      try {
        headsSubscription = await rpc('eth_subscribe', ['newHeads']);
        setStatus(true, 'live (newHeads)');
        message('error', '');
        await start();
      } catch (err) {
        report(err);
      }
    };
    ws.onclose = () => {
      headsSubscription = null;
      for (const w of pending.values()) w.reject(new Error('the WebSocket closed'));
      pending.clear();
      setStatus(false, `disconnected; retrying in ${Math.round(retryMs / 1000)}s`);
      if (!dash.ready) message('error', `Cannot reach the node over a WebSocket at ${url} (is it running, and does --allow-origin admit this page?)`);
      setTimeout(connect, retryMs);
      retryMs = Math.min(retryMs * 2, RECONNECT_MAX_MS);
    };
  }

  function report(err) {
    dash.errors.push(String(err));
    message('error', `The dashboard could not refresh: ${err.message || err}`);
  }

  // -- refresh -------------------------------------------------------------------------------

  let config = null;
  let accounts = [];
  let refreshing = false;
  let again = false;

  async function start() {
    if (config === null) {
      const answer = await fetch('/dashboard/config.json', { cache: 'no-store' });
      config = await answer.json();
      setupLayout();
    }
    const [chainId, client, accs] = await batch([
      ['eth_chainId', []],
      ['web3_clientVersion', []],
      ['eth_accounts', []],
    ]);
    $('chain-id').textContent = `${num(chainId)}`;
    $('client').textContent = client;
    accounts = accs;
    await refresh();
  }

  function onHead(head) {
    dash.heads += 1;
    $('head-number').textContent = fmtInt(big(head.number));
    refresh();
  }

  async function refresh() {
    if (refreshing) {
      again = true; // the running refresh goes round once more: heads are coalesced
      return;
    }
    refreshing = true;
    dash.busy = true;
    try {
      do {
        again = false;
        await refreshOnce();
      } while (again);
    } catch (err) {
      report(err);
    } finally {
      refreshing = false;
      dash.busy = false;
    }
  }

  // Blocks are fetched once: each refresh asks for the head and the numbers not yet held, and
  // checks the parent hashes; a chain that changed under the page (revert, reset) is reread.
  const blockCache = new Map(); // number -> full block
  const receiptCache = new Map(); // tx hash -> receipt

  function forgetChain() {
    blockCache.clear();
    receiptCache.clear();
    resetRollupLogs();
  }

  function heldBlocks(head, first) {
    const blocks = [];
    for (let n = head; n >= first; n--) if (blockCache.has(n)) blocks.push(blockCache.get(n));
    return blocks;
  }

  async function loadBlocks(head, extra) {
    const first = Math.max(0, head - RECENT_BLOCKS + 1);
    if (dash.head !== null && head < dash.head) forgetChain();
    for (const n of [...blockCache.keys()]) if (n < first || n > head) blockCache.delete(n);
    const want = [head];
    for (let n = head - 1; n >= first; n--) if (!blockCache.has(n)) want.push(n);
    const results = await batch([...want.map((n) => ['eth_getBlockByNumber', [hex(n), true]]), ...extra]);
    want.forEach((n, i) => results[i] && blockCache.set(n, results[i]));
    let blocks = heldBlocks(head, first);
    const linked = blocks.every((b, i) => i === blocks.length - 1 || b.parentHash === blocks[i + 1].hash);
    if (!linked) {
      forgetChain();
      const again = await batch(blocks.map((b) => ['eth_getBlockByNumber', [b.number, true]]));
      again.forEach((b) => b && blockCache.set(num(b.number), b));
      blocks = heldBlocks(head, first);
    }
    return [blocks, results.slice(want.length)];
  }

  async function refreshOnce() {
    const head = num(await rpc('eth_blockNumber'));
    const extra = [['txpool_status', []]];
    for (const a of accounts) extra.push(['eth_getBalance', [a, hex(head)]]);
    if (config.execute) {
      extra.push(['execute_feeHistory', [hex(MARKET_BLOCKS), hex(head)]]);
      extra.push(['execute_params', []]);
      extra.push(['execute_disagreements', []]);
    }
    const [blocks, results] = await loadBlocks(head, extra);
    const poolStatus = results[0];
    const balances = results.slice(1, 1 + accounts.length);
    const market = config.execute ? results.slice(-3, -1) : null;
    const verifiers = config.execute ? results[results.length - 1] : null;

    const poolSize = num(poolStatus.pending) + num(poolStatus.queued);
    const poolTxs = [];
    if (poolSize > 0 && poolSize <= MAX_POOL_LISTED) {
      const pool = await rpc('txpool_content');
      for (const group of [pool.pending || {}, pool.queued || {}]) {
        for (const bySender of Object.values(group)) for (const tx of Object.values(bySender)) poolTxs.push(tx);
      }
    }
    const recent = [];
    for (const b of blocks) for (const tx of b.transactions) if (recent.length < RECENT_TXS) recent.push(tx);
    const checked = poolTxs.slice(0, MAX_POOL_CHECKED);
    const unknown = recent.filter((tx) => !receiptCache.has(tx.hash));
    const second = unknown.map((tx) => ['eth_getTransactionReceipt', [tx.hash]]);
    if (config.execute) for (const tx of checked) second.push(['execute_transactionStatus', [tx.hash]]);
    const answers = await batch(second);
    unknown.forEach((tx, i) => answers[i] && receiptCache.set(tx.hash, answers[i]));
    for (const hash of [...receiptCache.keys()]) if (!recent.some((tx) => tx.hash === hash)) receiptCache.delete(hash);
    const receipts = recent.map((tx) => receiptCache.get(tx.hash));
    const statuses = answers.slice(unknown.length);

    renderHead(blocks[0]);
    renderBlocks(blocks);
    renderTxs(checked, statuses, recent, receipts, poolSize);
    renderAccounts(balances);
    dash.head = head;
    if (market) {
      // counted among the calls checked; a pool too large to list is not counted (null)
      const deferred = poolSize > MAX_POOL_LISTED ? null : statuses.filter((st) => st && st.status === 'deferred').length;
      dash.deferred.set(head, deferred);
      renderMarket(market[0], market[1]);
      renderVerifiers(verifiers);
    }
    if (config.rollupError) await recheckRollupFile();
    if (config.rollup) {
      try {
        await refreshRollup(head);
        message('rollup-message', '');
      } catch (err) {
        message('rollup-message', `Cannot read the rollup: ${err.message || err}`);
        dash.rollup = { error: String(err) };
      }
    }
    dash.renders += 1;
    dash.ready = true;
  }

  // -- panels --------------------------------------------------------------------------------

  function setupLayout() {
    const role = config.role === 'l2' ? 'L2' : 'L1';
    $('role').textContent = config.execute ? `${role} · EXECUTE` : role;
    document.title = `native-devnet ${role} dashboard`;
    const headRow = $('blocks-head');
    if (config.execute) {
      headRow.append(el('th', { class: 'num' }, 'execute gas'), el('th', { class: 'num' }, 'execute fee'));
      $('market').hidden = false;
      setupCharts();
    } else if (config.role === 'l2') {
      headRow.append(el('th', {}, 'L1 anchor'));
    }
    setupRollup();
  }

  function setupRollup() {
    if (!config.rollup && !config.rollupError) return;
    $('rollup').hidden = false;
    message('rollup-message', config.rollupError);
    if (config.rollup) {
      $('rollup-address').textContent = config.rollup.address;
      message('rollup-l2-message', config.l2UrlError);
    }
  }

  // A deployment file that was missing or broken is read again at each new head (one GET).
  async function recheckRollupFile() {
    const answer = await fetch('/dashboard/config.json', { cache: 'no-store' });
    const fresh = await answer.json();
    if (fresh.rollup || fresh.rollupError !== config.rollupError) {
      resetRollupLogs();
      config = { ...config, rollup: fresh.rollup, rollupError: fresh.rollupError, l2Url: fresh.l2Url, l2UrlError: fresh.l2UrlError, abi: fresh.abi };
      setupRollup();
    }
  }

  function renderHead(block) {
    if (!block) return;
    $('head-number').textContent = fmtInt(big(block.number));
    $('head-age').dataset.ts = num(block.timestamp);
    $('head-age').textContent = age(num(block.timestamp));
  }

  function renderBlocks(blocks) {
    const rows = blocks.map((b) => {
      const gasUsed = big(b.gasUsed);
      const pct = b.gasLimit && big(b.gasLimit) > 0n ? Number((gasUsed * 1000n) / big(b.gasLimit)) / 10 : 0;
      const cells = [
        el('td', {}, fmtInt(big(b.number))),
        el('td', { 'data-ts': num(b.timestamp), class: 'age' }, age(num(b.timestamp))),
        el('td', { class: 'num' }, b.transactions.length),
        el('td', { class: 'num' }, `${fmtInt(gasUsed)} (${pct}%)`),
      ];
      if (config.execute) {
        cells.push(el('td', { class: 'num' }, fmtInt(big(b.executeGasUsed))));
        cells.push(el('td', { class: 'num' }, fmtGwei(big(b.executeBaseFeePerGas))));
      } else if (config.role === 'l2') {
        const anchor = b.parentBeaconBlockRoot;
        cells.push(
          anchor && anchor !== ZERO32
            ? el('td', { class: 'mono', title: anchor }, short(anchor, 8))
            : el('td', { class: 'muted' }, 'none'),
        );
      }
      const row = el('tr', { 'data-block': num(b.number), 'data-hash': b.hash }, ...cells);
      if (dash.renders > 0 && num(b.number) > (dash.shownHead ?? -1)) row.className = 'fresh';
      return row;
    });
    if (blocks[0]) dash.shownHead = num(blocks[0].number);
    fill($('blocks').tBodies[0], rows);
  }

  function renderTxs(poolTxs, statuses, mined, receipts, poolSize) {
    const rows = [];
    if (poolSize > poolTxs.length) {
      rows.push(el('tr', {}, el('td', { colspan: 4, class: 'muted' }, `${fmtInt(poolSize)} transactions in the pool (${poolTxs.length ? `first ${poolTxs.length} shown` : 'too many to list'})`)));
    }
    poolTxs.forEach((tx, i) => {
      const s = statuses[i];
      const deferred = s && s.status === 'deferred';
      rows.push(txRow(tx, '—', deferred ? 'deferred' : 'pending', deferred ? 'warn' : 'muted', deferred ? s.reason : ''));
    });
    mined.forEach((tx, i) => {
      const r = receipts[i];
      const ok = r && r.status === '0x1';
      rows.push(txRow(tx, fmtInt(big(tx.blockNumber)), r ? (ok ? 'success' : 'reverted') : '…', ok ? 'ok' : 'bad', ''));
    });
    if (rows.length === 0) rows.push(el('tr', {}, el('td', { colspan: 4, class: 'muted' }, 'no transactions yet')));
    fill($('txs').tBodies[0], rows);
  }

  function txRow(tx, block, status, cls, why) {
    const to = tx.to ? short(tx.to, 4) : 'create';
    return el(
      'tr',
      { 'data-tx': tx.hash },
      el('td', { class: 'mono', title: tx.hash }, short(tx.hash)),
      el('td', {}, block),
      el('td', { class: 'mono' }, `${short(tx.from, 4)} → ${to}`),
      el('td', { class: cls, title: why }, status),
    );
  }

  function renderAccounts(balances) {
    const rows = accounts.map((a, i) =>
      el('tr', {}, el('td', {}, i), el('td', { class: 'mono', title: a }, short(a, 10)), el('td', { class: 'num' }, fmtEth(big(balances[i])))),
    );
    if (rows.length === 0) rows.push(el('tr', {}, el('td', { colspan: 3, class: 'muted' }, 'no dev accounts (an L2 funds accounts through deposits)')));
    fill($('accounts').tBodies[0], rows);
  }

  // -- the EXECUTE market --------------------------------------------------------------------

  function setupCharts() {
    const Chart = window.Chart;
    Chart.defaults.color = '#8a97a6';
    Chart.defaults.borderColor = '#2a3542';
    Chart.defaults.font.size = 11;
    const common = {
      animation: false,
      maintainAspectRatio: false,
      interaction: { mode: 'index', intersect: false },
      plugins: { legend: { display: false } },
      scales: { x: { ticks: { maxTicksLimit: 8 } }, y: { beginAtZero: true } },
    };
    dash.charts.fee = new Chart($('chart-fee'), {
      type: 'line',
      data: { labels: [], datasets: [{ label: 'executeBaseFeePerGas', data: [], borderColor: '#5cb3ff', backgroundColor: 'rgba(92,179,255,.15)', fill: true, pointRadius: 2, stepped: true }] },
      options: { ...common, scales: { ...common.scales, y: { beginAtZero: false, ticks: { callback: (v) => fmtGwei(v) } } } },
    });
    dash.charts.gas = new Chart($('chart-gas'), {
      type: 'bar',
      data: {
        labels: [],
        datasets: [
          { label: 'executeGasUsed', data: [], backgroundColor: '#4cc38a', order: 2 },
          { label: 'target', type: 'line', data: [], borderColor: '#f2c14e', borderDash: [6, 4], pointRadius: 0, order: 1 },
          { label: 'limit', type: 'line', data: [], borderColor: '#ff6b6b', pointRadius: 0, order: 1 },
        ],
      },
      options: {
        ...common,
        plugins: { legend: { display: true, labels: { boxWidth: 10 } } },
        // logarithmic: a block's use, the target and the limit are orders of magnitude apart
        scales: { ...common.scales, y: { type: 'logarithmic', min: 1000, ticks: { callback: (v) => (/^[1-9]0*$/.test(String(v)) ? fmtInt(v) : '') } } },
      },
    });
    dash.charts.deferred = new Chart($('chart-deferred'), {
      type: 'bar',
      data: { labels: [], datasets: [{ label: 'deferred', data: [], backgroundColor: '#f2c14e' }] },
      options: { ...common, scales: { ...common.scales, y: { beginAtZero: true, ticks: { precision: 0 } } } },
    });
  }

  function renderMarket(history, params) {
    dash.market = history;
    const oldest = num(history.oldestBlock);
    const count = history.executeGasUsed.length;
    const labels = [];
    for (let i = 0; i < count; i++) labels.push(oldest + i);
    const fees = history.executeBaseFeePerGas.slice(0, count).map(num); // the last is the next block's
    const used = history.executeGasUsed.map(num);
    const target = num(params.cumulativeGasTarget);
    const limit = num(params.cumulativeGasLimit);
    const { fee, gas, deferred } = dash.charts;
    fee.data.labels = labels;
    fee.data.datasets[0].data = fees;
    gas.data.labels = labels;
    gas.data.datasets[0].data = used;
    gas.data.datasets[1].data = labels.map(() => target);
    gas.data.datasets[2].data = labels.map(() => limit);
    deferred.data.labels = labels;
    deferred.data.datasets[0].data = labels.map((n) => (dash.deferred.has(n) ? dash.deferred.get(n) : null));
    for (const n of [...dash.deferred.keys()]) if (n < oldest) dash.deferred.delete(n);
    fee.update();
    gas.update();
    deferred.update();
    $('market-range').textContent = count ? `blocks ${labels[0]}–${labels[count - 1]}` : '';
    $('market-params').textContent =
      `limit ${fmtInt(limit)} · target ${fmtInt(target)} execute gas per block · next block's fee ` +
      `${fmtGwei(num(params.pendingBaseFee))} · deferred calls are counted from the pool at each head this page saw`;
  }

  // EXECUTE's verifiers (NR-EXECUTE v1.2): the set, each one's time, disagreements counted.
  function renderVerifiers(v) {
    if (!v) return;
    const times = Object.entries(v.timings || {})
      .map(([name, t]) => `${name} ${t.seconds.toFixed(3)} s / ${t.calls} calls`)
      .join(', ');
    $('verifiers').textContent =
      `EXECUTE verifiers ${v.verifiers.join(',')} (${v.mode})` +
      (times ? ` · ${times}` : '') +
      ` · disagreements ${v.count}`;
    $('verifiers').classList.toggle('alert', v.count > 0);
  }

  // -- the rollup ------------------------------------------------------------------------------

  // Rollup events are scanned once: each refresh asks only for the blocks since the last one.
  const rollupLogs = {};
  function resetL2Logs() {
    Object.assign(rollupLogs, { l2Scanned: -1, delivered: new Set(), withdrawals: [], l2Hashes: new Map() });
  }
  function resetRollupLogs() {
    Object.assign(rollupLogs, { kind: null, forcedQueue: false, scanned: -1, settled: [], sent: [], claimed: new Set(), proposals: new Map(), forced: new Map() });
    resetL2Logs();
  }
  resetRollupLogs();
  const keepLast = (list, n) => (list.length > n ? list.slice(-n) : list);

  const word = (data, i) => '0x' + data.slice(2 + 64 * i, 2 + 64 * (i + 1));
  const settledCache = new Map(); // L1 tx hash -> {l1Gas, witnessBytes}

  function witnessBytes(input) {
    // advance(bytes32,bytes32,uint256,uint256,address,bytes32,bytes32,bytes transactions,bytes witness)
    if (!input || !input.startsWith(config.abi.advance)) return null; // not a direct advance call
    const args = '0x' + input.slice(10);
    if (args.length < 2 + 64 * 9) return null;
    const offset = num(word(args, 8));
    if (offset % 32 !== 0 || 2 + 2 * offset + 64 > args.length) return null;
    return num(word(args, offset / 32));
  }

  async function l2Batch(calls) {
    if (calls.length === 0) return [];
    const body = calls.map(([method, params], i) => {
      if (!READ_METHODS.has(method)) throw new Error(`${method} is not a read method`);
      return { jsonrpc: '2.0', id: i + 1, method, params };
    });
    const answer = await fetch(config.l2Url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
      cache: 'no-store',
    });
    if (!answer.ok) throw new Error(`HTTP ${answer.status}`);
    const items = await answer.json();
    const byId = new Map(items.map((item) => [item.id, item]));
    return body.map((req) => {
      const item = byId.get(req.id);
      if (!item || item.error) throw new Error(`${req.method}: ${item ? item.error.message : 'no answer'}`);
      return item.result;
    });
  }

  const unreachable = (err) =>
    `The L2 node at ${config.l2Url} is unreachable (${err.message || err}): settled hashes are not checked and deposits on the L2 are not followed.`;

  async function refreshRollup(head) {
    // The L2 first: its message shows whatever the L1 side says.
    let l2Head = null;
    let l2Error = config.l2UrlError;
    if (config.l2Url) {
      try {
        l2Head = num((await l2Batch([['eth_blockNumber', []]]))[0]);
        l2Error = null;
      } catch (err) {
        l2Error = unreachable(err);
      }
    }
    message('rollup-l2-message', l2Error);
    const r = config.rollup;
    const { topics, views, l2Messenger } = config.abi;
    const view = (name) => ['eth_call', [{ to: r.address, data: views[name] }, hex(head)]];
    const code = await rpc('eth_getCode', [r.address, hex(head)]).catch((err) => {
      throw new Error(`reading the rollup at ${r.address}: ${err.message}`);
    });
    if (!code || code === '0x') throw new Error(`no contract at ${r.address} on this chain (block ${head})`);
    if (rollupLogs.kind === null) {
      // which rollup: an optimistic one has a challenge window, a v1/v2 settled one a queue
      const [window, forced] = await tryBatch([view('CHALLENGE_WINDOW'), view('forcedCount')]);
      rollupLogs.kind = isWord(window) ? 'optimistic' : 'settled';
      rollupLogs.forcedQueue = !isWord(window) && isWord(forced);
      setupRollupKind();
    }
    const optimistic = rollupLogs.kind === 'optimistic';
    const names = ['escrowed', 'messageCount', 'anchoredMessageCount'];
    names.push(...(optimistic ? ['lastProposedNumber', 'finalizedNumber', 'CHALLENGE_WINDOW', 'PROPOSER_BOND'] : ['lastBlockNumber', 'lastBlockHash']));
    if (rollupLogs.forcedQueue) names.push('policy', 'forceDelay', 'forcedCount', 'forcedHead', 'dueCount', 'forcedFallbackOpen');
    const values = Object.fromEntries((await tryBatch(names.map(view))).map((v, i) => [names[i], isWord(v) ? v : null]));

    const start = rollupLogs.scanned < 0 ? Math.min(head, Math.max(r.deployBlock, head - LOG_WINDOW)) : rollupLogs.scanned + 1;
    if (start <= head) {
      const logs = (t) => ['eth_getLogs', [{ address: r.address, fromBlock: hex(start), toBlock: hex(head), topics: [t] }]];
      const blocksTopic = optimistic ? [topics.Proposed, topics.ProposalsDiscarded, topics.ChallengeFailed] : topics.BlockSettled;
      const calls = [logs(blocksTopic), logs(topics.MessageSent), logs(topics.L2MessageClaimed)];
      if (rollupLogs.forcedQueue) calls.push(logs([topics.ForcedTxQueued, topics.ForcedTxIncluded, topics.ForcedTxSkipped]));
      const [blockLogs, sentLogs, claimedLogs, forcedLogs] = await batch(calls).catch((err) => {
        throw new Error(`reading the rollup's events: ${err.message}`);
      });
      if (optimistic) applyProposalLogs(blockLogs);
      else rollupLogs.settled = keepLast([...rollupLogs.settled, ...blockLogs], SETTLED_ROWS);
      rollupLogs.sent = keepLast([...rollupLogs.sent, ...sentLogs], MAX_TRACKED_MESSAGES);
      for (const log of claimedLogs) rollupLogs.claimed.add(log.topics[1]);
      if (forcedLogs) applyForcedLogs(forcedLogs);
      rollupLogs.scanned = head;
    }

    // the rows: settled blocks, or proposals, newest first
    const rowsData = optimistic
      ? [...rollupLogs.proposals.values()].sort((a, b) => b.number - a.number).slice(0, SETTLED_ROWS)
      : [...rollupLogs.settled].reverse().map((log) => ({
          number: num(log.topics[1]),
          hash: log.topics[2],
          gasUsed: num(word(log.data, 1)),
          executeFee: big(word(log.data, 3)),
          tx: log.transactionHash,
          l1Block: num(log.blockNumber),
        }));
    const unknown = rowsData.filter((s) => !settledCache.has(s.tx));
    if (unknown.length) {
      const answers = await batch(unknown.flatMap((s) => [['eth_getTransactionReceipt', [s.tx]], ['eth_getTransactionByHash', [s.tx]]]));
      unknown.forEach((s, i) => {
        const receipt = answers[2 * i];
        const tx = answers[2 * i + 1];
        settledCache.set(s.tx, { l1Gas: receipt ? num(receipt.gasUsed) : null, witness: tx && !optimistic ? witnessBytes(tx.input) : null });
      });
    }

    // The L2 side, when its URL is known and it answers: hashes, deliveries, withdrawals.
    let l2 = null;
    if (l2Head !== null) {
      try {
        if (l2Head < rollupLogs.l2Scanned) resetL2Logs();
        const hashes = rollupLogs.l2Hashes; // L2 block number -> its hash, asked once
        const unchecked = rowsData.filter((st) => !hashes.has(st.number) && st.number <= l2Head);
        const l2Start = rollupLogs.l2Scanned < 0 ? Math.max(0, l2Head - LOG_WINDOW) : rollupLogs.l2Scanned + 1;
        const l2Logs = (topic) => ['eth_getLogs', [{ address: l2Messenger, fromBlock: hex(l2Start), toBlock: hex(l2Head), topics: [topic] }]];
        const l2Calls = unchecked.map((st) => ['eth_getBlockByNumber', [hex(st.number), false]]);
        if (l2Start <= l2Head) l2Calls.push(l2Logs(topics.MessageDelivered), l2Logs(topics.MessageSent));
        const answers = await l2Batch(l2Calls);
        unchecked.forEach((st, i) => answers[i] && hashes.set(st.number, answers[i].hash));
        if (l2Start <= l2Head) {
          for (const log of answers[unchecked.length]) rollupLogs.delivered.add(log.topics[1]);
          rollupLogs.withdrawals = keepLast([...rollupLogs.withdrawals, ...answers[unchecked.length + 1]], MAX_TRACKED_MESSAGES);
          rollupLogs.l2Scanned = l2Head;
        }
        for (const n of [...hashes.keys()]) if (!rowsData.some((st) => st.number === n)) hashes.delete(n);
        l2 = {
          head: l2Head,
          blocks: rowsData.map((st) => (hashes.has(st.number) ? { hash: hashes.get(st.number) } : null)),
          delivered: rollupLogs.delivered,
          withdrawals: rollupLogs.withdrawals,
        };
      } catch (err) {
        l2Error = unreachable(err);
        message('rollup-l2-message', l2Error);
      }
    }

    const settledNumber = optimistic ? numOr(values.finalizedNumber) : numOr(values.lastBlockNumber);
    const windowBlocks = numOr(values.CHALLENGE_WINDOW);
    const rows = rowsData.map((s, i) => {
      const extra = settledCache.get(s.tx) || {};
      let check;
      if (!l2) check = el('td', { class: 'muted' }, 'not checked');
      else if (!l2.blocks[i]) check = el('td', { class: 'bad' }, 'missing on L2');
      else if (l2.blocks[i].hash === s.hash) check = el('td', { class: 'ok' }, '✓ same hash');
      else check = el('td', { class: 'bad', title: l2.blocks[i].hash }, '✗ differs');
      const cells = [
        el('td', {}, fmtInt(s.number)),
        el('td', { class: 'mono', title: s.hash }, short(s.hash, 8)),
        check,
        el('td', { class: 'num' }, extra.l1Gas == null ? '—' : fmtInt(extra.l1Gas)),
      ];
      if (optimistic) {
        s.state = proposalState(s, settledNumber, windowBlocks, head);
        cells.push(el('td', { class: 'num' }, fmtInt(s.l1Block)), el('td', { class: s.discarded ? 'bad' : s.state === 'final' ? 'ok' : 'warn' }, s.state));
      } else {
        cells.push(el('td', { class: 'num' }, `${fmtEth(s.executeFee, 6)} ETH`));
        cells.push(el('td', { class: 'num' }, extra.witness == null ? '—' : `${fmtInt(extra.witness)} B`));
      }
      return el('tr', { 'data-l2-block': s.number }, ...cells);
    });
    if (rows.length === 0) rows.push(el('tr', {}, el('td', { colspan: 6, class: 'muted' }, optimistic ? 'no L2 block proposed yet' : 'no L2 block settled yet')));
    fill($('settled').tBodies[0], rows);

    const anchoredCount = numOr(values.anchoredMessageCount);
    const flights = [];
    for (const log of rollupLogs.sent) {
      const nonce = num(log.topics[1]);
      const messageHash = word(log.data, 4);
      if (l2 && l2.delivered.has(messageHash)) continue;
      const state = anchoredCount !== null && nonce >= anchoredCount ? 'waiting for an anchor' : l2 ? 'anchored, not delivered on L2' : 'anchored (L2 not followed)';
      flights.push(['deposit L1→L2', nonce, big(word(log.data, 0)), state]);
    }
    if (l2) {
      for (const log of l2.withdrawals) {
        const messageHash = word(log.data, 4);
        if (rollupLogs.claimed.has(messageHash)) continue;
        const done = settledNumber !== null && num(log.blockNumber) <= settledNumber;
        const state = done ? `${optimistic ? 'final' : 'settled'}, claimable on L1` : `waiting for ${optimistic ? 'finality' : 'settlement'}`;
        flights.push(['withdrawal L2→L1', num(log.topics[1]), big(word(log.data, 0)), state]);
      }
    }
    const flightRows = flights.map(([kind, nonce, value, state]) =>
      el('tr', {}, el('td', {}, kind), el('td', {}, nonce), el('td', { class: 'num' }, `${fmtEth(value)} ETH`), el('td', {}, state)),
    );
    if (flightRows.length === 0) flightRows.push(el('tr', {}, el('td', { colspan: 4, class: 'muted' }, l2 ? 'nothing in flight' : 'no deposit waiting for an anchor (withdrawals need the L2 node)')));
    fill($('in-flight').tBodies[0], flightRows);

    const shown = (v, f) => (v === null ? '—' : f(v));
    const facts = optimistic
      ? [
          ['proposed L2 head', shown(values.lastProposedNumber, (v) => fmtInt(num(v)))],
          ['final L2 head', shown(values.finalizedNumber, (v) => fmtInt(num(v)))],
          ['challenge window', shown(values.CHALLENGE_WINDOW, (v) => `${fmtInt(num(v))} L1 blocks`)],
          ['proposer bond', shown(values.PROPOSER_BOND, (v) => `${fmtEth(big(v))} ETH`)],
        ]
      : [
          ['settled L2 head', shown(values.lastBlockNumber, (v) => fmtInt(num(v)))],
          ['settled hash', shown(values.lastBlockHash, (v) => short(v, 8))],
        ];
    facts.push(['escrow', shown(values.escrowed, (v) => `${fmtEth(big(v))} ETH`)]);
    facts.push(['L1→L2 messages', `${shown(values.messageCount, (v) => fmtInt(num(v)))} (${shown(values.anchoredMessageCount, (v) => fmtInt(num(v)))} anchored)`]);
    if (l2) facts.push(['L2 head', fmtInt(l2.head)]);
    $('rollup-facts').replaceChildren(...facts.map(([k, v]) => el('div', {}, el('dt', {}, k), el('dd', {}, v))));
    const forced = rollupLogs.forcedQueue ? renderForced(values, head) : null;
    dash.rollup = {
      kind: rollupLogs.kind,
      settled: rowsData.map((s) => ({ ...s, executeFee: s.executeFee === undefined ? null : s.executeFee.toString(), ...settledCache.get(s.tx) })),
      forced,
      l2Checked: !!l2,
      l2Error,
      inFlight: flights.length,
    };
  }

  const isWord = (v) => typeof v === 'string' && v.length === 66;
  const numOr = (v) => (v === null || v === undefined ? null : num(v));

  function setupRollupKind() {
    const optimistic = rollupLogs.kind === 'optimistic';
    $('settled-title').textContent = optimistic ? 'Proposed L2 blocks' : 'Settled L2 blocks';
    const head = optimistic
      ? ['L2 block', 'hash', 'on L2', 'L1 gas', 'proposed at L1', 'state']
      : ['L2 block', 'hash', 'on L2', 'L1 gas', 'execute fee', 'witness'];
    $('settled').tHead.rows[0].replaceChildren(...head.map((h) => el('th', {}, h)));
    $('forced-box').hidden = !rollupLogs.forcedQueue;
  }

  // Proposed / ProposalsDiscarded / ChallengeFailed, in chain order.
  function applyProposalLogs(logs) {
    const { topics } = config.abi;
    for (const log of logs) {
      const number = num(log.topics[1]);
      if (log.topics[0] === topics.Proposed) {
        rollupLogs.proposals.set(number, { number, hash: log.topics[2], tx: log.transactionHash, l1Block: num(log.blockNumber), discarded: false, verified: false });
      } else if (log.topics[0] === topics.ProposalsDiscarded) {
        const last = num(word(log.data, 0));
        for (const p of rollupLogs.proposals.values()) if (p.number >= number && p.number <= last) p.discarded = true;
      } else if (rollupLogs.proposals.has(number)) {
        rollupLogs.proposals.get(number).verified = true;
      }
    }
    const numbers = [...rollupLogs.proposals.keys()].sort((a, b) => a - b);
    for (const n of numbers.slice(0, Math.max(0, numbers.length - MAX_TRACKED_MESSAGES))) rollupLogs.proposals.delete(n);
  }

  function proposalState(p, finalNumber, windowBlocks, head) {
    if (p.discarded) return 'discarded (challenged)';
    if (finalNumber !== null && p.number <= finalNumber) return 'final';
    if (windowBlocks === null) return 'proposed';
    const closes = p.l1Block + windowBlocks;
    const open = `challengeable until L1 #${closes} (${Math.max(0, closes - head)} more)`;
    return p.verified ? `verified; ${open}` : open;
  }

  // ForcedTxQueued / ForcedTxIncluded / ForcedTxSkipped, in chain order.
  function applyForcedLogs(logs) {
    const { topics } = config.abi;
    for (const log of logs) {
      const index = num(log.topics[1]);
      if (log.topics[0] === topics.ForcedTxQueued) {
        rollupLogs.forced.set(index, { index, txHash: log.topics[2], dueBlock: num(word(log.data, 0)), outcome: null });
      } else if (rollupLogs.forced.has(index)) {
        const verb = log.topics[0] === topics.ForcedTxIncluded ? 'included in' : 'shown invalid at';
        rollupLogs.forced.get(index).outcome = `${verb} L2 #${fmtInt(num(log.topics[3]))}`;
      }
    }
    const indexes = [...rollupLogs.forced.keys()].sort((a, b) => a - b);
    for (const i of indexes.slice(0, Math.max(0, indexes.length - MAX_TRACKED_MESSAGES))) rollupLogs.forced.delete(i);
  }

  function renderForced(values, head) {
    const forcedHead = numOr(values.forcedHead);
    const entries = [...rollupLogs.forced.values()].sort((a, b) => b.index - a.index).slice(0, SETTLED_ROWS);
    const state = (e) => {
      if (e.outcome) return e.outcome;
      if (forcedHead !== null && e.index < forcedHead) return 'consumed';
      return e.dueBlock <= head ? 'due now' : `due at L1 #${fmtInt(e.dueBlock)} (in ${e.dueBlock - head})`;
    };
    const rows = entries.map((e) =>
      el('tr', { 'data-forced': e.index }, el('td', {}, e.index), el('td', { class: 'mono', title: e.txHash }, short(e.txHash, 8)), el('td', { class: 'num' }, fmtInt(e.dueBlock)), el('td', { class: e.outcome ? 'ok' : 'warn' }, state(e))),
    );
    if (rows.length === 0) rows.push(el('tr', {}, el('td', { colspan: 4, class: 'muted' }, 'nothing was ever queued')));
    fill($('forced').tBodies[0], rows);
    const policy = values.policy === null ? '—' : ['sequencer only', 'based (anyone)'][num(values.policy)] || `policy ${num(values.policy)}`;
    const facts = [
      ['settles', policy],
      ['force delay', values.forceDelay === null ? '—' : `${fmtInt(num(values.forceDelay))} L1 blocks`],
      ['queued', values.forcedCount === null ? '—' : fmtInt(num(values.forcedCount))],
      ['waiting', forcedHead === null || values.forcedCount === null ? '—' : fmtInt(num(values.forcedCount) - forcedHead)],
      ['due now', values.dueCount === null ? '—' : fmtInt(num(values.dueCount))],
      ['fallback', values.forcedFallbackOpen === null ? '—' : num(values.forcedFallbackOpen) ? 'open: anyone may settle' : 'closed'],
    ];
    $('forced-facts').replaceChildren(...facts.map(([k, v]) => el('div', {}, el('dt', {}, k), el('dd', {}, v))));
    return { facts: Object.fromEntries(facts), entries: entries.map((e) => ({ ...e, state: state(e) })) };
  }

  setInterval(() => {
    for (const cell of document.querySelectorAll('[data-ts]')) cell.textContent = age(Number(cell.dataset.ts));
  }, 1000); // ages only: no request

  connect();
})();
