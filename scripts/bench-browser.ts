// npm run bench's browser block (node dist/scripts/bench.js --browser for it alone): the median training step
// of the seed job's full fine-tune and of the digits CNN's, in headless Chromium on onnxruntime-web's WASM
// backend (1 thread, and every thread the browser offers on the cross-origin isolated page), beside the same
// step in Node on onnxruntime-node, interleaved round by round. A step is the time between two onStep calls:
// the graph's run, the loss and gradients out, the Adam update. Prints figures; never passes or fails.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { encodeModel, loadModel } from '../src/onnx/io.js';
import { attachLinearHead } from '../src/model/attach-head.js';
import { DEFAULT_BACKBONE_PATH } from '../src/model/seed-backbone.js';
import { notebookTask, streamSeed, STREAMS } from '../src/data/synthetic.js';
import { readCsvDataset } from '../src/data/csv.js';
import { Rng } from '../src/train/rng.js';
import { train, DEFAULT_TRAIN_CONFIG } from '../src/train/trainer.js';
import { lossForHead } from '../src/losses/index.js';
import { fullFineTune } from '../src/train/strategies.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ROUNDS = 5;
const fixture = (file: string) => fileURLToPath(new URL(`../../test/fixtures/torch-digits-cnn/${file}`, import.meta.url));
const CLI = fileURLToPath(new URL('../src/cli/onnx-finetune.mjs', import.meta.url));

export interface BrowserRow { workload: string; median_us?: number; min_us?: number; max_us?: number; batch?: number; note?: string; error?: string }

interface Job { model: string; train?: string; test?: string; shape?: number[]; batch: number; epochs: number; lr: number }

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Intervals between consecutive steps, past the first epoch (sessions load then), in µs. */
function stepIntervals(times: number[], stepsPerEpoch: number): number[] {
  return times.slice(stepsPerEpoch).map((t, i) => (t - times[stepsPerEpoch + i - 1]) * 1e3);
}

function jobs() {
  const seed = DEFAULT_TRAIN_CONFIG.seed;
  const seedModel = attachLinearHead(loadModel(DEFAULT_BACKBONE_PATH), 1, new Rng(streamSeed(seed, STREAMS.head)), DEFAULT_BACKBONE_PATH);
  const digits = loadModel(fixture('model.onnx'));
  const shape = [1, 8, 8];
  return [
    { name: 'seed job full fine-tune step', model: seedModel, data: notebookTask(seed), job: { model: b64(encodeModel(seedModel)), batch: 64, epochs: 10, lr: 3e-3 } as Job, logits: 1 },
    {
      name: 'digits CNN full fine-tune step', model: digits, logits: 5,
      data: { train: readCsvDataset(fixture('train.csv'), { featureShape: shape }), test: readCsvDataset(fixture('test.csv'), { featureShape: shape }) },
      job: { model: b64(encodeModel(digits)), train: readFileSync(fixture('train.csv'), 'utf8'), test: readFileSync(fixture('test.csv'), 'utf8'), shape, batch: 32, epochs: 10, lr: 2e-3 } as Job,
    },
  ];
}

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');

export async function benchBrowser(): Promise<BrowserRow[]> {
  if (!existsSync(CHROMIUM)) return [{ workload: 'browser steps', error: `no Chromium at ${CHROMIUM} (set CHROMIUM_PATH)` }];
  const server = spawn(process.execPath, [CLI, 'serve', '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let text = '';
      server.stdout!.on('data', (d) => { text += d; const m = /http:\/\/[^ ]+\//.exec(text); if (m) resolve(m[0]); });
      server.on('close', (code) => reject(new Error(`serve exited with ${code}`)));
    });
    const rows: BrowserRow[] = [];
    for (const { name, model, data, job, logits } of jobs()) {
      const stepsPerEpoch = Math.ceil(data.train.count / job.batch);
      const samples: Record<string, number[]> = { node: [], web1: [], webAll: [] };
      let allThreads = 1;
      for (let round = 0; round < ROUNDS; round++) {
        const times: number[] = [];
        await train(model, fullFineTune({ lr: job.lr, epochs: job.epochs }), data, { ...DEFAULT_TRAIN_CONFIG, loss: lossForHead(logits), batchSize: job.batch, shuffle: false, onStep: () => times.push(performance.now()) });
        samples.node.push(median(stepIntervals(times, stepsPerEpoch)));
        for (const key of ['web1', 'webAll'] as const) {
          const page = await (await browser.newContext()).newPage();
          await page.goto(url);
          const threads = key === 'web1' ? 1 : await page.evaluate(() => navigator.hardwareConcurrency);
          allThreads = key === 'webAll' ? threads : allThreads;
          const webTimes = await page.evaluate(async ({ job, threads }) => {
            const lib = await import('/app/onnx-finetune-web.mjs' as string);
            const bytes = Uint8Array.from(atob(job.model), (c) => c.charCodeAt(0));
            const data = job.train
              ? { train: lib.readCsv(job.train, 'train.csv', { featureShape: job.shape }), test: lib.readCsv(job.test, 'test.csv', { featureShape: job.shape }) }
              : lib.seedJob(await (await fetch('/models/seed-backbone.onnx')).arrayBuffer()).data;
            const times: number[] = [];
            await lib.fineTune(bytes, data, lib.strategyPlan('full_fine_tune', { lr: job.lr, epochs: job.epochs }), { threads, batchSize: job.batch, shuffle: false, onStep: () => times.push(performance.now()) });
            return times;
          }, { job, threads });
          samples[key].push(median(stepIntervals(webTimes, stepsPerEpoch)));
          await page.context().close();
        }
      }
      const row = (label: string, xs: number[], note?: string): BrowserRow => ({ workload: `${name}, ${label}`, batch: job.batch, median_us: median(xs), min_us: Math.min(...xs), max_us: Math.max(...xs), note });
      const ratio = (xs: number[]) => `${(median(xs) / median(samples.node)).toFixed(2)}x Node's step`;
      rows.push(row('Node (onnxruntime-node, 1 thread)', samples.node));
      rows.push(row('Chromium WASM, 1 thread', samples.web1, ratio(samples.web1)));
      rows.push(row(`Chromium WASM, ${allThreads} threads`, samples.webAll, ratio(samples.webAll)));
    }
    return rows;
  } finally {
    await browser.close();
    server.kill('SIGTERM');
  }
}
