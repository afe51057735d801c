// Drive the system Chromium (headless) with puppeteer-core to a dApp page and print what
// the page wrote into #result, with the page's console lines, errors and failed requests:
//   node tests/js/browser.mjs <page-url> <chromium-path>
// Prints one JSON line {result, console, pageErrors, failedRequests}; exits 0 when the page
// finished (its result may hold an error: the caller judges), 1 when it never did.

import puppeteer from 'puppeteer-core';

const [pageUrl, executablePath] = process.argv.slice(2);
if (!pageUrl || !executablePath) {
  console.error(`usage: node ${process.argv[1]} <page-url> <chromium-path>`);
  process.exit(2);
}
const PAGE_TIMEOUT_MS = 60_000;

const browser = await puppeteer.launch({
  executablePath,
  headless: true,
  args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--no-first-run'],
});
const report = { result: null, console: [], pageErrors: [], failedRequests: [] };
let code = 0;
try {
  const page = await browser.newPage();
  page.on('console', (msg) => report.console.push(`${msg.type()}: ${msg.text()}`));
  page.on('pageerror', (err) => report.pageErrors.push(String(err)));
  page.on('requestfailed', (req) =>
    report.failedRequests.push(`${req.method()} ${req.url()}: ${req.failure()?.errorText}`),
  );
  await page.goto(pageUrl, { waitUntil: 'load', timeout: PAGE_TIMEOUT_MS });
  await page.waitForSelector('#result[data-done]', { timeout: PAGE_TIMEOUT_MS });
  report.result = JSON.parse(await page.$eval('#result', (el) => el.textContent));
} catch (err) {
  report.pageErrors.push(`driver: ${err}`);
  code = 1;
} finally {
  await browser.close();
}
console.log(JSON.stringify(report));
process.exit(code);
