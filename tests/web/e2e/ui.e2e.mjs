// The web UI end to end in headless Chromium: runs, a run's curves (pick, overlay, zoom),
// episode filters, replay with keyboard navigation and token shading, anchor links, a group,
// the environments, the method presets, hostile text shown literally, and live updates while a
// writer appends. And what a person sees, not only the DOM: every page at two sizes with no
// clipped text and no overlapping blocks, legible metric keys, chart ticks that read true,
// invisible characters drawn marked, charts saved as SVG / PNG.
//
// Run by ctest (label e2e) as `node ui.e2e.mjs` with TURNWISE_BINARY, TURNWISE_WEB_FIXTURE and
// TURNWISE_UI_DIR set; exits 77 (ctest: skipped) when Chromium is missing. With
// TURNWISE_UI_SCREENSHOTS=DIR (ctest sets build/ui-screenshots) the screenshots are saved there:
// DIR/wide/*.png and DIR/narrow/*.png for every page, DIR/*.png along the other tests (docs/ui/).
// Servers bind 127.0.0.1 on a free port and are stopped at the end.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const CHROMIUM = process.env.TURNWISE_CHROMIUM ?? '/usr/bin/chromium';
if (!fs.existsSync(CHROMIUM)) {
  console.log(`SKIP: ${CHROMIUM} not found (apt-get install chromium)`);
  process.exit(77);
}
const UI_DIR = process.env.TURNWISE_UI_DIR ?? path.resolve(here, '../../../web/ui');
const BINARY = process.env.TURNWISE_BINARY ?? path.resolve(here, '../../../build/cli/turnwise');
const FIXTURE = process.env.TURNWISE_WEB_FIXTURE ?? path.resolve(here, '../../../build/tests/web/web_fixture');
const SHOTS = process.env.TURNWISE_UI_SCREENSHOTS;
const { chromium } = createRequire(path.join(UI_DIR, 'package.json'))('playwright-core');

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'turnwise-ui-e2e-'));
const db = path.join(tmp, 'ui.db');
let fixture;        // ids printed by `web_fixture make`
let server;         // { proc, base }
let browser;
let page;
const pageErrors = [];

function startServer(dbPath) {
  return new Promise((resolve, reject) => {
    const proc = spawn(BINARY, ['web', '--db', dbPath, '--host', '127.0.0.1', '--port', '0', '--threads', '16'],
        { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const timer = setTimeout(() => reject(new Error(`turnwise web did not start: ${out}`)), 20000);
    proc.stdout.on('data', (d) => {
      out += d;
      const m = /on (http:\/\/127\.0\.0\.1:\d+)\//.exec(out);
      if (m) { clearTimeout(timer); resolve({ proc, base: m[1] }); }
    });
    proc.stderr.on('data', (d) => { out += d; });
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`turnwise web exited ${code}: ${out}`)); });
  });
}

