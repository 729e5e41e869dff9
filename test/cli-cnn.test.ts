// A pretrained CNN exported by PyTorch (torch.export, opset 18, external data) through the command:
// the three strategies reproduce PyTorch's runs; a backbone without its head gets a new one with
// --backbone/--classes; the loss follows the head unless --loss says otherwise.
import { expect } from 'chai';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel, saveModel } from '../src/onnx/io.js';
import { makeValueInfo, DataType } from '../src/onnx/builder.js';
import { initialParameters } from '../src/train/trainer.js';
import { describeModel } from '../src/model/describe.js';
import { cli, expectSameInBothRuntimes } from './util/cli.js';
import { fixturePath, loadFixture, maxParameterDifference, maxRelativeDifference } from './util/fixtures.js';

const digits = loadFixture('torch-digits-cnn');
const c = digits.expected.config;
const files = ['--model', fixturePath('torch-digits-cnn', 'model.onnx'), '--train', fixturePath('torch-digits-cnn', 'train.csv'), '--test', fixturePath('torch-digits-cnn', 'test.csv')];
const fixtureArgs: Record<string, string[]> = {
  'linear-probe': ['--lr', String(c.probe.lr), '--epochs', String(c.probe.epochs)],
  'partial-unfreeze': ['--head-lr', String(c.partial.head_lr), '--head-epochs', String(c.partial.head_epochs), '--unfreeze', c.partial.unfreeze, '--backbone-lr', String(c.partial.backbone_lr), '--epochs', String(c.partial.epochs)],
  'full-finetune': ['--lr', String(c.full.lr), '--epochs', String(c.full.epochs)],
};
const KEYS: Record<string, string> = { 'linear-probe': 'linear_probe', 'partial-unfreeze': 'partial_unfreeze', 'full-finetune': 'full_fine_tune' };

/** The fixture's backbone alone: the model without its head, ending in the 32 features the head read. */
function cutBackbone(dir: string): string {
  const model = loadModel(fixturePath('torch-digits-cnn', 'model.onnx'));
  const head = model.graph.node.find((n) => n.output.includes('logits'))!;
  model.graph.node = model.graph.node.filter((n) => n !== head);
  model.graph.initializer = model.graph.initializer.filter((t) => !t.name.startsWith('head.'));
  model.graph.output = [makeValueInfo(head.input[0], DataType.FLOAT, ['batch', 32])];
  const path = join(dir, 'backbone.onnx');
  saveModel(path, model);
  return path;
}

