// Browser check of the dashboard: builds a demo history (run folders written and recorded
// by the harness's own code), starts `harness dashboard` on a free loopback port, loads
// every page in headless Chromium, checks the key elements rendered with no console error
// and no request leaving the dashboard, and saves a
// screenshot of each page.
//
//   node check.mjs <screenshots dir>
//
// HARNESS_BIN and DEMO_BIN name the binaries (default: $CARGO_TARGET_DIR or target, debug
// profile); CHROMIUM the browser (default /usr/bin/chromium). Exits 1 on any failure.

import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const target = resolve(root, process.env.CARGO_TARGET_DIR || 'target');
const harnessBin = process.env.HARNESS_BIN || join(target, 'debug', 'harness');
const demoBin = process.env.DEMO_BIN || join(target, 'debug', 'examples', 'dashboard_demo');
const chromiumBin = process.env.CHROMIUM || '/usr/bin/chromium';
// The machine's network may be closed: without these Chromium stalls on start-up fetches.
const chromiumFlags = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
const startupTimeoutMs = 30_000;

const screens = process.argv[2];
if (!screens) {
  console.error('usage: node check.mjs <screenshots dir>');
  process.exit(2);
}
mkdirSync(screens, { recursive: true });

const failures = [];
const fail = (message) => {
  failures.push(message);
  console.error(`FAIL ${message}`);
};

/** Starts the dashboard and resolves with its base URL once it printed where it listens. */
function startDashboard(db) {
  const child = spawn(harnessBin, ['dashboard', '--db', db, '--bind', '127.0.0.1:0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const url = new Promise((resolveUrl, reject) => {
    let out = '';
    const timer = setTimeout(
      () => reject(new Error(`the dashboard did not start within ${startupTimeoutMs} ms`)),
      startupTimeoutMs,
    );
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const found = out.match(/dashboard on (http:\/\/127\.0\.0\.1:\d+)\//);
      if (found) {
        clearTimeout(timer);
        resolveUrl(found[1]);
      }
    });
    child.stderr.on('data', (chunk) => process.stderr.write(chunk));
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the dashboard exited with ${code} before serving`));
    });
  });
  return { child, url };
}

/** Loads one page, checks its status, selectors and console, and screenshots it. */
async function checkPage(page, base, { name, path, status = 200, selectors }) {
  const consoleErrors = [];
  // The browser logs a page answered with an error status as a console error; for the
  // page expected to be a 404 that one is the point, any other is a failure.
  const onConsole = (msg) => {
    if (msg.type() !== 'error') return;
    if (status !== 200 && msg.location().url === base + path) return;
    consoleErrors.push(msg.text());
  };
  const onPageError = (err) => consoleErrors.push(String(err));
  page.on('console', onConsole);
  page.on('pageerror', onPageError);
  try {
    const response = await page.goto(base + path, { waitUntil: 'load' });
    if (!response) {
      fail(`${name}: no response for ${path}`);
      return;
    }
    if (response.status() !== status) {
      fail(`${name}: ${path} answered ${response.status()}, expected ${status}`);
    }
    for (const selector of selectors) {
      const count = await page.locator(selector).count();
      if (count === 0) fail(`${name}: ${path} has no ${selector}`);
    }
    for (const text of consoleErrors) fail(`${name}: console error: ${text}`);
    await page.screenshot({ path: join(screens, `${name}.png`), fullPage: true });
    console.log(`ok   ${name} ${path}`);
  } finally {
    page.off('console', onConsole);
    page.off('pageerror', onPageError);
  }
}

async function main() {
  const work = mkdtempSync(join(tmpdir(), 'dashboard-check-'));
  const db = join(work, 'history.sqlite');
  execFileSync(demoBin, [db], { stdio: ['ignore', 'ignore', 'inherit'] });
  const dashboard = startDashboard(db);
  let context;
  try {
    const base = await dashboard.url;
    context = await chromium.launchPersistentContext(join(work, 'chromium-profile'), {
      executablePath: chromiumBin,
      headless: true,
      args: chromiumFlags,
      viewport: { width: 1280, height: 800 },
    });
    const page = context.pages()[0] ?? (await context.newPage());
    // Every page must be self-contained: nothing is fetched from anywhere else.
    page.on('request', (request) => {
      if (!request.url().startsWith(base)) fail(`a page fetched ${request.url()}`);
    });

    await checkPage(page, base, {
      name: 'runs', path: '/',
      selectors: ['table.runs tr.run', '.partial-mark', 'li.newly-failing a', 'li.newly-passing a'],
    });
    const runHref = await page.locator('table.runs tr.run a').first().getAttribute('href');
    await checkPage(page, base, {
      name: 'run', path: runHref,
      selectors: ['table.matrix a.outcome-pass', 'table.matrix a.outcome-fail', 'table.bench-health .health-bad'],
    });
    const caseHref = await page.locator('table.matrix a.outcome-fail').first().getAttribute('href');
    await checkPage(page, base, {
      name: 'case', path: caseHref,
      selectors: ['h1 .outcome-fail', 'pre.diff span.add', 'pre.diff span.del', 'pre.transcript', 'dd.firmware'],
    });
    const transcript = await page.locator('pre.transcript').innerText();
    // The failing answer is in the transcript, and its `[MAC]` markers survived escaping.
    if (!transcript.includes('-> 404') || !transcript.includes('[MAC]')) {
      fail('case: the transcript lost its failing answer or its redaction markers');
    }
    const trendHref = await page.locator('a[href^="/history/"]').first().getAttribute('href');
    await checkPage(page, base, {
      name: 'trend', path: trendHref,
      selectors: ['.trend a.outcome-pass', '.trend a.outcome-fail', 'svg.sparkline polyline'],
    });
    await checkPage(page, base, {
      name: 'benches', path: '/benches',
      selectors: ['table.benches tr.bench', '.health-bad', '.health-healthy'],
    });
    await checkPage(page, base, {
      name: 'not-found', path: '/runs/999999', status: 404, selectors: ['.not-found', 'main a[href="/"]'],
    });
  } finally {
    if (context) await context.close();
    dashboard.child.kill('SIGINT');
    rmSync(work, { recursive: true, force: true });
  }
}

try {
  await main();
} catch (err) {
  fail(err?.stack || String(err));
}
if (failures.length > 0) {
  console.error(`${failures.length} browser check failure(s)`);
  process.exit(1);
}
console.log(`browser check passed; screenshots in ${screens}`);
