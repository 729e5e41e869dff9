// The built-in job is the seed notebook's own run (--rng torch, its default): the data, split, backbone and
// per-strategy heads bit for bit as PyTorch drew them, the DataLoader's shuffles, and so the notebook's losses
// and accuracies. PyTorch's side: test/fixtures/torch-rng/notebook.json (scripts/make-torch-rng-fixtures.py).
import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { notebookTask } from '../src/data/synthetic.js';
import { buildSeedBackbone } from '../src/model/seed-backbone.js';
import { attachLinearHead } from '../src/model/attach-head.js';
import { tensorValues } from '../src/onnx/tensor.js';
import { loadModel } from '../src/onnx/io.js';
import type { ModelProto } from '../src/onnx/proto.js';
import { TorchGenerator } from '../src/train/torch-rng.js';
import { notebookHeadStart } from '../src/train/notebook-stream.js';
import { STRATEGIES } from '../src/train/strategies.js';
import { cli, killAndResume, reportOf } from './util/cli.js';
import { fixturePath } from './util/fixtures.js';

const notebook = JSON.parse(readFileSync(new URL('../../test/fixtures/torch-rng/notebook.json', import.meta.url), 'utf8'));
const bitsOf = (v: ArrayLike<number> & ArrayBufferView) => Array.from(new Uint32Array(v.buffer, v.byteOffset, (v as Float32Array).length));
const initializerBits = (model: ModelProto, name: string) => bitsOf(tensorValues(model.graph.initializer.find((t) => t.name === name)!) as Float32Array);