describe('onnx-finetune on a PyTorch CNN (torch-digits-cnn)', function () {
  this.timeout(60_000);
  const tmp = mkdtempSync(join(tmpdir(), 'onnx-finetune-cnn-'));

  for (const command of Object.keys(fixtureArgs)) {
    it(`${command} gives PyTorch's accuracy, epoch losses and weights`, async () => {
      const out = join(tmp, command);
      const run = await cli([command, ...files, '--no-shuffle', '--batch-size', String(c.batch), '--json', '--out', out, ...fixtureArgs[command]], tmp);
      expect(run.code, run.stderr).to.equal(0);
      const record = JSON.parse(run.stdout);
      const expected = digits.expected.results[KEYS[command]];
      expect(Math.fround(record.accuracy)).to.equal(expected.accuracy);
      expect(maxRelativeDifference(expected.epoch_losses, record.epoch_losses)).to.be.below(1e-4);
      const exported = loadModel(record.model);
      const diff = maxParameterDifference(expected.params, initialParameters(exported));
      expect(diff.max, diff.name).to.be.below(1e-4);
      // The export keeps the source's opset and IR (torch.export writes 18 / 10) and carries its weights inline.
      expect(describeModel(exported).opset).to.equal(18);
      expect(Number(exported.irVersion)).to.equal(10);
      expect(exported.graph.initializer.every((t) => t.externalData.length === 0)).to.equal(true);
      await expectSameInBothRuntimes(record.model, digits.test, record.accuracy);
    });
  }

  it('--backbone --classes attaches a fresh head, trains it and exports backbone + head in one file', async () => {
    const backbone = cutBackbone(tmp);
    const out = join(tmp, 'new-head');
    const run = await cli(['linear-probe', '--backbone', backbone, '--classes', '5', ...files.slice(2), '--json', '--out', out], tmp);
    expect(run.code, run.stderr).to.equal(0);
    const record = JSON.parse(run.stdout);
    expect(record.accuracy).to.be.greaterThan(0.5); // five classes: chance is 0.2
    const exported = loadModel(record.model);
    const params = initialParameters(exported);
    expect(params.get('head.weight')!.length).to.equal(5 * 32);
    expect(params.get('backbone.0.weight')!.length).to.equal(72);
    // The frozen backbone comes out unchanged.
    expect(Array.from(params.get('backbone.7.weight')!)).to.deep.equal(Array.from(initialParameters(loadModel(backbone)).get('backbone.7.weight')!));
    await expectSameInBothRuntimes(record.model, digits.test, record.accuracy);
  });

  it("--optimizer adamw decays weights by PyTorch's default 0.01 unless --weight-decay says otherwise", async () => {
    const seedFiles = ['--model', fixturePath('torch-seed', 'model.onnx'), '--train', fixturePath('torch-seed', 'train.csv'), '--test', fixturePath('torch-seed', 'test.csv')];
    const settings = async (extra: string[], out: string) => {
      const run = await cli(['linear-probe', ...seedFiles, '--epochs', '1', '--optimizer', 'adamw', ...extra, '--out', join(tmp, out)], tmp);
      expect(run.code, run.stderr).to.equal(0);
      return JSON.parse(readFileSync(join(tmp, out, 'linear_probe.json'), 'utf8')).settings;
    };
    expect((await settings([], 'adamw')).weight_decay).to.equal(0.01);
    expect((await settings(['--weight-decay', '0'], 'adamw0')).weight_decay).to.equal(0);
  });

  it('--threads sets ONNX Runtime\'s intra-op threads, and the run trains the same; a small model defaults to 1', async () => {
    const args = (n: string | undefined, out: string) => ['full-finetune', ...files, '--no-shuffle', '--batch-size', '32', '--epochs', '1', ...(n ? ['--threads', n] : []), '--json', '--out', join(tmp, out)];
    const one = JSON.parse((await cli(args(undefined, 't1'), tmp)).stdout), two = await cli(args('2', 't2'), tmp);
    expect(JSON.parse(readFileSync(join(tmp, 't1', 'full_fine_tune.json'), 'utf8')).settings.threads).to.equal(1);
    expect(two.code, two.stderr).to.equal(0);
    expect(JSON.parse(readFileSync(join(tmp, 't2', 'full_fine_tune.json'), 'utf8')).settings.threads).to.equal(2);
    expect(JSON.parse(two.stdout).epoch_losses[0]).to.be.closeTo(one.epoch_losses[0], 1e-6);
    const bad = await cli(args('0', 't0'), tmp);
    expect(bad.stderr.trim()).to.equal('onnx-finetune: --threads must be a positive whole number, got 0');
  });

  it('--loss overrides the loss the head implies', async () => {
    const seedFiles = ['--model', fixturePath('torch-seed', 'model.onnx'), '--train', fixturePath('torch-seed', 'train.csv'), '--test', fixturePath('torch-seed', 'test.csv')];
    const run = await cli(['linear-probe', ...seedFiles, '--loss', 'mse', '--epochs', '2', '--json', '--out', join(tmp, 'mse')], tmp);
    expect(run.code, run.stderr).to.equal(0);
    const report = JSON.parse(readFileSync(join(tmp, 'mse', 'linear_probe.json'), 'utf8'));
    expect(JSON.stringify(report)).to.include('"mse"');
    const bad = await cli(['linear-probe', ...files, '--loss', 'bce', '--out', join(tmp, 'bce5')], tmp);
    expect(bad.code).to.not.equal(0);
    expect(bad.stderr.trim()).to.match(/--loss bce needs a model with one logit .* this model has 5$/);
  });

  it('bad input: models ONNX Runtime could not train from, and data that does not match', async () => {
    const seedFiles = (model: string) => ['--model', model, '--train', fixturePath('torch-seed', 'train.csv'), '--test', fixturePath('torch-seed', 'test.csv')];
    const variant = (name: string, change: (m: ReturnType<typeof loadModel>) => void) => {
      const model = loadModel(fixturePath('torch-seed', 'model.onnx'));
      change(model);
      saveModel(join(tmp, name), model);
      return join(tmp, name);
    };
    const fixedBatch = variant('batch1.onnx', (m) => { m.graph.input[0].type!.tensorType!.shape!.dim![0] = { dimValue: 1 }; });
    const float64 = variant('f64.onnx', (m) => { m.graph.input[0].type!.tensorType!.elemType = DataType.DOUBLE; });
    const reordered = join(tmp, 'reordered.csv');
    const lines = readFileSync(fixturePath('torch-seed', 'test.csv'), 'utf8').trim().split(/\r?\n/).map((l) => l.split(',').reverse().join(','));
    writeFileSync(reordered, lines.join('\n'));
    for (const [args, message] of [
      [seedFiles(fixedBatch), /batch1\.onnx: input 'x' has a fixed batch size of 1; export it with a dynamic batch axis/],
      [seedFiles(float64), /f64\.onnx: input 'x' is DOUBLE; onnx-finetune feeds float32, int64 or int32 inputs$/],
      [[...seedFiles(fixturePath('torch-seed', 'model.onnx')).slice(0, 4), '--test', reordered], /reordered\.csv: columns \(y, x9, .*\) differ from .*train\.csv's \(x0, x1, .*\)$/],
      [[...seedFiles(fixturePath('torch-seed', 'model.onnx')), '--head', ''], /an empty parameter glob matches nothing/],
      [[...seedFiles(fixturePath('torch-seed', 'model.onnx')), '--out', join(fixturePath('torch-seed', 'model.onnx'), 'x')], /model\.onnx\/x: cannot create the output folder \(ENOTDIR\)$/],
    ] as const) {
      const run = await cli(['linear-probe', ...args], tmp);
      expect(run.code, run.stderr).to.equal(1);
      expect(run.stderr.trim().split('\n')).to.have.length(1);
      expect(run.stderr.trim()).to.match(message);
    }
  });

  for (const [label, args, message] of [
    ['--backbone with --model', ['--backbone', 'a.onnx', '--classes', '3', ...files], /--model .* and --backbone .* exclude each other/],
    ['--classes without --backbone', ['--classes', '3', ...files], /--backbone and --classes go together/],
    ['--classes 0', ['--backbone', 'a.onnx', '--classes', '0', ...files.slice(2)], /--classes must be a positive whole number, got 0/],
    ['an unknown loss', ['--loss', 'hinge', ...files], /--loss: unknown loss 'hinge' \(choices: bce, ce, mse\)/],
  ] as const) {
    it(`bad input: ${label}`, async () => {
      const run = await cli(['linear-probe', ...args, '--out', join(tmp, 'never')], tmp);
      expect(run.code).to.not.equal(0);
      expect(run.stderr.trim().split('\n')).to.have.length(1);
      expect(run.stderr).to.match(message);
    });
  }
});
