// LoRA (issue 16): the `lora` command against Hugging Face PEFT (test/fixtures/torch-lora, made by
// scripts/make-lora-fixtures.py), the graph transform's promises (a fresh adapter changes nothing; the merged
// model computes what the adapter-carrying one does), compare's LoRA row, and bad input.
import { expect } from 'chai';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel } from '../src/onnx/io.js';
import type { ModelProto } from '../src/onnx/proto.js';
import { createSession, ort } from '../src/runtime/session.js';
import { decodeSafetensors } from '../src/export/safetensors.js';
import { inferenceModel } from '../src/artifacts/build.js';
import { initialParameters } from '../src/train/trainer.js';
import { prepareLora, type LoraOptions } from '../src/lora/lora.js';
import { loraNames } from '../src/lora/adapters.js';
import { readAdapterFolder } from '../src/cli/lora.js';
import { Rng } from '../src/train/rng.js';
import { cli } from './util/cli.js';
import { ROOT, fixturePath, maxRelativeDifference } from './util/fixtures.js';

interface LoraExpected {
  config: { model: string; train: string; test: string; head_glob: string; targets_glob: string; lr: number; epochs: number; batch: number; loss: string };
  results: { epoch_losses: number[]; accuracy: number; trained: Record<string, number[]>; merged_logits: number[][] };
  exported_adapter_check: { ok: boolean; max_abs_diff_vs_merged_onnx: number };
}

const expectedOf = (name: string): LoraExpected => JSON.parse(readFileSync(fixturePath(`torch-lora/${name}`, 'expected.json'), 'utf8'));
const rooted = (path: string) => join(ROOT, path);

/** The test file's model inputs: the seed CSV's ten float columns, or the text JSONL's two int64 sequences. */
function testFeeds(config: LoraExpected['config']): Record<string, ort.Tensor> {
  const text = readFileSync(rooted(config.test), 'utf8').trim().split('\n');
  if (config.test.endsWith('.csv')) {
    const rows = text.slice(1).map((line) => line.split(',').slice(0, -1).map(Number));
    return { x: new ort.Tensor('float32', Float32Array.from(rows.flat()), [rows.length, rows[0].length]) };
  }
  const rows = text.map((line) => JSON.parse(line) as { input_ids: number[]; attention_mask: number[] });
  const ints = (key: 'input_ids' | 'attention_mask') => new ort.Tensor('int64', BigInt64Array.from(rows.flatMap((r) => r[key].map(BigInt))), [rows.length, 16]);
  return { input_ids: ints('input_ids'), attention_mask: ints('attention_mask') };
}

async function logitsOf(model: ModelProto | Uint8Array, feeds: Record<string, ort.Tensor>): Promise<Float32Array> {
  const session = await createSession(model);
  try {
    return (await session.run(feeds))[session.outputNames[0]].data as Float32Array;
  } finally {
    await session.release();
  }
}

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  expect(a.length).to.equal(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
};

const OPTIONS: LoraOptions = { targets: 'backbone.*', rank: 4, alpha: 8, dropout: 0, loraLr: 1e-2, headLr: 1e-2, epochs: 1, head: 'head.*', seed: 17 };