async function until(fn, what, timeout = 10000) {
  const end = Date.now() + timeout;
  let last;
  while (Date.now() < end) {
    try {
      last = await fn();
      if (last) return last;
    } catch (err) { last = err; }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what} (last: ${last})`);
}

async function shot(name) {
  if (!SHOTS) return;
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: false });
}

// What a person sees, checked on the page as rendered (not only the DOM's text):
// - clipped: elements that hide their overflow (overflow hidden/clip, ellipsis) but whose text
//   does not fit their box — a label squeezed to a row of dots;
// - overlapping: elements of `selector` whose boxes intersect.
async function clipped(p = page) {
  return p.evaluate(() => {
    const out = [];
    for (const el of document.querySelectorAll('body *')) {
      const s = getComputedStyle(el);
      const hides = ['hidden', 'clip'].includes(s.overflowX) || ['hidden', 'clip'].includes(s.overflowY);
      if (!hides || !el.textContent.trim() || el.getClientRects().length === 0) continue;
      if (el.scrollWidth > el.clientWidth + 1 || el.scrollHeight > el.clientHeight + 1) {
        out.push(`${el.tagName.toLowerCase()} "${el.textContent.trim().slice(0, 40)}" ` +
                 `${el.scrollWidth}x${el.scrollHeight} in ${el.clientWidth}x${el.clientHeight}`);
      }
    }
    return out;
  });
}

async function overlapping(selector, p = page) {
  return p.evaluate((sel) => {
    const boxes = [...document.querySelectorAll(sel)].map((el) => [el, el.getBoundingClientRect()])
        .filter(([, r]) => r.width > 0 && r.height > 0);
    const out = [];
    for (let i = 0; i < boxes.length; i++) {
      for (let j = i + 1; j < boxes.length; j++) {
        const [a, ra] = boxes[i];
        const [b, rb] = boxes[j];
        if (a.contains(b) || b.contains(a)) continue;
        const w = Math.min(ra.right, rb.right) - Math.max(ra.left, rb.left);
        const h = Math.min(ra.bottom, rb.bottom) - Math.max(ra.top, rb.top);
        if (w > 1 && h > 1) out.push(`${a.tagName}.${a.className} / ${b.tagName}.${b.className}`);
      }
    }
    return out;
  }, selector);
}

// The two sizes every page is looked at: a laptop window, and a small one at device scale 2.
const SIZES = [
  { name: 'wide', viewport: { width: 1300, height: 1000 }, deviceScaleFactor: 1 },
  { name: 'narrow', viewport: { width: 700, height: 600 }, deviceScaleFactor: 2 },
];

const text = (selector) => page.locator(selector).first().textContent();
const total = async () => Number(await page.locator('#episodes-summary').getAttribute('data-total'));

before(async () => {
  const out = execFileSync(FIXTURE, ['make', db, '--episodes', '240', '--tokenizer-dir', path.join(tmp, 'ckpt')]);
  fixture = JSON.parse(out.toString().trim().split('\n').pop());
  server = await startServer(db);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
  page = await browser.newPage({ viewport: { width: 1366, height: 860 } });
  page.on('pageerror', (err) => pageErrors.push(String(err)));
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !/Failed to load resource/.test(msg.text())) pageErrors.push(msg.text());
  });
  page.on('dialog', (d) => { pageErrors.push(`dialog opened: ${d.message()}`); d.dismiss(); });
});

after(async () => {
  await browser?.close();
  if (server) {
    server.proc.removeAllListeners('exit');
    server.proc.kill('SIGTERM');
  }
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('the runs page lists every run and filters them', async () => {
  await page.goto(`${server.base}/`);
  await page.locator('#runs-table tbody tr').first().waitFor();
  assert.equal(await page.locator('#runs-table tbody tr').count(), 4);
  const names = await page.locator('#runs-table tbody tr td:first-child').allTextContents();
  assert.deepEqual(names.sort(), ['gigpo-household', 'grpo-baseline', 'live-run', 'sokoban-episode-layout']);
  await shot('runs');
  await page.fill('#runs-filter', 'grpo');
  await until(async () => (await page.locator('#runs-table tbody tr').count()) === 2, 'filtered runs');
  await page.fill('#runs-filter', 'gigpo');
  await until(async () => (await page.locator('#runs-table tbody tr').count()) === 1, 'one run');
  assert.match(await text('#runs-table tbody tr'), /gigpo-household.*gigpo.*finished/);
});

test("a run's curves: default keys, another key, another run overlaid, zoom", async () => {
  await page.click('text=gigpo-household');
  await page.waitForURL(/\/runs\/1/);
  await page.locator('#charts .chart canvas').first().waitFor();
  const keys = await page.locator('#charts .chart').evaluateAll((els) => els.map((e) => e.dataset.key));
  assert.deepEqual(keys, ['success/valid_seen', 'reward/mean', 'entropy', 'kl']);
  await page.check('#metric-keys input[value="grad_norm"]');
  await until(async () => (await page.locator('#charts .chart[data-key="grad_norm"] canvas').count()) === 1, 'grad_norm chart');
  await page.locator('#compare-runs').evaluate((el) => { el.closest('details').open = true; });
  await page.check('#compare-runs input[value="2"]');
  await until(async () => /grpo-baseline/.test(await text('#charts .chart[data-key="success/valid_seen"] .u-legend')), 'overlay legend');
  assert.match(page.url(), /compare=2/);
  assert.match(await text('#run-config'), /"gigpo"/);
  await shot('run');
  // Drag across the chart: the x scale narrows to the dragged span.
  const chart = page.locator('#charts .chart[data-key="success/valid_seen"]');
  const before = Number(await chart.getAttribute('data-xmax')) - Number(await chart.getAttribute('data-xmin'));
  const over = await chart.locator('.u-over').boundingBox();
  await page.mouse.move(over.x + over.width * 0.2, over.y + over.height / 2);
  await page.mouse.down();
  await page.mouse.move(over.x + over.width * 0.5, over.y + over.height / 2, { steps: 5 });
  await page.mouse.up();
  await until(async () => {
    const span = Number(await chart.getAttribute('data-xmax')) - Number(await chart.getAttribute('data-xmin'));
    return span < before * 0.6;
  }, 'zoomed x range');
});

test('episodes: filter, search, sort and paginate', async () => {
  await page.goto(`${server.base}/episodes?run=1`);
  await until(async () => (await total()) === fixture.episodes, 'all episodes of run 1');
  assert.equal(await page.locator('#episodes-table tbody tr').count(), 50);
  await page.selectOption('#f-success', 'true');
  await until(async () => (await total()) < fixture.episodes && (await total()) > 0, 'success filter');
  const outcomes = await page.locator('#episodes-table tbody tr td:nth-child(9)').allTextContents();
  assert.ok(outcomes.every((o) => o === 'success'), outcomes.join(','));
  await page.fill('#f-split', 'valid_seen');
  await until(async () => {
    const splits = await page.locator('#episodes-table tbody tr td:nth-child(7)').allTextContents();
    return splits.length > 0 && splits.every((s) => s === 'valid_seen');
  }, 'split filter');
  assert.match(page.url(), /split=valid_seen/);
  await page.click('#f-clear');  // every filter, the run too
  await until(async () => (await total()) > fixture.episodes, 'cleared filters');
  assert.equal(new URL(page.url()).search, '?sort=id&order=desc');
  await page.selectOption('#f-run', '1');
  await until(async () => (await total()) === fixture.episodes, 'run 1 again');
  await page.fill('#f-q', 'fridge');
  await until(async () => (await total()) > 0 && (await total()) < fixture.episodes, 'text search');
  await page.fill('#f-q', '');
  await until(async () => (await total()) === fixture.episodes, 'search cleared');
  await page.click('th[data-sort="return"]');
  await until(async () => (await page.getAttribute('th[data-sort="return"]', 'aria-sort')) === 'ascending', 'sorted');
  const returns = (await page.locator('#episodes-table tbody tr td:nth-child(10)').allTextContents()).map(Number);
  assert.deepEqual(returns, [...returns].sort((a, b) => a - b));
  await page.click('#page-next');
  await until(async () => /page 2 of 5/.test(await text('#page-info')), 'page 2');
  await page.click('th[data-sort="id"]');  // back to newest first for the screenshot
  await until(async () => /page 1 of/.test(await text('#page-info')), 'page 1 after re-sort');
  await shot('episodes');
});

test('replay: turns with the keyboard, token shading, prompt, advantage', async () => {
  await page.goto(`${server.base}/episodes?run=1&sort=id&order=asc`);
  await page.locator('#episodes-table tbody tr').first().waitFor();
  await page.locator('#episodes-table tbody tr').first().locator('td').nth(4).click();
  await page.waitForURL(new RegExp(`/episodes/${fixture.first_episode}`));
  await page.locator('#turn-panel h2').waitFor();
  assert.match(await text('#turn-panel h2'), /^Turn 1 of \d+/);
  const episode = await page.evaluate(async (id) => (await fetch(`/api/episodes/${id}`)).json(), fixture.first_episode);
  const turn0 = episode.turns[0];
  assert.equal(await text('#observation'), turn0.observation);
  // One span per token id; their text is the response plus the end-of-text token.
  assert.equal(await page.locator('#tokens .tok').count(), turn0.token_ids.length);
  assert.equal((await page.locator('#tokens').textContent()), `${turn0.response}<|endoftext|>`);
  const shaded = await page.locator('#tokens .tok').first().evaluate((el) => getComputedStyle(el).backgroundColor);
  assert.match(shaded, /rgba\(234, 88, 12/);
  await page.locator('#tokens .tok').nth(2).hover();
  assert.match(await text('#token-inspector'), /log-prob -?\d+\.\d+ \(p = .*entropy \d/);
  assert.match(await page.locator('#tokens .tok').nth(2).getAttribute('title'), /id \d+/);
  await page.click('#shade-entropy');
  assert.equal(await page.getAttribute('#shade-entropy', 'aria-pressed'), 'true');
  assert.equal(await page.locator('#prompt').evaluate((d) => d.open), false);
  await page.keyboard.press('p');
  assert.equal(await page.locator('#prompt').evaluate((d) => d.open), true);
  assert.match(await text('#advantage'), /episode/);
  assert.match(await text('#advantage'), /step/);
  await page.keyboard.press('ArrowRight');
  await until(async () => /^Turn 2 of/.test(await text('#turn-panel h2')), 'turn 2 by ArrowRight');
  assert.match(page.url(), /turn=1/);
  await page.keyboard.press('j');
  await until(async () => /^Turn 3 of/.test(await text('#turn-panel h2')), 'turn 3 by j');
  assert.equal(await text('#observation'), episode.turns[2].observation);
  assert.equal(await text('#action'), episode.turns[2].action);
  await page.keyboard.press('k');
  await until(async () => /^Turn 2 of/.test(await text('#turn-panel h2')), 'turn 2 by k');
  await page.keyboard.press('ArrowLeft');
  await until(async () => /^Turn 1 of/.test(await text('#turn-panel h2')), 'turn 1 by ArrowLeft');
  await page.keyboard.press('ArrowLeft');  // stays on the first turn
  assert.match(await text('#turn-panel h2'), /^Turn 1 of/);
  await page.keyboard.press('p');
  await shot('replay');
});

test('an anchor link opens the peer turn sharing the state', async () => {
  // Turn 1 of every member of a group is the same state: three peers.
  const peers = page.locator('#anchor-peers a');
  assert.equal(await peers.count(), 3);
  const observation = await text('#observation');
  const href = await peers.first().getAttribute('href');
  await peers.first().click();
  await page.waitForURL((url) => url.pathname + url.search === href);
  await until(async () => (await text('#observation')) === observation, 'peer observation');
  assert.notEqual(new URL(page.url()).pathname, `/episodes/${fixture.first_episode}`);
  assert.match(await text('#anchor-peers'), new RegExp(`episode ${fixture.first_episode}, turn 1`));
});

test('a group shows its episodes side by side with the outcome on top', async () => {
  await page.click('.crumbs a[href*="/groups/"]');
  await page.waitForURL(/\/runs\/1\/groups\//);
  await page.locator('#group-grid').waitFor();
  assert.equal(await page.locator('#group-grid .ghead[data-episode]').count(), 4);
  assert.match(await text('#group-outcome'), /\d of 4 succeeded/);
  // Row 1 is the shared first state: all four cells carry the same anchor colour.
  const marks = await page.locator('#group-grid .gcell[data-turn="0"] .mark')
      .evaluateAll((els) => els.map((e) => getComputedStyle(e).backgroundColor));
  assert.equal(marks.length, 4);
  assert.equal(new Set(marks).size, 1);
  await shot('group');
  await page.locator('#group-grid .gcell[data-turn="1"] a').nth(1).click();
  await page.waitForURL(/\/episodes\/\d+\?turn=1/);
  await until(async () => /^Turn 2 of/.test(await text('#turn-panel h2')), 'replay at turn 2');
});

test('the environments page lists the registered envs with their spec', async () => {
  await page.goto(`${server.base}/envs`);
  await page.locator('#env-list [data-env="household"]').waitFor();
  assert.match(await text('#env-list [data-env="household"]'), /valid_seen/);
  await shot('envs');
});

test('the methods page lists the presets with their algorithm block', async () => {
  await page.goto(`${server.base}/methods`);
  const gigpo = page.locator('#method-list [data-method="gigpo"]');
  await gigpo.waitFor();
  assert.match(await gigpo.locator('pre.json').textContent(), /"name": "gigpo"/);
  assert.match(await gigpo.textContent(), /^gigpoGiGPO/);
  assert.ok(await page.locator('#method-list [data-method="grpo"]').count());
  await shot('methods');
});

test('a grid world replays its grid line by line in a monospaced font; an episode-layout prompt says what it is', async () => {
  await page.goto(`${server.base}/episodes/${fixture.grid_episode}`);
  await page.locator('#observation').waitFor();
  assert.equal(await text('#observation'), '# # # # # #\n# P _ X O #\n# # # # # #');
  const style = await page.locator('#observation').evaluate((el) => {
    const s = getComputedStyle(el);
    return { font: s.fontFamily, space: s.whiteSpace, height: el.getBoundingClientRect().height,
             line: parseFloat(s.lineHeight) || parseFloat(s.fontSize) * 1.2 };
  });
  assert.match(style.font, /mono/i);
  assert.equal(style.space, 'pre-wrap');
  assert.ok(style.height >= 3 * style.line, `three rows shown on three lines (${style.height}px)`);
  await page.keyboard.press('ArrowRight');
  await until(async () => (await text('#observation')).includes('_ P X'), 'second turn');
  assert.match(await text('#prompt summary'), /episode layout/);
  await shot('replay-grid');
});

test('hostile observation and action text shows literally and never runs', async () => {
  const attack = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">';
  await page.goto(`${server.base}/episodes/${fixture.hostile_episode}`);
  await page.locator('#observation').waitFor();
  assert.equal(await text('#observation'), `Hostile observation: ${attack}`);
  assert.equal(await text('#action'), '<img src=x onerror="window.__xss=3">');
  assert.match(await text('#tokens'), /<script>window\.__xss=1<\/script>/);
  assert.match(await text('h1 ~ dl'), /<script>window\.__xss=4<\/script>/);
  await page.keyboard.press('p');
  await page.goto(`${server.base}/episodes?run=1&q=Hostile`);
  await until(async () => (await total()) === 1, 'hostile episode listed');
  assert.equal(await text('#episodes-table tbody td:nth-child(5)'), '<script>window.__xss=4</script>');
  await page.click('#episodes-table tbody td:nth-child(4) a');
  await page.locator('#group-grid').waitFor();
  await page.locator('#group-grid details').first().evaluate((d) => { d.open = true; });
  await page.waitForTimeout(300);
  assert.equal(await page.evaluate(() => window.__xss), undefined);
  assert.equal(await page.locator('img[src="x"], script:not([src])').count(), 0);
  assert.deepEqual(pageErrors, []);
});

test('the server sends the UI with a strict CSP and no inline script', async () => {
  const res = await page.request.get(`${server.base}/episodes/1`);
  assert.equal(res.status(), 200);
  const csp = res.headers()['content-security-policy'];
  assert.match(csp, /script-src 'self'/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  const html = await res.text();
  assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/);
  const js = html.match(/src="(\/assets\/[^"]+\.js)"/)[1];
  const bundle = await (await page.request.get(`${server.base}${js}`)).text();
  assert.doesNotMatch(bundle, /innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
  assert.equal((await page.request.get(`${server.base}/assets/nope.js`)).status(), 404);
});

test("the run page's metric keys are legible, with a filter and all / none", async () => {
  for (const size of SIZES) {
    const context = await browser.newContext({ viewport: size.viewport, deviceScaleFactor: size.deviceScaleFactor });
    const p = await context.newPage();
    await p.goto(`${server.base}/runs/1`);
    await p.locator('#charts .chart canvas').first().waitFor();
    const keys = await p.evaluate(async () => (await (await fetch('/api/runs/1')).json()).metric_keys);
    assert.ok(keys.length >= 30, `a run with many keys (${keys.length})`);
    // Every name shown whole on its own line, at a readable height.
    const labels = await p.locator('#metric-keys label').evaluateAll((els) => els.map((el) => {
      const span = el.querySelector('span');
      const r = span.getBoundingClientRect();
      return { text: span.textContent, height: r.height, width: r.width,
               fits: el.scrollHeight <= el.clientHeight + 1 && el.scrollWidth <= el.clientWidth + 1,
               font: parseFloat(getComputedStyle(span).fontSize) };
    }));
    assert.deepEqual(labels.map((l) => l.text), keys);
    for (const l of labels) {
      assert.ok(l.fits, `${size.name}: "${l.text}" is clipped`);
      assert.ok(l.height >= l.font, `${size.name}: "${l.text}" is ${l.height}px high at a ${l.font}px font`);
    }
    assert.deepEqual(await clipped(p), [], size.name);
    assert.deepEqual(await overlapping('#nav a, #app > *, .run-layout > *, #charts > .chart', p), [], size.name);
    // None, then all the keys the filter shows.
    await p.click('#keys-none');
    await p.locator('#charts p.empty').waitFor();
    assert.equal(await p.locator('#metric-keys input:checked').count(), 0);
    await p.fill('input[aria-label="Filter metric keys"]', 'loss/');
    await p.click('#keys-all');
    const lossKeys = keys.filter((k) => k.includes('loss/'));
    await until(async () => (await p.locator('#charts .chart canvas').count()) === lossKeys.length, 'a chart per loss key');
    assert.deepEqual(await p.locator('#charts .chart').evaluateAll((els) => els.map((e) => e.dataset.key)), lossKeys);
    await context.close();
  }
});

test('chart axes read true: integer iterations, tick labels that differ, tiny values not rounded to 0', async () => {
  const keys = ['success/valid_seen', 'loss/kl', 'reg/entropy/entropy', 'optim/lr'];
  await page.goto(`${server.base}/runs/1?keys=${keys.join(',')}`);
  await until(async () => (await page.locator('#charts .chart[data-yticks]').count()) === keys.length, 'four charts with ticks');
  for (const key of keys) {
    const chart = page.locator(`#charts .chart[data-key="${key}"]`);
    const xticks = JSON.parse(await chart.getAttribute('data-xticks'));
    const yticks = JSON.parse(await chart.getAttribute('data-yticks'));
    assert.ok(xticks.length >= 2 && xticks.every((t) => /^-?\d+$/.test(t)), `${key}: x ticks ${xticks}`);
    assert.equal(new Set(xticks).size, xticks.length, `${key}: x ticks ${xticks}`);
    assert.ok(yticks.length >= 2, `${key}: y ticks ${yticks}`);
    assert.equal(new Set(yticks).size, yticks.length, `${key}: y ticks repeat: ${yticks}`);
    if (key === 'loss/kl') assert.ok(yticks.every((t) => Number(t) > 0), `loss/kl ticks ${yticks}`);
    // Evenly spaced ticks read evenly spaced: a label rounded (0.25 shown as "0.3") breaks it.
    const values = yticks.map(Number);
    const gaps = values.slice(1).map((v, i) => v - values[i]);
    for (const gap of gaps) assert.ok(Math.abs(gap - gaps[0]) <= Math.abs(gaps[0]) * 1e-6, `${key}: y ticks ${yticks}`);
  }
  // The finished run says when it finished.
  const finished = await page.locator('dl.facts div', { hasText: 'finished' }).locator('dd').textContent();
  assert.match(finished, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
});