describe(`the seed notebook's job from PyTorch's generator (fixture from torch ${notebook.torch})`, function () {
  this.timeout(120_000);

  it('data: randn(1200, 10) and the labels, in random_split\'s order, bit for bit', () => {
    const { train, test } = notebookTask(17);
    const indices = [...notebook.train_indices, ...Array.from({ length: 1200 }, (_, i) => i).filter((i) => !notebook.train_indices.includes(i))];
    const x = [...bitsOf(train.inputs.x.values as Float32Array), ...bitsOf(test.inputs.x.values as Float32Array)];
    const expected = indices.flatMap((r: number) => notebook.x.slice(r * 10, r * 10 + 10));
    const labels = [...train.labels, ...test.labels];
    expect(train.count).to.equal(900);
    // The test part's order does not matter to the notebook; compare it as a set of rows.
    expect(x.slice(0, 9000)).to.deep.equal(expected.slice(0, 9000));
    expect(labels.slice(0, 900)).to.deep.equal(notebook.train_indices.map((r: number) => notebook.y[r]));
    const rowKey = (bits: number[], i: number) => bits.slice(i * 10, i * 10 + 10).join(',');
    const testRows = new Set(Array.from({ length: 300 }, (_, i) => rowKey(x.slice(9000), i)));
    expect(testRows).to.deep.equal(new Set(Array.from({ length: 300 }, (_, i) => rowKey(expected.slice(9000), i))));
  });

  it('backbone: nn.Linear init plus 0.1·randn_like noise, bit for bit (and models/seed-backbone.onnx is it)', () => {
    const built = buildSeedBackbone(17);
    const file = loadModel(new URL('../../models/seed-backbone.onnx', import.meta.url).pathname);
    for (const [name, bits] of Object.entries(notebook.backbone)) {
      expect(initializerBits(built, name), name).to.deep.equal(bits);
      expect(initializerBits(file, name), name).to.deep.equal(bits);
    }
  });

  it('each strategy\'s head: nn.Linear(16, 1) drawn where the notebook draws it, bit for bit', () => {
    const backbone = buildSeedBackbone(17);
    for (const s of STRATEGIES) {
      const model = attachLinearHead(backbone, 1, TorchGenerator.at(17, notebookHeadStart(s)));
      expect({ weight: initializerBits(model, 'head.weight'), bias: initializerBits(model, 'head.bias') }, s).to.deep.equal(notebook.heads[s]);
    }
  });

  describe('compare --json', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'onnx-finetune-notebook-'));
    let records: Record<string, { accuracy: number; epoch_losses: number[] }>;
    before(async () => {
      const run = await cli(['compare', '--json', '--out', join(tmp, 'compare')], tmp);
      expect(run.code, run.stderr).to.equal(0);
      records = JSON.parse(run.stdout);
    });
    after(() => rmSync(tmp, { recursive: true, force: true }));

    for (const s of STRATEGIES) {
      it(`${s}: the notebook's accuracy, and its epoch losses within 1e-4 relative (the same batches in the same order)`, () => {
        expect(Math.round(records[s].accuracy * 1000) / 1000).to.equal(notebook.results[s]);
        const expected: number[] = notebook.epoch_losses[s];
        expect(records[s].epoch_losses).to.have.length(expected.length);
        records[s].epoch_losses.forEach((loss, i) => expect(Math.abs(loss - expected[i]) / expected[i], `epoch ${i + 1}`).to.be.below(1e-4));
      });
    }
  });

  it('another seed is the notebook run with that seed: compare --seed 13', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'onnx-finetune-notebook-13-'));
    try {
      const run = await cli(['compare', '--seed', '13', '--json', '--out', join(tmp, 'compare')], tmp);
      expect(run.code, run.stderr).to.equal(0);
      const records = JSON.parse(run.stdout);
      expect(Object.fromEntries(STRATEGIES.map((s) => [s, Math.round(records[s].accuracy * 1000) / 1000]))).to.deep.equal(notebook.results_seed13);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('an imported model with --rng torch trains on DataLoader(shuffle=True)\'s batches: PyTorch\'s accuracy, losses (1e-4) and weights (1e-4)', async () => {
    const expected = notebook.imported_partial_unfreeze_seed17;
    const tmp = mkdtempSync(join(tmpdir(), 'onnx-finetune-imported-torch-'));
    try {
      const files = ['--model', fixturePath('torch-seed', 'model.onnx'), '--train', fixturePath('torch-seed', 'train.csv'), '--test', fixturePath('torch-seed', 'test.csv')];
      const run = await cli(['partial-unfreeze', ...files, '--rng', 'torch', '--json', '--out', join(tmp, 'run')], tmp);
      expect(run.code, run.stderr).to.equal(0);
      const record = JSON.parse(run.stdout);
      expect(record.accuracy).to.equal(expected.accuracy);
      record.epoch_losses.forEach((loss: number, i: number) => expect(Math.abs(loss - expected.epoch_losses[i]) / expected.epoch_losses[i], `epoch ${i + 1}`).to.be.below(1e-4));
      const trained = loadModel(join(tmp, 'run', 'partial_unfreeze.onnx'));
      for (const [name, values] of Object.entries(expected.params) as [string, number[]][]) {
        const got = tensorValues(trained.graph.initializer.find((t) => t.name === name)!) as Float32Array;
        expect(Math.max(...values.map((v, i) => Math.abs(v - got[i]))), name).to.be.below(1e-4);
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  describe('resume', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'onnx-finetune-notebook-resume-'));
    // Two stages of two epochs (15 steps each), checkpoints every 7 steps: the generator's position is in them.
    const PARTIAL = ['partial-unfreeze', '--head-epochs', '2', '--epochs', '2', '--checkpoint-every', '7', '--json'];
    const weights = (dir: string) => Buffer.concat(loadModel(join(dir, 'partial_unfreeze.onnx')).graph.initializer.map((t) => Buffer.from(t.rawData)));
    const whole = join(tmp, 'whole');
    before(async () => {
      const run = await cli([...PARTIAL, '--out', whole], tmp);
      expect(run.code, run.stderr).to.equal(0);
    });
    after(() => rmSync(tmp, { recursive: true, force: true }));

    for (const step of [19, 30]) {
      it(`SIGKILL after step ${step}${step === 30 ? ' (the end of the first stage)' : ''}, then --resume: bit-identical weights and the same report`, async () => {
        const out = join(tmp, `step-${step}`);
        await killAndResume(PARTIAL, out, `after-step:${step}`, tmp);
        expect(weights(out).equals(weights(whole))).to.equal(true);
        expect(reportOf(out)).to.deep.equal(reportOf(whole));
      });
    }

    it('a run is resumed only with the generator it started with', async () => {
      const files = ['--model', fixturePath('torch-seed', 'model.onnx'), '--train', fixturePath('torch-seed', 'train.csv'), '--test', fixturePath('torch-seed', 'test.csv')];
      const out = join(tmp, 'other-rng');
      const killed = await cli([...PARTIAL, ...files, '--rng', 'torch', '--out', out], tmp, { ONNX_FINETUNE_FAULT: 'after-step:19' });
      expect(killed.signal).to.equal('SIGKILL');
      const resumed = await cli([...PARTIAL, ...files, '--resume', out], tmp);
      expect(resumed.code).to.equal(1);
      expect(resumed.stderr).to.match(/^onnx-finetune: --resume: .* is from a run with other settings \(.*"rng":"torch".*\)/);
    });
  });

  it('--rng names its choices when given another', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'onnx-finetune-rng-'));
    try {
      const run = await cli(['linear-probe', '--rng', 'numpy', '--out', join(tmp, 'x')], tmp);
      expect(run.code).to.equal(1);
      expect(run.stderr.trim()).to.equal("onnx-finetune: --rng: unknown rng 'numpy' (choices: torch, mulberry32)");
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