describe('lora: PEFT parity, export, the graph transform', function () {
  this.timeout(300_000);
  let tmp: string;
  before(() => (tmp = mkdtempSync(join(tmpdir(), 'onnx-finetune-lora-'))));
  after(() => rmSync(tmp, { recursive: true, force: true }));

  for (const name of ['seed', 'bert']) {
    describe(`against PEFT on the ${name === 'seed' ? 'seed MLP (targets backbone.*)' : 'BERT encoder (targets query, value)'}, both from PEFT's initial adapter`, () => {
      const expected = expectedOf(name);
      const { config, results } = expected;
      let out: string, stdout: string;
      before(async () => {
        out = join(tmp, name);
        const run = await cli(['lora', '--model', rooted(config.model), '--train', rooted(config.train), '--test', rooted(config.test), '--head', config.head_glob,
          '--adapter', fixturePath(`torch-lora/${name}`, 'initial-adapter'), '--lora-lr', String(config.lr), '--head-lr', String(config.lr),
          '--epochs', String(config.epochs), '--batch-size', String(config.batch), '--no-shuffle', '--json', '--out', out], tmp);
        expect(run.code, run.stderr).to.equal(0);
        stdout = run.stdout;
      });

      it('scores the same accuracy, with epoch losses within 1e-3 relative', () => {
        const record = JSON.parse(stdout);
        expect(Math.round(record.accuracy * 1e6)).to.equal(Math.round(results.accuracy * 1e6));
        expect(maxRelativeDifference(results.epoch_losses, record.epoch_losses)).to.be.below(1e-3);
      });

      it("exports A, B and the head under PEFT's keys, within 5e-4 of PEFT's trained values", () => {
        const folder = join(out, 'lora.adapter');
        expect(readdirSync(folder).sort()).to.deep.equal(['adapter_config.json', 'adapter_model.safetensors']);
        const { tensors } = decodeSafetensors(readFileSync(join(folder, 'adapter_model.safetensors')), 'adapter');
        expect(tensors.map((t) => t.name).sort()).to.deep.equal(Object.keys(results.trained).map((k) => `base_model.model.${k}`).sort());
        for (const t of tensors) {
          const want = results.trained[t.name.slice('base_model.model.'.length)];
          expect(maxAbsDiff(t.values, want), t.name).to.be.below(5e-4);
        }
      });

      it("writes a merged .onnx with no adapter nodes, giving PEFT's merge_and_unload() logits", async () => {
        const merged = loadModel(join(out, 'lora.onnx'));
        expect(merged.graph.initializer.map((t) => t.name).filter((n) => n.includes('lora'))).to.deep.equal([]);
        expect(merged.graph.node.map((n) => n.name).filter((n) => n.includes('lora'))).to.deep.equal([]);
        expect(merged.graph.node.length).to.equal(loadModel(rooted(config.model)).graph.node.length);
        const logits = await logitsOf(merged, testFeeds(config));
        expect(maxAbsDiff(logits, results.merged_logits.flat())).to.be.below(5e-5);
      });

      it('its exported adapter loaded in PEFT (checked by the fixture script) and continues as --adapter', async () => {
        expect(expected.exported_adapter_check.ok).to.equal(true);
        const again = readAdapterFolder(join(out, 'lora.adapter'));
        expect(again.settings).to.deep.include({ rank: readAdapterFolder(fixturePath(`torch-lora/${name}`, 'initial-adapter')).settings.rank });
      });
    });
  }

  it('a fresh adapter (A Kaiming-uniform, B zero) leaves the first forward pass exactly equal to the base model', async () => {
    const expected = expectedOf('seed');
    const base = loadModel(rooted(expected.config.model));
    const setup = prepareLora(base, OPTIONS);
    expect(setup.targets.map((t) => t.weight)).to.deep.equal(['backbone.0.weight', 'backbone.2.weight']);
    const values = initialParameters(setup.model);
    const A = values.get('backbone.0.lora_A.weight')!;
    expect(A.length).to.equal(4 * 10);
    expect(Math.max(...A.map(Math.abs))).to.be.at.most(1 / Math.sqrt(10)).and.above(0);
    expect([...values.get('backbone.0.lora_B.weight')!].every((v) => v === 0)).to.equal(true);
    const feeds = testFeeds(expected.config);
    expect([...await logitsOf(setup.model, feeds)]).to.deep.equal([...await logitsOf(base, feeds)]);
    // Trainable: A 4x10 + B 32x4 + A 4x32 + B 16x4, and the head's 17.
    expect(setup.trainableCount).to.equal(40 + 128 + 128 + 64 + 17);
  });

  for (const [what, model, options] of [
    ['the BERT encoder (MatMul after Transpose)', 'test/fixtures/torch-arch/bert/model.onnx', { ...OPTIONS, targets: '*.{query,key,value}.weight', head: 'classifier.*' }],
    ['the digits CNN (Conv targets)', 'test/fixtures/torch-digits-cnn/model.onnx', { ...OPTIONS, targets: 'backbone.{0,3}.weight', head: 'head.*', rank: 2 }],
  ] as const) {
    it(`on ${what}, the merged model gives the adapter-carrying model's logits (1e-5) for trained-looking A and B`, async () => {
      const base = loadModel(rooted(model));
      const setup = prepareLora(base, options);
      const rng = new Rng(5);
      const values = initialParameters(setup.model);
      for (const t of setup.targets) {
        const B = values.get(loraNames(t.module).B)!;
        for (let i = 0; i < B.length; i++) B[i] = rng.uniform(-0.3, 0.3);
      }
      const adapted = inferenceModel(setup.model, values);
      const merged = setup.merge(values);
      expect(merged.graph.node.length).to.equal(base.graph.node.length);
      const feeds = model.includes('bert') ? testFeeds(expectedOf('bert').config) : { x: new ort.Tensor('float32', Float32Array.from({ length: 4 * 64 }, () => rng.uniform(0, 1)), [4, 1, 8, 8]) };
      const [a, m, b] = [await logitsOf(adapted, feeds), await logitsOf(merged, feeds), await logitsOf(base, feeds)];
      expect(maxAbsDiff(a, m)).to.be.below(1e-5);
      expect(maxAbsDiff(a, b)).to.be.above(1e-3); // the adapters do change the model
    });
  }

  it('--lora-dropout trains with a Dropout on the adapter input; the merged model has none', async () => {
    const out = join(tmp, 'dropout');
    const run = await cli(['lora', '--targets', 'backbone.*', '--rank', '4', '--lora-dropout', '0.2', '--epochs', '2', '--out', out], tmp);
    expect(run.code, run.stderr).to.equal(0);
    const merged = loadModel(join(out, 'lora.onnx'));
    expect(merged.graph.node.filter((n) => n.opType === 'Dropout')).to.deep.equal([]);
    const config = JSON.parse(readFileSync(join(out, 'lora.adapter', 'adapter_config.json'), 'utf8'));
    expect(config).to.deep.include({ peft_type: 'LORA', r: 4, lora_alpha: 8, lora_dropout: 0.2, target_modules: ['backbone.0', 'backbone.2'], modules_to_save: ['head'] });
  });

  it('a killed lora run resumes to the same adapter, bit for bit', async () => {
    const args = ['lora', '--targets', 'backbone.*', '--epochs', '3', '--checkpoint-every', 'epoch', '--json'];
    const whole = join(tmp, 'whole'), killed = join(tmp, 'killed');
    expect((await cli([...args, '--out', whole], tmp)).code).to.equal(0);
    expect((await cli([...args, '--out', killed], tmp, { ONNX_FINETUNE_FAULT: 'after-step:20' })).signal).to.equal('SIGKILL');
    const resumed = await cli([...args, '--resume', killed], tmp);
    expect(resumed.code, resumed.stderr).to.equal(0);
    for (const file of ['lora.adapter/adapter_model.safetensors', 'lora.onnx']) expect(readFileSync(join(killed, file)).equals(readFileSync(join(whole, file))), file).to.equal(true);
  });

  it('compare --no-lora runs the notebook\'s three strategies only; a LoRA option with it is refused', async () => {
    const out = join(tmp, 'compare-no-lora');
    const run = await cli(['compare', '--no-lora', '--json', '--out', out], tmp);
    expect(run.code, run.stderr).to.equal(0);
    expect(readdirSync(out).filter((f) => f.startsWith('lora'))).to.deep.equal([]);
    expect(Object.keys(JSON.parse(run.stdout))).to.deep.equal(['linear_probe', 'partial_unfreeze', 'full_fine_tune']);
    const both = await cli(['compare', '--no-lora', '--lora-rank', '4', '--out', join(tmp, 'no-lora-rank')], tmp);
    expect(both.code).to.equal(1);
    expect(both.stderr.trim()).to.equal("onnx-finetune: --lora-rank sets compare's LoRA row, which --no-lora leaves out: give one of them");
  });

  it('compare on the built-in seed job adds a LoRA row (every backbone Linear) with trainable-parameter counts', async () => {
    const out = join(tmp, 'compare');
    const run = await cli(['compare', '--out', out], tmp);
    expect(run.code, run.stderr).to.equal(0);
    const table = run.stdout.split('\n').filter((l) => /^(linear_probe|partial_unfreeze|full_fine_tune|lora)\s+\d/.test(l)).map((l) => l.split(/\s+/));
    expect(table.map((r) => r[0])).to.deep.equal(['linear_probe', 'partial_unfreeze', 'full_fine_tune', 'lora']);
    // head 17; + backbone.2 (32x16 + 16); everything (10x32 + 32 + 528 + 17); rank 8 on 10→32 and 32→16, + head.
    expect(table.map((r) => Number(r[2]))).to.deep.equal([17, 545, 897, 8 * 10 + 32 * 8 + 8 * 32 + 16 * 8 + 17]);
    expect(run.stdout.trim().split('\n').at(-1)).to.equal(`report: ${join(out, 'report.html')}`);
    expect(run.stdout.trim().split('\n').at(-2)).to.match(/^\{'linear_probe': [\d.]+, 'partial_unfreeze': [\d.]+, 'full_fine_tune': [\d.]+\}$/);
    expect(existsSync(join(out, 'lora.adapter', 'adapter_model.safetensors'))).to.equal(true);
  });

  describe('bad input: one line, exit 1', () => {
    const cases: { name: string; args: () => string[]; message: RegExp }[] = [
      { name: 'a target glob that matches nothing', args: () => ['lora', '--targets', 'encoder.*'], message: /^--targets 'encoder\.\*' matches no parameter of the model \(parameters: /u },
      { name: 'a target that is not a weight of MatMul, Gemm or Conv', args: () => ['lora', '--targets', 'backbone.0.bias'], message: /^--targets 'backbone\.0\.bias' selects 'backbone\.0\.bias', which LoRA cannot adapt: it feeds Gemm '.*' \(input 2\), not the weight of a MatMul, Gemm or Conv$/ },
      { name: 'a target inside the head', args: () => ['lora', '--targets', '*.weight'], message: /^--targets selects 'head\.weight', which --head 'head\.\*' trains in full/ },
      { name: 'rank 0', args: () => ['lora', '--rank', '0'], message: /^--rank must be a positive whole number, got 0$/ },
      { name: 'a rank larger than a weight allows', args: () => ['lora', '--targets', 'backbone.*', '--rank', '11'], message: /^--rank 11 is larger than the weight 'backbone\.0\.weight' allows \(32 outputs, 10 inputs: at most 10\)$/ },
      { name: 'a missing adapter folder', args: () => ['lora', '--adapter', join(tmp, 'nowhere')], message: /^--adapter .*nowhere: no such folder/ },
      { name: 'an adapter folder without its config', args: () => ['lora', '--adapter', folderWith({ 'adapter_model.safetensors': new Uint8Array(8) })], message: /: no adapter_config\.json there/ },
      { name: 'an adapter whose weights are not safetensors', args: () => ['lora', '--adapter', folderWith({ 'adapter_config.json': '{"peft_type":"LORA","r":4}', 'adapter_model.safetensors': 'not at all' })], message: /adapter_model\.safetensors: not a safetensors file/ },
      { name: 'an adapter made for another model', args: () => ['lora', '--adapter', fixturePath('torch-lora/bert', 'initial-adapter')], message: /^--adapter .*: module 'bert\.encoder\.layer\.0\.attention\.self\.query' has no weight .* in the model$/ },
      { name: '--rank given with --adapter', args: () => ['lora', '--rank', '4', '--adapter', fixturePath('torch-lora/seed', 'initial-adapter')], message: /^--rank and --adapter both set the adapter/ },
    ];
    let made = 0;
    function folderWith(files: Record<string, string | Uint8Array>): string {
      const dir = join(tmp, `adapter-${made++}`);
      mkdirSync(dir, { recursive: true });
      for (const [file, content] of Object.entries(files)) writeFileSync(join(dir, file), content);
      return dir;
    }
    for (const c of cases) {
      it(c.name, async () => {
        const run = await cli([...c.args(), '--out', join(tmp, `bad-${c.name.replace(/\W+/g, '-')}`)], tmp);
        expect(run.code, run.stderr).to.equal(1);
        const lines = run.stderr.trim().split('\n');
        expect(lines).to.have.length(1);
        expect(lines[0].replace(/^onnx-finetune: /, '')).to.match(c.message);
      });
    }
  });
});