test('a chart saves as the SVG turnwise plot draws, and as PNG', async () => {
  await page.goto(`${server.base}/runs/1?keys=success/valid_seen&compare=2`);
  const chart = page.locator('#charts .chart[data-key="success/valid_seen"]');
  await chart.locator('canvas').waitFor();
  const href = await chart.locator('a.save-svg').getAttribute('href');
  assert.equal(href, '/api/runs/1/chart.svg?keys=success%2Fvalid_seen&compare=2');
  const svg = await page.request.get(`${server.base}${href}`);
  assert.equal(svg.status(), 200);
  assert.match(svg.headers()['content-type'], /^image\/svg\+xml/);
  const body = await svg.text();
  assert.match(body, /^<\?xml|^<svg/);
  assert.match(body, /success\/valid_seen/);
  assert.match(body, /gigpo-household \(run 1\)/);
  assert.match(body, /grpo-baseline \(run 2\)/);
  const bad = await page.request.get(`${server.base}/api/runs/1/chart.svg?keys=nope`);
  assert.equal(bad.status(), 404);
  assert.match((await bad.json()).error.message, /nope/);
  const [download] = await Promise.all([page.waitForEvent('download'), chart.locator('button.save-png').click()]);
  assert.match(download.suggestedFilename(), /^gigpo-household-success_valid_seen\.png$/);
  const png = fs.readFileSync(await download.path());
  assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47]);  // "PNG"
  assert.ok(png.length > 2000, `a PNG of ${png.length} bytes`);
});

