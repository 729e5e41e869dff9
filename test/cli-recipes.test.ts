// The recipe options from the command line, as a user runs them: the exported weights match PyTorch's run of
// the same recipe (recipes.json); SIGKILL mid-schedule and mid-accumulation-group, then --resume, is
// bit-identical to the run that never stopped; each bad value is one line naming the option, exit 1.
import { expect } from 'chai';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel, saveModel } from '../src/onnx/io.js';
import { tensorValues } from '../src/onnx/tensor.js';
import { cli, killAndResume, reportOf } from './util/cli.js';
import { fixturePath, maxParameterDifference } from './util/fixtures.js';
import { withHead } from './util/heads.js';

const expected = JSON.parse(readFileSync(fixturePath('torch-schedules', 'recipes.json'), 'utf8')).results;
const data = ['--train', fixturePath('torch-seed', 'train.csv'), '--test', fixturePath('torch-seed', 'test.csv')];
const seedModel = ['--model', fixturePath('torch-seed', 'model.onnx')];

function parameters(file: string): Map<string, Float32Array> {
  return new Map(loadModel(file).graph.initializer.map((t) => [t.name, tensorValues(t) as Float32Array]));
}

describe('recipe options (command)', function () {
  this.timeout(120_000);
  const tmp = mkdtempSync(join(tmpdir(), 'onnx-finetune-recipes-'));
  const twoClass = join(tmp, 'two-class.onnx');
  before(() => {
    const head = expected.label_smoothing.head_init;
    saveModel(twoClass, withHead(loadModel(fixturePath('torch-seed', 'model.onnx')), head['head.weight'], head['head.bias']));
  });

  const parity: [string, string[]][] = [
    ['warmup_cosine', [...seedModel, '--lr', '0.003', '--schedule', 'cosine', '--warmup', '0.1']],
    ['onecycle', [...seedModel, '--lr', '0.01', '--schedule', 'onecycle']],
    ['discriminative', [...seedModel, '--lr', '0.003', '--optimizer', 'adamw', '--lr-decay', '0.8', '--no-decay', 'bias']],
    ['clipping', [...seedModel, '--lr', '0.1', '--optimizer', 'sgd', '--clip-norm', '0.2']],
    ['accumulation', [...seedModel, '--lr', '0.003', '--accumulate', '4']],
    ['label_smoothing', ['--model', twoClass, '--lr', '0.003', '--label-smoothing', '0.1']],
  ];
  for (const [family, args] of parity) {
    it(`full-finetune ${args.slice(2).join(' ')}: PyTorch's ${family} run (accuracy, parameters within 1e-4)`, async () => {
      const out = join(tmp, family);
      const run = await cli(['full-finetune', ...args, ...data, '--epochs', '10', '--no-shuffle', '--json', '--out', out], tmp);
      expect(run.code, run.stderr).to.equal(0);
      expect(JSON.parse(run.stdout).accuracy).to.equal(expected[family].accuracy);
      const diff = maxParameterDifference(expected[family].params, parameters(join(out, 'full_fine_tune.onnx')));
      expect(diff.max, diff.name).to.be.below(1e-4);
    });
  }

  describe('SIGKILL mid-schedule and mid-accumulation, then --resume', () => {
    // 15 batches an epoch, updates after batches 4, 8, 12, 15; two stages of two epochs, shuffled.
    const args = ['partial-unfreeze', ...seedModel, ...data, '--head-epochs', '2', '--epochs', '2', '--schedule', 'onecycle', '--accumulate', '4',
      '--clip-norm', '0.5', '--lr-decay', '0.8', '--optimizer', 'adamw', '--no-decay', 'bias', '--checkpoint-every', '1', '--json'];
    const weights = (dir: string) => Buffer.concat(loadModel(join(dir, 'partial_unfreeze.onnx')).graph.initializer.map((t) => Buffer.from(t.rawData)));
    const whole = join(tmp, 'whole');
    before(async () => {
      const run = await cli([...args, '--out', whole], tmp);
      expect(run.code, run.stderr).to.equal(0);
    });
    for (const step of [6, 37]) {
      it(`killed after step ${step} (${step === 6 ? 'stage 1, two batches into a group' : 'stage 2, three batches into a group'}): bit-identical weights and report`, async () => {
        const out = join(tmp, `killed-${step}`);
        await killAndResume(args, out, `after-step:${step}`, tmp);
        expect(weights(out).equals(weights(whole))).to.equal(true);
        expect(reportOf(out)).to.deep.equal(reportOf(whole));
      });
    }

    it('refuses to resume with another recipe (the plan differs)', async () => {
      const out = join(tmp, 'killed-other');
      await cli([...args, '--out', out], tmp, { ONNX_FINETUNE_FAULT: 'after-step:6' });
      const other = await cli([...args.map((a) => (a === '4' ? '3' : a)), '--resume', out], tmp);
      expect(other.code).to.equal(1);
      expect(other.stderr).to.match(/^onnx-finetune: --resume: \S+ is from a run with another plan \(strategy options\); resume with the command and options that started it\n$/);
    });
  });

  const bad: [string[], RegExp][] = [
    [['--schedule', 'exponential'], /--schedule: unknown schedule 'exponential' \(choices: constant, linear, cosine, onecycle\)/],
    [['--warmup', '0'], /--warmup must be a whole number of updates \(>= 1\) or a fraction between 0 and 1, got 0/],
    [['--warmup', '2.5'], /--warmup must be a whole number of updates \(>= 1\) or a fraction between 0 and 1, got 2\.5/],
    [['--schedule', 'onecycle', '--warmup', '10'], /--warmup does not apply to --schedule onecycle/],
    [['--accumulate', '0'], /--accumulate must be a positive whole number, got 0/],
    [['--clip-norm', '-1'], /--clip-norm must be a positive number, got -1/],
    [['--lr-decay', 'abc'], /--lr-decay: 'abc' is not a number/],
    [['--label-smoothing', '1.5'], /--label-smoothing must be a number from 0 to 1, got 1\.5/],
    [['--label-smoothing', '0.1'], /--label-smoothing applies to cross-entropy \(several logits, or --loss ce\); this run's loss is bce/],
    [['--no-decay', ','], /--no-decay: no globs given/],
  ];
  for (const [options, message] of bad) {
    it(`${options.join(' ')}: one line, exit 1`, async () => {
      const run = await cli(['full-finetune', ...seedModel, ...data, '--epochs', '1', ...options, '--out', join(tmp, 'bad')], tmp);
      expect(run.code).to.equal(1);
      expect(run.stderr.trimEnd().split('\n'), run.stderr).to.have.length(1);
      expect(run.stderr).to.match(message);
    });
  }
});
