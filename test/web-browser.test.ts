// The engine in headless Chromium (Debian's chromium, driven by playwright-core) on onnxruntime-web's WASM
// backend, through the page that `onnx-finetune serve` serves and through the onnx-finetune/web library:
// the seed job's three strategies reach Node's accuracies and weights (within 1e-5: WASM kernels may round
// differently), the downloaded model runs in onnxruntime-node as Node's does, the digits CNN reproduces
// PyTorch's run, and webgpu without an adapter fails in one clear line. A screenshot goes to test-artifacts/.
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { CLI } from './util/cli.js';
import { fixturePath, loadFixture, maxParameterDifference, maxRelativeDifference } from './util/fixtures.js';
import { encodeModel, loadModel } from '../src/onnx/io.js';
import { attachLinearHead } from '../src/model/attach-head.js';
import { DEFAULT_BACKBONE_PATH } from '../src/model/seed-backbone.js';
import { notebookTask, streamSeed, STREAMS } from '../src/data/synthetic.js';
import { Rng } from '../src/train/rng.js';
import { train, DEFAULT_TRAIN_CONFIG, initialParameters, type TrainResult } from '../src/train/trainer.js';
import { lossForHead, LOSSES } from '../src/losses/index.js';
import { fullFineTune, linearProbe, NOTEBOOK_DEFAULTS, partialUnfreeze, STRATEGIES } from '../src/train/strategies.js';
import { createSession, ort } from '../src/runtime/session.js';
import { singleInput, type Dataset } from '../src/data/dataset.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const ARTIFACTS = join(ROOT, 'test-artifacts');
const SEED = DEFAULT_TRAIN_CONFIG.seed;

type BrowserResult = { accuracy: number; epochLosses: number[]; parameters: Record<string, number[]> };

/** The seed job as the CLI's built-in default trains it, in Node. */
async function nodeSeedRuns(): Promise<Record<string, TrainResult>> {
  const model = attachLinearHead(loadModel(DEFAULT_BACKBONE_PATH), 1, new Rng(streamSeed(SEED, STREAMS.head)), DEFAULT_BACKBONE_PATH);
  const plans = [linearProbe(NOTEBOOK_DEFAULTS.linear_probe), partialUnfreeze(NOTEBOOK_DEFAULTS.partial_unfreeze), fullFineTune(NOTEBOOK_DEFAULTS.full_fine_tune)];
  const results: Record<string, TrainResult> = {};
  for (const plan of plans) results[plan.strategy] = await train(model, plan, notebookTask(SEED), { ...DEFAULT_TRAIN_CONFIG, loss: lossForHead(1) });
  return results;
}

function maxDifference(node: ReadonlyMap<string, Float32Array>, web: Record<string, number[]>): number {
  expect(Object.keys(web).sort()).to.deep.equal([...node.keys()].sort());
  return Math.max(...[...node].flatMap(([name, values]) => [...values].map((v, i) => Math.abs(v - web[name][i]))));
}

async function logits(model: Uint8Array, data: Dataset): Promise<Float32Array> {
  const session = await createSession(model);
  const { shape, values } = singleInput(data);
  const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', values as Float32Array, [data.count, ...shape]) });
  await session.release();
  return out[session.outputNames[0]].data as Float32Array;
}

