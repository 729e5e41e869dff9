// compare's report.html in headless Chromium (Debian's chromium, driven by playwright-core) with the network
// off: no console errors, nothing fetched but the page, every chart drawn and non-empty, the figures shown equal
// to the run's <strategy>.json files. A screenshot is kept in test-artifacts/ (docs/report.png is one of them).
import { expect } from 'chai';
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Browser } from 'playwright-core';
import { cli } from './util/cli.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const ARTIFACTS = join(ROOT, 'test-artifacts');
const STRATEGIES = ['linear_probe', 'partial_unfreeze', 'full_fine_tune'];

describe('report.html in headless Chromium', function () {
  this.timeout(180_000);
  let browser: Browser | undefined;
  const tmp = mkdtempSync(join(tmpdir(), 'onnx-finetune-report-browser-'));
  const out = join(tmp, 'runs', 'compare');

  before(async function () {
    if (!existsSync(CHROMIUM)) {
      console.log(`    (skipped: no Chromium at ${CHROMIUM}; install Debian's chromium, as .ci/run does, or set CHROMIUM_PATH)`);
      this.skip();
    }
    // The README's compare on the built-in default, with a validation split so that every kind of chart is drawn.
    const run = await cli(['compare', '--val-split', '0.2', '--out', join('runs', 'compare')], tmp);
    expect(run.code, run.stderr).to.equal(0);
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  });
  after(async () => browser?.close());

  it('opens offline with no console error, fetching nothing; every chart is drawn; the figures are the run\'s', async () => {
    const context = await browser!.newContext({ offline: true, viewport: { width: 1400, height: 1000 } });
    const page = await context.newPage();
    const problems: string[] = [], requests: string[] = [];
    page.on('console', (m) => ['error', 'warning'].includes(m.type()) && problems.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('request', (r) => requests.push(r.url()));
    const url = pathToFileURL(join(out, 'report.html')).href;
    await page.goto(url, { waitUntil: 'load' });
    expect(problems).to.deep.equal([]);
    expect(requests).to.deep.equal([url]);

    // Every chart: an SVG with at least one drawn curve of positive length, inside the page's width.
    const charts = await page.$$eval('figure.chart', (figures) => figures.map((f) => {
      const svg = f.querySelector('svg');
      const paths = [...f.querySelectorAll('path.series')] as SVGPathElement[];
      return { id: f.id, box: svg?.getBoundingClientRect().width ?? 0, paths: paths.length, length: Math.min(...paths.map((p) => p.getTotalLength())), empty: f.querySelector('.empty') !== null };
    }));
    const ids = charts.map((c) => c.id);
    expect(ids).to.include.members(['compare-step-loss', 'compare-epoch-loss', 'compare-validation-loss', 'compare-validation-metric',
      ...STRATEGIES.flatMap((s) => [`${s}-loss`, `${s}-validation-loss`, `${s}-validation-metrics`, `${s}-lr`])]);
    for (const c of charts) {
      expect(c.empty, c.id).to.equal(false);
      expect(c.paths, c.id).to.be.above(0);
      expect(c.length, c.id).to.be.above(0);
      expect(c.box, c.id).to.be.above(100);
    }

    for (const strategy of STRATEGIES) {
      const report = JSON.parse(readFileSync(join(out, `${strategy}.json`), 'utf8'));
      // The table of accuracies: shown to 4 decimals, the exact value in data-value.
      const row = await page.$$eval(`#compare tr[data-strategy="${strategy}"] td`, (cells) => cells.map((c) => ({ text: c.textContent, value: c.getAttribute('data-value') })));
      expect(row[0].text).to.equal(strategy);
      expect([Number(row[1].value), row[1].text]).to.deep.equal([report.accuracy, report.accuracy.toFixed(4)]);
      expect([Number(row[2].value), row[2].text]).to.deep.equal([report.test_loss, report.test_loss.toFixed(4)]);
      expect(Number(row[3].text)).to.equal(report.steps);
      // Each epoch's loss and validation, as the charts' points hold them.
      const points = (chart: string, series: string) => page.$$eval(`#${chart} circle.point[data-series="${series}"]`, (cs) => cs.map((c) => Number(c.getAttribute('data-value'))));
      expect(await points('compare-epoch-loss', strategy)).to.deep.equal(report.epoch_losses);
      expect(await points(`${strategy}-loss`, 'epoch mean')).to.deep.equal(report.epoch_losses);
      expect(await points('compare-validation-metric', strategy)).to.deep.equal(report.validation.map((v: { accuracy: number }) => v.accuracy));
      expect(await points(`${strategy}-validation-loss`, 'validation loss')).to.deep.equal(report.validation.map((v: { loss: number }) => v.loss));
      // The confusion matrix of the test set.
      const matrix = await page.$$eval(`section[data-strategy="${strategy}"] table.confusion tr`, (rows) => rows.slice(1).map((r) => [...r.querySelectorAll('td')].map((c) => Number(c.textContent))));
      expect(matrix).to.deep.equal(report.test_metrics.confusion_matrix);
    }
    const dict = await page.$eval('pre.notebook', (p) => p.textContent);
    expect(dict).to.match(/^\{'linear_probe': [\d.]+, 'partial_unfreeze': [\d.]+, 'full_fine_tune': [\d.]+\}$/);
    expect(await page.$eval('pre.command', (p) => p.textContent)).to.equal(`onnx-finetune compare --val-split 0.2 --out ${join('runs', 'compare')}`);

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'report-compare.png') });
    await page.screenshot({ path: join(ARTIFACTS, 'report-compare-full.png'), fullPage: true });
    await context.close();
  });
});