test('invisible characters in stored text are shown marked, never applied', async () => {
  await page.goto(`${server.base}/episodes/${fixture.hostile_episode}?turn=1`);
  await until(async () => /^Turn 2 of/.test(await text('#turn-panel h2')), 'turn 2');
  assert.equal(await text('#observation'), 'You see U+202EeulbU+202C light.');
  assert.deepEqual(await page.locator('#observation .ctl').allTextContents(), ['U+202E', 'U+202C']);
  assert.match(await text('p.error'), /^aborted: env said U\+202Edaer ot drahU\+202C and leftU\+200B$/);
  // Nothing on the page applies a bidi override or hides a character.
  const raw = await page.evaluate(() => /[\u202A-\u202E\u2066-\u2069\u200B-\u200F]/.test(document.body.innerText));
  assert.equal(raw, false);
  // The marked reason reads left to right: "daer" is drawn left of "drah".
  const order = await page.locator('p.error').evaluate((el) => {
    const range = document.createRange();
    const node = [...el.childNodes].find((n) => n.nodeType === 3 && n.textContent.includes('daer'));
    const at = (word) => {
      const i = node.textContent.indexOf(word);
      range.setStart(node, i);
      range.setEnd(node, i + word.length);
      return range.getBoundingClientRect().left;
    };
    return at('daer') < at('drah');
  });
  assert.equal(order, true);
});

