// Browser checks of the Pharos web UI against a running server, driving Debian's chromium
// through playwright-core. Run by crates/pharos/tests/web_ui.rs, which starts the servers and
// passes their addresses in the PHAROS_E2E environment variable (JSON):
//
//   baseUrl         the server under test, e.g. http://127.0.0.1:9090 (no trailing slash)
//   bigUrl          optional second server (under a route prefix) with many targets
//   bigTargets      how many targets bigUrl has
//   expectRules     whether baseUrl evaluates the rule group "web-ui" (alerts AlwaysFiring,
//                   PendingForever, NeverFiring and one recording rule)
//   exporterUrl     scrape URL of the exporter target, expected up
//   deadUrl         scrape URL of the target where nothing listens, expected down
//   chromium        path of the chromium binary
//   userDataDir     a fresh, empty profile directory
//   screenshotDir   where the page screenshots go
//
// Prints one line per check ("ok <name>", "FAIL <name>: <why>") and measurements
// ("measure <name>: <value>"); exits 1 if any check failed.

import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const cfg = JSON.parse(process.env.PHAROS_E2E ?? '{}');
for (const key of ['baseUrl', 'exporterUrl', 'deadUrl', 'chromium', 'userDataDir', 'screenshotDir']) {
  if (!cfg[key]) {
    console.log(`FAIL config: PHAROS_E2E lacks "${key}"`);
    process.exit(2);
  }
}

const PAGES = [
  'query',
  'alerts',
  'rules',
  'targets',
  'service-discovery',
  'status',
  'tsdb-status',
  'config',
  'flags',
];
const STEP_MS = 10_000;
let failures = 0;

const tid = (id) => `[data-testid="${id}"]`;