describe('in the browser (headless Chromium, onnxruntime-web)', function () {
  this.timeout(300_000);
  let browser: Browser | undefined;
  let server: ChildProcess | undefined;
  let url = '';
  let node: Record<string, TrainResult>;

  before(async function () {
    if (!existsSync(CHROMIUM)) {
      console.log(`    (skipped: no Chromium at ${CHROMIUM}; install Debian's chromium, as .ci/run does, or set CHROMIUM_PATH)`);
      this.skip();
    }
    server = spawn(process.execPath, [CLI, 'serve', '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
    url = await new Promise<string>((resolve, reject) => {
      let text = '';
      server!.stdout!.on('data', (d) => {
        text += d;
        const found = /http:\/\/[^ ]+\//.exec(text);
        if (found) resolve(found[0]);
      });
      server!.on('close', (code) => reject(new Error(`serve exited with ${code}: ${text}`)));
    });
    node = await nodeSeedRuns();
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  });
  after(async () => {
    await browser?.close();
    server?.kill('SIGTERM');
  });

  async function openPage(): Promise<{ page: Page; problems: string[] }> {
    const context = await browser!.newContext({ viewport: { width: 1000, height: 1100 }, acceptDownloads: true });
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`));
    await page.goto(url);
    return { page, problems };
  }

  it('serves its own files only, with their MIME types and the headers that make the page cross-origin isolated', async () => {
    const index = await fetch(url);
    expect(index.headers.get('content-type')).to.equal('text/html; charset=utf-8');
    expect(index.headers.get('cross-origin-opener-policy')).to.equal('same-origin');
    expect(index.headers.get('cross-origin-embedder-policy')).to.equal('require-corp');
    expect((await fetch(`${url}app/ort-wasm-simd-threaded.jsep.wasm`, { method: 'HEAD' })).headers.get('content-type')).to.equal('application/wasm');
    expect((await fetch(`${url}app/worker.mjs`, { method: 'HEAD' })).headers.get('content-type')).to.equal('text/javascript; charset=utf-8');
    for (const path of ['package.json', 'app/../package.json', '%2e%2e/package.json', 'web/page.ts', 'src/cli/serve.ts']) expect((await fetch(url + path)).status, path).to.equal(404);
  });

  it("the page trains the seed job's three strategies to Node's accuracies and weights, draws the curve, and downloads a model that runs in onnxruntime-node", async () => {
    const { page, problems } = await openPage();
    expect(await page.evaluate(() => crossOriginIsolated)).to.equal(true);
    await page.click('#train-button');
    await page.waitForSelector('body[data-state=done]', { timeout: 240_000 });
    expect(problems).to.deep.equal([]);
    const web: Record<string, BrowserResult> = await page.evaluate(() => (globalThis as any).onnxFinetuneResults);
    for (const strategy of STRATEGIES) {
      expect(web[strategy].accuracy, strategy).to.equal(node[strategy].accuracy);
      expect(maxRelativeDifference(node[strategy].epochLosses, web[strategy].epochLosses), strategy).to.be.below(1e-5);
      expect(maxDifference(node[strategy].parameters, web[strategy].parameters), strategy).to.be.below(1e-5);
    }
    expect(await page.textContent('#notebook')).to.match(/^\{'linear_probe': [\d.]+, 'partial_unfreeze': [\d.]+, 'full_fine_tune': [\d.]+\}$/);

    // The live curve: the report's SVG chart, full size, one drawn path per strategy.
    const chart = await page.$eval('#chart svg', (svg) => ({ width: svg.getBoundingClientRect().width, height: svg.getBoundingClientRect().height, lengths: [...svg.querySelectorAll('path.series')].map((p) => (p as SVGPathElement).getTotalLength()) }));
    expect([chart.width, chart.height]).to.deep.equal([640, 280]);
    expect(chart.lengths).to.have.length(3);
    for (const length of chart.lengths) expect(length).to.be.above(100);
    mkdirSync(ARTIFACTS, { recursive: true });
    const shot = await page.screenshot({ path: join(ARTIFACTS, 'web-page.png'), fullPage: true });
    expect(shot.length).to.be.above(10_000);

    const [download] = await Promise.all([page.waitForEvent('download'), page.click('tr[data-strategy=full_fine_tune] a[download]')]);
    expect(download.suggestedFilename()).to.equal('full_fine_tune.onnx');
    const bytes = readFileSync((await download.path())!);
    const test = notebookTask(SEED).test;
    const [downloaded, nodes] = [await logits(bytes, test), await logits(encodeModel(node.full_fine_tune.model), test)];
    expect(Math.max(...downloaded.map((v, i) => Math.abs(v - nodes[i])))).to.be.below(1e-5);
    expect([...downloaded].filter((v, i) => (v > 0 ? 1 : 0) === test.labels[i]).length / test.count).to.equal(node.full_fine_tune.accuracy);
    await page.context().close();
  });

  it("the page trains a user's model and CSV files (the digits CNN, no shuffle) to PyTorch's accuracy and epoch losses", async () => {
    const digits = loadFixture('torch-digits-cnn');
    const c = digits.expected.config;
    // The model saved with its weights inline: the browser reads no external data file beside it.
    const dir = mkdtempSync(join(tmpdir(), 'onnx-finetune-web-'));
    writeFileSync(join(dir, 'digits.onnx'), encodeModel(digits.model));
    const { page, problems } = await openPage();
    await page.check('input[name=source][value=files]');
    await page.setInputFiles('#model', join(dir, 'digits.onnx'));
    await page.setInputFiles('#train', fixturePath('torch-digits-cnn', 'train.csv'));
    await page.setInputFiles('#test', fixturePath('torch-digits-cnn', 'test.csv'));
    await page.selectOption('#strategy', 'linear_probe');
    await page.fill('#epochs', String(c.probe.epochs));
    await page.fill('#lr', String(c.probe.lr));
    await page.fill('#batch-size', String(c.batch));
    await page.uncheck('#shuffle');
    await page.click('#train-button');
    await page.waitForSelector('body[data-state=done]', { timeout: 120_000 });
    expect(problems).to.deep.equal([]);
    const web: Record<string, BrowserResult> = await page.evaluate(() => (globalThis as any).onnxFinetuneResults);
    const expected = digits.expected.results.linear_probe;
    expect(Math.fround(web.linear_probe.accuracy)).to.equal(expected.accuracy);
    expect(maxRelativeDifference(expected.epoch_losses, web.linear_probe.epochLosses)).to.be.below(1e-4);
    await page.context().close();
  });

  it('Stop stops a run cleanly after the current step', async () => {
    const { page, problems } = await openPage();
    await page.fill('#epochs', '500');
    await page.selectOption('#strategy', 'full_fine_tune');
    await page.click('#train-button');
    await page.waitForFunction(() => document.querySelectorAll('#chart path.series').length > 0);
    await page.click('#stop-button');
    await page.waitForSelector('body[data-state=stopped]', { timeout: 30_000 });
    expect(await page.textContent('#status')).to.equal('stopped during full_fine_tune');
    expect(await page.isEnabled('#train-button')).to.equal(true);
    expect(problems).to.deep.equal([]);
    await page.context().close();
  });

  it("the library (onnx-finetune/web) trains the seed job to Node's figures, and the digits CNN to PyTorch's with no shuffle", async () => {
    const { page, problems } = await openPage();
    const seed = await page.evaluate(async () => {
      const lib = await import('/app/onnx-finetune-web.mjs' as string);
      const backbone = await (await fetch('/models/seed-backbone.onnx')).arrayBuffer();
      const { model, data } = lib.seedJob(backbone);
      const out: Record<string, unknown> = {};
      for (const strategy of lib.STRATEGIES) {
        const r = await lib.fineTune(model, data, strategy);
        out[strategy] = { accuracy: r.accuracy, epochLosses: r.epochLosses, parameters: Object.fromEntries([...r.parameters].map(([k, v]: [string, Float32Array]) => [k, [...v]])) };
      }
      return out as Record<string, BrowserResult>;
    });
    for (const strategy of STRATEGIES) {
      expect(seed[strategy].accuracy, strategy).to.equal(node[strategy].accuracy);
      expect(maxDifference(node[strategy].parameters, seed[strategy].parameters), strategy).to.be.below(1e-5);
    }

    const digits = loadFixture('torch-digits-cnn');
    const c = digits.expected.config;
    const plans = {
      linear_probe: linearProbe({ lr: c.probe.lr, epochs: c.probe.epochs }),
      partial_unfreeze: partialUnfreeze({ headLr: c.partial.head_lr, headEpochs: c.partial.head_epochs, unfreeze: c.partial.unfreeze, backboneLr: c.partial.backbone_lr, epochs: c.partial.epochs }),
      full_fine_tune: fullFineTune({ lr: c.full.lr, epochs: c.full.epochs }),
    };
    // The model's weights come inline (the browser reads no external data file); the CSVs as the user's files.
    const job = { model: Buffer.from(encodeModel(digits.model)).toString('base64'), train: readFileSync(fixturePath('torch-digits-cnn', 'train.csv'), 'utf8'), test: readFileSync(fixturePath('torch-digits-cnn', 'test.csv'), 'utf8'), shape: c.input_shape, batch: c.batch, plans };
    const cnn = await page.evaluate(async (job) => {
      const lib = await import('/app/onnx-finetune-web.mjs' as string);
      const model = Uint8Array.from(atob(job.model), (ch) => ch.charCodeAt(0));
      const data = { train: lib.readCsv(job.train, 'train.csv', { featureShape: job.shape }), test: lib.readCsv(job.test, 'test.csv', { featureShape: job.shape }) };
      const out: Record<string, unknown> = {};
      for (const [strategy, plan] of Object.entries(job.plans)) {
        const r = await lib.fineTune(model, data, plan, { shuffle: false, batchSize: job.batch });
        out[strategy] = { accuracy: r.accuracy, epochLosses: r.epochLosses, parameters: Object.fromEntries([...r.parameters].map(([k, v]: [string, Float32Array]) => [k, [...v]])) };
      }
      return out as Record<string, BrowserResult>;
    }, job);
    for (const strategy of STRATEGIES) {
      const expected = digits.expected.results[strategy];
      expect(Math.fround(cnn[strategy].accuracy), strategy).to.equal(expected.accuracy);
      expect(maxRelativeDifference(expected.epoch_losses, cnn[strategy].epochLosses), strategy).to.be.below(1e-4);
      const parameters = new Map(Object.entries(cnn[strategy].parameters).map(([k, v]) => [k, Float32Array.from(v)]));
      const diff = maxParameterDifference(expected.params, new Map([...initialParameters(digits.model), ...parameters]));
      expect(diff.max, `${strategy} ${diff.name}`).to.be.below(1e-4);
    }
    expect(problems).to.deep.equal([]);
    await page.context().close();
  });

  it('webgpu: one clear message where the browser offers no adapter; where it offers one, the seed job trains', async () => {
    const { page } = await openPage();
    const outcome = await page.evaluate(async () => {
      const lib = await import('/app/onnx-finetune-web.mjs' as string);
      const adapter = (navigator as any).gpu ? await (navigator as any).gpu.requestAdapter() : null;
      const backbone = await (await fetch('/models/seed-backbone.onnx')).arrayBuffer();
      const { model, data } = lib.seedJob(backbone);
      try {
        const r = await lib.fineTune(model, data, 'linear_probe', { device: 'webgpu' });
        return { adapter: adapter !== null, accuracy: r.accuracy as number };
      } catch (e) {
        return { adapter: adapter !== null, name: (e as Error).name, message: (e as Error).message };
      }
    });
    if (outcome.adapter) {
      expect(outcome.accuracy).to.be.closeTo(node.linear_probe.accuracy, 0.02);
    } else {
      expect(outcome.name).to.equal('UserError');
      expect(outcome.message).to.match(/^device 'webgpu': no WebGPU adapter in this browser \(.+\); use device 'wasm'$/);
      expect(outcome.message).to.not.include('\n');
    }
    await page.context().close();
  });
});
