// Browser-side timing of the web UI on a large database (driven by bench/web-latency.sh):
// headless Chromium (Debian's /usr/bin/chromium, playwright-core from web/ui/node_modules)
// measures how long the episodes page takes to show its rows, to turn a page, to apply a
// search and to open a replay, REPEATS times each, and prints median and worst as Markdown.
// Usage: node bench/web-ui-timing.mjs http://127.0.0.1:PORT EPISODE_ID [REPEATS]
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const [base, episode, repeatsArg] = process.argv.slice(2);
const repeats = Number(repeatsArg ?? 10);
const chromiumPath = process.env.TURNWISE_CHROMIUM ?? '/usr/bin/chromium';
if (!fs.existsSync(chromiumPath)) {
  console.log(`(browser timing skipped: ${chromiumPath} not found)`);
  process.exit(0);
}
const uiDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../web/ui');
const { chromium } = createRequire(path.join(uiDir, 'package.json'))('playwright-core');
const browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox', '--disable-gpu'] });
const page = await browser.newPage({ viewport: { width: 1366, height: 860 } });

const total = () => page.locator('#episodes-summary').getAttribute('data-total');
async function timed(fn) {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}
const cases = {
  'episodes page: navigate, first 50 rows shown': async () => {
    await page.goto('about:blank');
    return timed(async () => {
      await page.goto(`${base}/episodes?run=1`);
      await page.locator('#episodes-table tbody tr').nth(49).waitFor();
    });
  },
  'next page shown': async () => {
    await page.goto(`${base}/episodes?run=1`);
    await page.locator('#episodes-table tbody tr').nth(49).waitFor();
    return timed(async () => {
      await page.click('#page-next');
      await page.waitForFunction(() => /^page 2 /.test(document.querySelector('#page-info')?.textContent ?? ''));
    });
  },
  'success filter applied (select → rows)': async () => {
    await page.goto(`${base}/episodes?run=1`);
    await page.locator('#episodes-table tbody tr').nth(49).waitFor();
    const before = await total();
    return timed(async () => {
      await page.selectOption('#f-success', 'true');
      await page.waitForFunction((b) => document.querySelector('#episodes-summary')?.dataset.total !== b, before);
    });
  },
  'replay opened, tokens shown': async () => {
    await page.goto('about:blank');
    return timed(async () => {
      await page.goto(`${base}/episodes/${episode}`);
      await page.locator('#tokens .tok').first().waitFor();
    });
  },
};
console.log(`\n| browser (headless Chromium) | median ms | worst ms |\n|---|---:|---:|`);
for (const [name, run] of Object.entries(cases)) {
  await run();  // warm-up
  const ms = [];
  for (let i = 0; i < repeats; i++) ms.push(await run());
  ms.sort((a, b) => a - b);
  console.log(`| ${name} | ${ms[Math.floor(ms.length / 2)].toFixed(0)} | ${ms[ms.length - 1].toFixed(0)} |`);
}
await browser.close();
