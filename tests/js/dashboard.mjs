// Drive the system Chromium (headless, puppeteer-core) to a node's dashboard and report what
// the page shows and every request it made:
//   node tests/js/dashboard.mjs <page-url> <chromium-path> [--mine RPC_URL] [--screenshot PNG]
//                               [--rollup] [--rollup-l2-message] [--calls RPC_URL JSON]
// --mine: after the first render, this script (not the page) asks RPC_URL for evm_mine and
// waits for the page to show the new head without a reload. --rollup: wait for the rollup
// panel's first render; --rollup-l2-message: wait for its L2 message. --calls: after the first
// render, this script sends JSON's [[method, params], ...] to RPC_URL in order, then waits for
// the page to show the node's head block (same number and hash); with --offline the page's
// WebSocket is closed first and kept from reconnecting until the calls are done.
// Prints one JSON line; exits 0 when every wait was met, 1 otherwise.

import puppeteer from 'puppeteer-core';

const argv = process.argv.slice(2);
const [pageUrl, executablePath] = argv;
if (!pageUrl || !executablePath) {
  console.error(`usage: node ${process.argv[1]} <page-url> <chromium-path> [options]`);
  process.exit(2);
}
const option = (name) => {
  const i = argv.indexOf(name);
  return i < 0 ? null : argv[i + 1];
};
const flag = (name) => argv.includes(name);
const WAIT_MS = 60_000;

function methodsOf(text) {
  try {
    const msg = JSON.parse(text);
    return (Array.isArray(msg) ? msg : [msg]).map((m) => (m && typeof m.method === 'string' ? m.method : '?'));
  } catch {
    return ['<not JSON>'];
  }
}