test('every page at two sizes: nothing clipped, nothing overlapping; screenshots', async () => {
  const pages = [
    ['runs', '/', '#runs-table tbody tr'],
    ['run', '/runs/1?compare=2', '#charts .chart canvas'],
    ['episodes', '/episodes?run=1', '#episodes-table tbody tr'],
    ['replay', `/episodes/${fixture.first_episode}`, '#turn-panel h2'],
    ['group', `/runs/1/groups/${fixture.first_group}`, '#group-grid'],
    ['envs', '/envs', '#env-list [data-env="household"]'],
    ['methods', '/methods', '#method-list [data-method="gigpo"]'],
  ];
  for (const size of SIZES) {
    const context = await browser.newContext({ viewport: size.viewport, deviceScaleFactor: size.deviceScaleFactor });
    const p = await context.newPage();
    const errors = [];
    p.on('pageerror', (err) => errors.push(String(err)));
    for (const [name, url, ready] of pages) {
      await p.goto(`${server.base}${url}`);
      await p.locator(ready).first().waitFor();
      await p.waitForTimeout(150);  // charts draw after their data arrives
      assert.deepEqual(await clipped(p), [], `${name} at ${size.name}`);
      assert.deepEqual(await overlapping('#nav a, #app > *, .run-layout > *, #charts > .chart', p), [],
                       `${name} at ${size.name}`);
      if (SHOTS) {
        fs.mkdirSync(path.join(SHOTS, size.name), { recursive: true });
        await p.screenshot({ path: path.join(SHOTS, size.name, `${name}.png`) });
      }
    }
    assert.deepEqual(errors, []);
    await context.close();
  }
});

test('episodes appear without a reload while the database is being written', async () => {
  await page.goto(`${server.base}/episodes?run=${fixture.live_run}`);
  await until(async () => (await total()) === 2, 'the live run\'s first episodes');
  await until(async () => (await page.getAttribute('#live-dot', 'class')) === 'live on', 'live indicator');
  const writer = spawn(FIXTURE, ['live', db, '--run', String(fixture.live_run), '--count', '4', '--interval-ms', '250'],
      { stdio: ['ignore', 'pipe', 'inherit'] });
  const done = new Promise((resolve) => writer.on('exit', resolve));
  await until(async () => (await total()) === 6, 'four new episodes', 20000);
  assert.equal(await done, 0);
  assert.equal(await page.locator('#episodes-table tbody tr').count(), 6);
  await shot('live');
  assert.deepEqual(pageErrors, []);
});