async function check(name, fn) {
  const started = Date.now();
  try {
    const note = await withTimeout(fn(), 30_000, name);
    const shown = note ? ` (${String(note).replace(/\s+/g, ' ')})` : '';
    console.log(`ok ${name}${shown} [${Date.now() - started} ms]`);
    return true;
  } catch (e) {
    failures += 1;
    // Playwright's call logs carry terminal colour codes.
    const msg = String(e?.message ?? e)
      .replace(/\u001b\[[0-9;]*m/g, '')
      .split('\n')
      .slice(0, 4)
      .join(' | ');
    console.log(`FAIL ${name}: ${msg}`);
    return false;
  }
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

async function shot(page, name, fullPage = true) {
  await page.screenshot({
    path: path.join(cfg.screenshotDir, `${name}.png`),
    fullPage,
    timeout: 20_000,
  });
}

async function gotoPage(page, base, name) {
  await page.goto(`${base}/${name}`, { waitUntil: 'domcontentloaded' });
  await page.locator(tid('page-title')).first().waitFor({ state: 'visible', timeout: STEP_MS });
}

/** Clicks a top-bar link, opening the status menu first when the link is inside it. */
async function clickNav(page, name) {
  const link = page.locator(tid(`nav-${name}`)).first();
  if (!(await link.isVisible())) {
    const menu = page.locator(tid('nav-status-menu')).first();
    if (await menu.count()) await menu.click();
  }
  await link.click({ timeout: STEP_MS });
}

/** Replaces the text of the first panel's PromQL editor with `expr` and executes it. */
async function runQuery(page, expr) {
  const panel = page.locator(tid('query-panel')).first();
  const editor = panel.locator(`${tid('expression-input')} .cm-content`).first();
  await editor.click();
  await page.keyboard.press('ControlOrMeta+A');
  await page.keyboard.press('Backspace');
  await page.keyboard.type(expr, { delay: 5 });
  // Close any completion popup so it cannot cover the button.
  await page.keyboard.press('Escape');
  await panel.locator(tid('execute-button')).first().click();
  return panel;
}

async function visibleCount(locator) {
  return locator.evaluateAll((els) => els.filter((e) => e.getClientRects().length > 0).length);
}

const pageErrors = [];
fs.mkdirSync(cfg.screenshotDir, { recursive: true });

const context = await chromium.launchPersistentContext(cfg.userDataDir, {
  executablePath: cfg.chromium,
  headless: true,
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
  ],
  viewport: { width: 1280, height: 900 },
  locale: 'en-US',
  timeout: 30_000,
});
context.setDefaultTimeout(STEP_MS);
const page = context.pages()[0] ?? (await context.newPage());
page.on('pageerror', (e) => pageErrors.push(String(e?.message ?? e)));

const base = cfg.baseUrl;

try {
  await check('root redirects to the query page', async () => {
    await page.goto(`${base}/`, { waitUntil: 'domcontentloaded' });
    assert(new URL(page.url()).pathname === '/query', `landed on ${page.url()}`);
  });

  for (const name of PAGES) {
    await check(`page ${name} renders its title`, async () => {
      await gotoPage(page, base, name);
      const title = (await page.locator(tid('page-title')).first().innerText()).trim();
      assert(title.length > 0, 'page-title is empty');
      await shot(page, `en-${name}`);
      return title;
    });
  }

  await check('top bar links navigate between pages', async () => {
    await gotoPage(page, base, 'query');
    for (const name of PAGES) {
      await clickNav(page, name);
      await page.waitForURL((u) => u.pathname === `/${name}`, { timeout: STEP_MS });
      await page.locator(tid('page-title')).first().waitFor({ state: 'visible' });
    }
  });

  await check('old /graph links open the query page with their expression', async () => {
    await page.goto(`${base}/graph?g0.expr=${encodeURIComponent('up')}&g0.tab=1`, {
      waitUntil: 'domcontentloaded',
    });
    await page.waitForURL((u) => u.pathname === '/query', { timeout: STEP_MS });
    const editor = page.locator(`${tid('expression-input')} .cm-content`).first();
    await editor.waitFor({ state: 'visible' });
    const text = await editor.innerText();
    assert(text.trim() === 'up', `editor holds ${JSON.stringify(text)}`);
  });

  await check('a query shows its result table', async () => {
    await gotoPage(page, base, 'query');
    const panel = await runQuery(page, 'up');
    await panel.locator(tid('tab-table')).first().click();
    const table = panel.locator(tid('result-table')).first();
    await table.waitFor({ state: 'visible' });
    const exporter = new URL(cfg.exporterUrl).host;
    await page.waitForFunction(
      ([sel, host]) => document.querySelector(sel)?.textContent?.includes(host),
      [tid('result-table'), exporter],
      { timeout: STEP_MS },
    );
    const text = await table.innerText();
    assert(text.includes('up'), 'table does not name the metric');
    await shot(page, 'en-query-table');
    return `${text.split('\n').length} lines`;
  });

  await check('the graph tab draws a chart', async () => {
    const panel = page.locator(tid('query-panel')).first();
    await panel.locator(tid('tab-graph')).first().click();
    await panel.locator(`${tid('graph')} canvas`).first().waitFor({ state: 'visible' });
    await shot(page, 'en-query-graph');
  });

  await check('URL parameters open a graph panel (g0.expr, g0.tab, g0.range_input)', async () => {
    const q = `g0.expr=${encodeURIComponent('up')}&g0.tab=0&g0.range_input=1m`;
    await page.goto(`${base}/query?${q}`, { waitUntil: 'domcontentloaded' });
    const panel = page.locator(tid('query-panel')).first();
    await panel.locator(`${tid('graph')} canvas`).first().waitFor({ state: 'visible' });
    const text = await panel.locator(`${tid('expression-input')} .cm-content`).first().innerText();
    assert(text.trim() === 'up', `editor holds ${JSON.stringify(text)}`);
    await shot(page, 'en-query-graph-1m');
  });

  await check('a query error shows its message', async () => {
    await page.locator(tid('query-panel')).first().locator(tid('tab-table')).first().click();
    const panel = await runQuery(page, '1 +');
    const err = panel.locator(tid('query-error')).first();
    await err.waitFor({ state: 'visible' });
    const text = (await err.innerText()).trim();
    assert(/parse|unexpected/i.test(text), `error text is ${JSON.stringify(text)}`);
    await shot(page, 'en-query-error');
    return text.slice(0, 80);
  });

  await check('an empty result says so', async () => {
    const panel = await runQuery(page, 'metric_that_does_not_exist_anywhere');
    await panel.locator(tid('query-empty')).first().waitFor({ state: 'visible' });
    const errors = await visibleCount(panel.locator(tid('query-error')));
    assert(errors === 0, 'the previous error is still shown');
  });

  await check('add-panel adds a second query panel', async () => {
    const before = await page.locator(tid('query-panel')).count();
    await page.locator(tid('add-panel')).first().click();
    await page.waitForFunction(
      ([sel, n]) => document.querySelectorAll(sel).length === n + 1,
      [tid('query-panel'), before],
      { timeout: STEP_MS },
    );
  });

  await check('targets shows the exporter up and the dead target down', async () => {
    await gotoPage(page, base, 'targets');
    const row = (url) => page.locator(`${tid('target-row')}[data-endpoint="${url}"]`).first();
    await row(cfg.exporterUrl).waitFor({ state: 'attached' });
    await row(cfg.deadUrl).waitFor({ state: 'attached' });
    const up = await row(cfg.exporterUrl).getAttribute('data-health');
    const down = await row(cfg.deadUrl).getAttribute('data-health');
    assert(up === 'up', `exporter row has data-health=${up}`);
    assert(down === 'down', `dead row has data-health=${down}`);
    const error = (await row(cfg.deadUrl).locator(tid('target-error')).first().innerText()).trim();
    assert(/connection refused/i.test(error), `dead row error is ${JSON.stringify(error)}`);
    const pools = await page.locator(tid('target-pool')).evaluateAll((els) =>
      els.map((e) => e.getAttribute('data-pool')),
    );
    assert(pools.includes('node'), `pools are ${JSON.stringify(pools)}`);
    await shot(page, 'en-targets');
    return error.slice(0, 80);
  });

  await check('the targets text filter narrows the rows', async () => {
    const rows = page.locator(tid('target-row'));
    const all = await visibleCount(rows);
    await page.locator(tid('target-filter-text')).first().fill(new URL(cfg.deadUrl).port);
    await page.waitForFunction(
      (sel) =>
        [...document.querySelectorAll(sel)].filter((e) => e.getClientRects().length > 0)
          .length === 1,
      tid('target-row'),
      { timeout: STEP_MS },
    );
    await page.locator(tid('target-filter-text')).first().fill('');
    return `${all} rows, then 1`;
  });

  if (cfg.expectRules) {
    await check('alerts shows one rule per state', async () => {
      await gotoPage(page, base, 'alerts');
      const rows = page.locator(tid('alert-rule'));
      await rows.first().waitFor({ state: 'attached' });
      const states = await rows.evaluateAll((els) => els.map((e) => e.getAttribute('data-state')));
      for (const want of ['firing', 'pending', 'inactive']) {
        assert(states.includes(want), `alert-rule states are ${JSON.stringify(states)}`);
      }
      const firing = await page
        .locator(`${tid('alert-rule')}[data-state="firing"]`)
        .first()
        .innerText();
      assert(firing.includes('AlwaysFiring'), `the firing row reads ${JSON.stringify(firing)}`);
      await shot(page, 'en-alerts');
      return states.join(', ');
    });

    await check('rules lists the rule group', async () => {
      await gotoPage(page, base, 'rules');
      const group = page.locator(tid('rule-group')).first();
      await group.waitFor({ state: 'attached' });
      const text = await group.innerText();
      for (const name of ['web-ui', 'AlwaysFiring', 'job:up:sum']) {
        assert(text.includes(name), `the group does not mention ${name}`);
      }
      await shot(page, 'en-rules');
    });
  } else {
    console.log('skip alerts and rules: the server evaluated no rules');
  }

  await check('switching to Korean changes the text', async () => {
    await gotoPage(page, base, 'query');
    const nav = page.locator(tid('nav-query')).first();
    const before = (await nav.innerText()).trim();
    await page.locator(tid('language-select')).first().selectOption('ko');
    await page.waitForFunction(
      ([sel, old]) => (document.querySelector(sel)?.textContent ?? '').trim() !== old,
      [tid('nav-query'), before],
      { timeout: STEP_MS },
    );
    const after = (await nav.innerText()).trim();
    assert(/[\uac00-\ud7a3]/.test(await page.locator('body').innerText()), 'no Hangul on the page');
    await shot(page, 'ko-query');
    await gotoPage(page, base, 'targets');
    await shot(page, 'ko-targets');
    await gotoPage(page, base, 'status');
    await shot(page, 'ko-status');
    await gotoPage(page, base, 'query');
    await page.locator(tid('language-select')).first().selectOption('en');
    await page.waitForFunction(
      ([sel, old]) => (document.querySelector(sel)?.textContent ?? '').trim() === old,
      [tid('nav-query'), before],
      { timeout: STEP_MS },
    );
    return `${before} -> ${after}`;
  });

  await check('the theme toggle changes the colours', async () => {
    await gotoPage(page, base, 'query');
    const colour = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    const before = await colour();
    await page.locator(tid('theme-toggle')).first().click();
    await page.waitForFunction(
      (old) => getComputedStyle(document.body).backgroundColor !== old,
      before,
      { timeout: STEP_MS },
    );
    const after = await colour();
    await shot(page, 'dark-query');
    await gotoPage(page, base, 'targets');
    await shot(page, 'dark-targets');
    await page.locator(tid('theme-toggle')).first().click();
    await page.waitForFunction(
      (old) => getComputedStyle(document.body).backgroundColor === old,
      before,
      { timeout: STEP_MS },
    );
    return `${before} -> ${after}`;
  });

  await check('a 400px wide viewport has no horizontal page overflow', async () => {
    await page.setViewportSize({ width: 400, height: 800 });
    const overflowing = [];
    for (const name of PAGES) {
      await gotoPage(page, base, name);
      const { scroll, client } = await page.evaluate(() => ({
        scroll: document.documentElement.scrollWidth,
        client: document.documentElement.clientWidth,
      }));
      if (scroll > client + 1) overflowing.push(`${name} (${scroll}px)`);
      if (name === 'query' || name === 'targets') await shot(page, `narrow-${name}`);
    }
    await page.setViewportSize({ width: 1280, height: 900 });
    assert(overflowing.length === 0, `wider than 400px: ${overflowing.join(', ')}`);
  });

  if (cfg.bigUrl) {
    const want = cfg.bigTargets ?? 1000;
    await check(`the targets page renders ${want} targets under a route prefix`, async () => {
      const started = Date.now();
      await page.goto(`${cfg.bigUrl}/targets`, { waitUntil: 'domcontentloaded' });
      await page.waitForFunction(
        ([sel, n]) => document.querySelectorAll(sel).length >= n,
        [tid('target-row'), want],
        { timeout: 25_000, polling: 50 },
      );
      const ms = Date.now() - started;
      console.log(`measure targets page, ${want} target-row rendered: ${ms} ms`);
      // A full-page capture of 1,000 rows is too large to be useful.
      await shot(page, 'en-targets-1000', false);
      return `${ms} ms`;
    });
  }

  await check('the unreachable banner appears when the server stops', async () => {
    await gotoPage(page, base, 'query');
    const quit = await fetch(`${base}/-/quit`, { method: 'POST' });
    assert(quit.ok, `/-/quit answered ${quit.status}`);
    const deadline = Date.now() + STEP_MS;
    for (;;) {
      try {
        await fetch(`${base}/-/healthy`);
      } catch {
        break;
      }
      assert(Date.now() < deadline, 'the server is still answering');
      await new Promise((r) => setTimeout(r, 100));
    }
    // Navigating inside the app (no page load) makes it call the API again.
    await clickNav(page, 'targets');
    await page.locator(tid('server-unreachable')).first().waitFor({ state: 'visible', timeout: 15_000 });
    await shot(page, 'en-unreachable');
  });

  await check('no uncaught errors in the page', async () => {
    assert(pageErrors.length === 0, pageErrors.slice(0, 3).join(' | '));
  });
} finally {
  await context.close().catch(() => {});
}

console.log(`screenshots in ${cfg.screenshotDir}`);
console.log(failures === 0 ? 'all checks passed' : `${failures} check(s) failed`);
process.exit(failures === 0 ? 0 : 1);