const browser = await puppeteer.launch({
  executablePath,
  headless: true,
  args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--no-first-run'],
  defaultViewport: { width: 1360, height: 900, deviceScaleFactor: 1 },
});
const report = {
  console: [],
  pageErrors: [],
  failedRequests: [],
  navigations: 0,
  wsSent: [], // methods of every WebSocket frame the page sent
  http: [], // every HTTP request: method, url, JSON-RPC methods of its body
};
let code = 0;
try {
  const page = await browser.newPage();
  const cdp = await page.createCDPSession();
  await cdp.send('Network.enable');
  cdp.on('Network.webSocketFrameSent', ({ response }) => report.wsSent.push(...methodsOf(response.payloadData)));
  page.on('console', (msg) => report.console.push(`${msg.type()}: ${msg.text()}`));
  page.on('pageerror', (err) => report.pageErrors.push(String(err)));
  page.on('request', (req) => {
    const body = req.postData();
    report.http.push({ method: req.method(), url: req.url(), rpc: body ? methodsOf(body) : [] });
  });
  page.on('requestfailed', (req) => report.failedRequests.push(`${req.method()} ${req.url()}: ${req.failure()?.errorText}`));
  page.on('framenavigated', (frame) => {
    if (frame === page.mainFrame()) report.navigations += 1;
  });

  if (flag('--offline')) {
    // the driver's hand on the page's WebSockets: __cutOff(true) closes them and points new
    // ones at a closed port until __cutOff(false)
    await page.evaluateOnNewDocument(() => {
      const Real = window.WebSocket;
      const open = [];
      let cut = false;
      window.WebSocket = function (url, protocols) {
        const ws = new Real(cut ? 'ws://127.0.0.1:9/' : url, protocols);
        open.push(ws);
        return ws;
      };
      window.WebSocket.prototype = Real.prototype;
      Object.assign(window.WebSocket, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 });
      window.__cutOff = (on) => {
        cut = on;
        if (on) for (const ws of open.splice(0)) ws.close();
      };
    });
  }
  await page.goto(pageUrl, { waitUntil: 'load', timeout: WAIT_MS });
  await page.waitForFunction(() => window.dashboard && window.dashboard.ready, { timeout: WAIT_MS });
  // what the page shows once its refresh is done (a head that arrives meanwhile runs another)
  const settled = () => page.waitForFunction(() => !window.dashboard.busy, { timeout: WAIT_MS });
  const snapshot = async () => {
    await settled();
    return page.evaluate(() => ({
      head: window.dashboard.head,
      heads: window.dashboard.heads,
      headText: document.getElementById('head-number').textContent,
      rows: [...document.querySelectorAll('#blocks tbody tr')].map((r) => Number(r.dataset.block)),
      hashes: [...document.querySelectorAll('#blocks tbody tr')].map((r) => r.dataset.hash),
      // transaction hash -> the status cell's text
      txStatus: Object.fromEntries(
        [...document.querySelectorAll('#txs tbody tr[data-tx]')].map((r) => [r.dataset.tx, r.lastElementChild.textContent]),
      ),
      deferred: window.dashboard.charts.deferred ? window.dashboard.charts.deferred.data.datasets[0].data : null,
    }));
  };
  report.first = await snapshot();

  const callsUrl = option('--calls');
  if (callsUrl) {
    const post = async (method, params) => {
      const answer = await fetch(callsUrl, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
      });
      return (await answer.json()).result;
    };
    const calls = JSON.parse(argv[argv.indexOf('--calls') + 2]);
    report.calls = [];
    // --offline: the page is cut off while the calls run (its WebSocket drops), so it sees
    // none of their heads and finds the result when it reconnects
    if (flag('--offline')) {
      await page.evaluate(() => window.__cutOff(true));
      await page.waitForFunction(() => document.getElementById('status').classList.contains('down'), { timeout: WAIT_MS });
    }
    for (const [method, params] of calls) report.calls.push(await post(method, params));
    if (flag('--offline')) await page.evaluate(() => window.__cutOff(false));
    const head = await post('eth_getBlockByNumber', ['latest', false]);
    report.nodeHead = { number: Number(head.number), hash: head.hash };
    await page.waitForFunction(
      (n) => window.dashboard.head === n && document.querySelector('#blocks tbody tr')?.dataset.block === String(n),
      { timeout: WAIT_MS },
      report.nodeHead.number,
    );
    report.afterCalls = await snapshot();
  }

  const mineUrl = option('--mine');
  if (mineUrl) {
    const answer = await fetch(mineUrl, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'evm_mine', params: [] }),
    });
    report.mined = await answer.json();
    const want = report.first.head + 1;
    await page.waitForFunction(
      (n) => document.querySelector(`#blocks tbody tr[data-block="${n}"]`) !== null,
      { timeout: WAIT_MS },
      want,
    );
    report.afterMine = await snapshot();
  }
  if (flag('--rollup')) {
    await page.waitForFunction(() => window.dashboard.rollup !== null, { timeout: WAIT_MS });
  }
  if (flag('--rollup-l2-message')) {
    await page.waitForFunction(() => !document.getElementById('rollup-l2-message').hidden, { timeout: WAIT_MS });
  }
  // the market as the charts hold it (the charts' own data arrays)
  await settled();
  report.page = await page.evaluate(() => {
    const d = window.dashboard;
    const text = (id) => {
      const box = document.getElementById(id);
      return box && !box.hidden ? box.textContent : null;
    };
    const charts = d.charts.fee
      ? {
          labels: d.charts.fee.data.labels,
          fee: d.charts.fee.data.datasets[0].data,
          gasLabels: d.charts.gas.data.labels,
          gas: d.charts.gas.data.datasets[0].data,
          target: d.charts.gas.data.datasets[1].data,
          limit: d.charts.gas.data.datasets[2].data,
          deferred: d.charts.deferred.data.datasets[0].data,
        }
      : null;
    return {
      head: d.head,
      renders: d.renders,
      errors: d.errors,
      charts,
      rollup: d.rollup,
      marketVisible: !document.getElementById('market').hidden,
      rollupVisible: !document.getElementById('rollup').hidden,
      messages: { error: text('error'), rollup: text('rollup-message'), rollupL2: text('rollup-l2-message') },
      verifiers: text('verifiers'),
      settledRows: [...document.querySelectorAll('#settled tbody tr')].map((r) => r.textContent),
      accounts: document.querySelectorAll('#accounts tbody tr').length,
      txs: [...document.querySelectorAll('#txs tbody tr')].map((r) => r.textContent),
      anchors: [...document.querySelectorAll('#blocks tbody tr')].map((r) => r.lastElementChild.textContent),
    };
  });
  const shot = option('--screenshot');
  if (shot) await page.screenshot({ path: shot, fullPage: true });
} catch (err) {
  report.pageErrors.push(`driver: ${err}`);
  code = 1;
} finally {
  await browser.close();
}
console.log(JSON.stringify(report));
process.exit(code);
