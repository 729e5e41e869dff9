// Early stopping and the model kept, run as a user runs them: the exported model is the best epoch's weights
// (the same bits as a run stopped at that epoch), or the last one's; the report says which epoch and where the
// run stopped; the best weights survive SIGKILL and --resume; a run without validation data is refused.
import { expect } from 'chai';
import { cpSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, expectSameInBothRuntimes, reportOf } from './util/cli.js';
import { fixturePath, loadFixture } from './util/fixtures.js';
import { loadModel } from '../src/onnx/io.js';
import { bestEpoch, stopsEarly } from '../src/train/early-stopping.js';
import type { EpochValidation, RunSnapshot } from '../src/train/trainer.js';
import { decodeCheckpoint, encodeCheckpoint } from '../src/checkpoint/checkpoint.js';

const digits = ['--model', fixturePath('torch-digits-cnn', 'model.onnx'), '--train', fixturePath('torch-digits-cnn', 'train.csv'), '--test', fixturePath('torch-digits-cnn', 'test.csv')];
const weights = (file: string) => Buffer.concat(loadModel(file).graph.initializer.map((t) => Buffer.from(t.rawData)));
const report = (dir: string, name = 'full_fine_tune') => JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8'));

describe('early stopping and the best model', function () {
  this.timeout(120_000);
  const tmp = mkdtempSync(join(tmpdir(), 'onnx-finetune-early-'));
  // 250 rows less 30% held out: 175 train in batches of 32, 6 steps an epoch.
  const FULL = ['full-finetune', ...digits, '--val-split', '0.3', '--lr', '0.01', '--epochs', '30', '--batch-size', '32', '--json'];
  const best = join(tmp, 'best');
  before(async () => {
    const run = await cli([...FULL, '--early-stop', '3', '--keep', 'best', '--out', best], tmp);
    expect(run.code, run.stderr).to.equal(0);
  });

  it('--keep best exports the best epoch\'s weights: the bits of the same run stopped at that epoch; the report says where', async () => {
    const r = report(best);
    const { best_epoch: epoch, stopped_early_at_epoch: stopped } = r.early_stopping;
    expect(r.early_stopping).to.include({ monitor: 'val_loss', patience: 3, keep: 'best' });
    // It stopped three epochs after the best one, which has the lowest validation loss of those run.
    expect(stopped).to.equal(epoch + 3).and.to.be.below(30);
    expect(r.epoch_losses).to.have.length(stopped);
    const losses = r.validation.map((v: EpochValidation) => v.loss);
    expect(r.early_stopping.best_value).to.equal(Math.min(...losses)).and.to.equal(losses[epoch - 1]);
    // report.html says the same.
    expect(readFileSync(join(best, 'report.html'), 'utf8')).to.contain(`Kept: the best epoch's weights; best epoch ${epoch} (val_loss ${r.early_stopping.best_value}); stopped early after epoch ${stopped} (patience 3).`);
    const upTo = join(tmp, 'up-to-best');
    const run = await cli([...FULL.map((a) => (a === '30' ? String(epoch) : a)), '--out', upTo], tmp);
    expect(run.code, run.stderr).to.equal(0);
    expect(weights(join(best, 'full_fine_tune.onnx')).equals(weights(join(upTo, 'full_fine_tune.onnx')))).to.equal(true);
    // The test set was scored with the best weights, and the exported file scores the same.
    expect(r.accuracy).to.equal(report(upTo).accuracy);
    await expectSameInBothRuntimes(join(best, 'full_fine_tune.onnx'), loadFixture('torch-digits-cnn').test, r.accuracy);
  });

  it('--keep last (the default) exports the weights of the epoch it stopped at', async () => {
    const last = join(tmp, 'last');
    const run = await cli([...FULL, '--early-stop', '3', '--out', last], tmp);
    expect(run.code, run.stderr).to.equal(0);
    const stopped = report(last).early_stopping.stopped_early_at_epoch;
    expect(stopped).to.equal(report(best).early_stopping.stopped_early_at_epoch);
    const upTo = join(tmp, 'up-to-stop');
    await cli([...FULL.map((a) => (a === '30' ? String(stopped) : a)), '--out', upTo], tmp);
    expect(weights(join(last, 'full_fine_tune.onnx')).equals(weights(join(upTo, 'full_fine_tune.onnx')))).to.equal(true);
  });

  it('SIGKILL after the best epoch, then --resume: the best weights and the counters survive, bit-identical', async () => {
    const epoch = report(best).early_stopping.best_epoch;
    const out = join(tmp, 'killed');
    const args = [...FULL, '--early-stop', '3', '--keep', 'best', '--checkpoint-every', '4'];
    const killed = await cli([...args, '--out', out], tmp, { ONNX_FINETUNE_FAULT: `after-step:${epoch * 6 + 8}` });
    expect(killed.signal).to.equal('SIGKILL');
    const resumed = await cli([...args, '--resume', out], tmp);
    expect(resumed.code, resumed.stderr).to.equal(0);
    expect(weights(join(out, 'full_fine_tune.onnx')).equals(weights(join(best, 'full_fine_tune.onnx')))).to.equal(true);
    expect(reportOf(out, 'full_fine_tune')).to.deep.equal(reportOf(best, 'full_fine_tune'));
  });

  it('a forged checkpoint\'s best weights are refused on --resume, one line naming the field', async () => {
    const epoch = report(best).early_stopping.best_epoch;
    const args = [...FULL, '--early-stop', '3', '--keep', 'best', '--checkpoint-every', '4'];
    const killed = join(tmp, 'to-forge');
    expect((await cli([...args, '--out', killed], tmp, { ONNX_FINETUNE_FAULT: `after-step:${epoch * 6 + 8}` })).signal).to.equal('SIGKILL');
    const source = loadModel(fixturePath('torch-digits-cnn', 'model.onnx'));
    for (const [label, edit, message] of [
      ['without its best weights', (s: RunSnapshot) => delete s.best, `field 'best' is missing; the run keeps the best epoch's weights, those of epoch ${epoch}`],
      ['with another epoch\'s', (s: RunSnapshot) => (s.best!.epoch = epoch - 1), `field 'best.epoch' is ${epoch - 1}, not ${epoch} (the best epoch by val_loss in the validation results)`],
      ['with a best weight cut short', (s: RunSnapshot) => s.best!.parameters.set('head.weight', new Float32Array(3)), "best parameter 'head.weight' has 3 values; the model's has 160"],
    ] as const) {
      const out = join(tmp, `forged-${label.replace(/\W+/g, '-')}`);
      cpSync(killed, out, { recursive: true });
      const file = join(out, 'checkpoints', readdirSync(join(out, 'checkpoints')).sort().at(-1)!);
      const { snapshot, identity } = decodeCheckpoint(readFileSync(file), file);
      edit(snapshot);
      writeFileSync(file, encodeCheckpoint(source, snapshot, identity));
      const resumed = await cli([...args, '--resume', out], tmp);
      expect(resumed.code, label).to.equal(1);
      expect(resumed.stderr, label).to.equal(`onnx-finetune: ${file}: checkpoint ${message}\n`);
    }
  });

  it('in a plan, the best epoch may be in an earlier stage: its weights are exported and tested', async () => {
    // The second stage's learning rate wrecks the model: the best epoch is the head stage's last. The third
    // stage trains the head alone, so its graphs hold the wrecked backbone as constants: the test set must be
    // scored with graphs of the best weights.
    const plan = join(tmp, 'wreck.yaml');
    writeFileSync(plan, ['name: wreck', 'stages:', '  - { name: head, epochs: 3, groups: [{ params: head.*, lr: 0.01 }] }', '  - { name: all, epochs: 1, groups: [{ params: "*", lr: 0.5 }] }',
      '  - { name: head-again, epochs: 1, groups: [{ params: head.*, lr: 0.001 }] }', ''].join('\n'));
    const out = join(tmp, 'wreck');
    const run = await cli(['run', plan, ...digits, '--val-split', '0.3', '--batch-size', '32', '--keep', 'best', '--out', out], tmp);
    expect(run.code, run.stderr).to.equal(0);
    const r = report(out, 'wreck');
    expect(r.early_stopping.best_epoch).to.equal(3);
    const probe = join(tmp, 'probe');
    await cli(['linear-probe', ...digits, '--val-split', '0.3', '--batch-size', '32', '--lr', '0.01', '--epochs', '3', '--out', probe], tmp);
    expect(weights(join(out, 'wreck.onnx')).equals(weights(join(probe, 'linear_probe.onnx')))).to.equal(true);
    expect(r.accuracy).to.equal(report(probe, 'linear_probe').accuracy);
  });

  for (const [label, args, message] of [
    ['--early-stop without validation data', ['--early-stop', '2'], '--early-stop needs a validation set to judge the epochs by: give --val FILE or --val-split FRACTION'],
    ['--keep best without validation data', ['--keep', 'best'], '--keep best needs a validation set to judge the epochs by: give --val FILE or --val-split FRACTION'],
    ['a metric the task does not have', ['--early-stop', '2', '--val-split', '0.2', '--monitor', 'val_mae'], '--monitor val_mae: a multiclass run has no such metric (choices: val_loss, val_accuracy, val_f1)'],
    ['--monitor alone', ['--monitor', 'val_accuracy'], '--monitor val_accuracy judges the run for --early-stop or --keep best: give one of them'],
    ['an unknown --keep', ['--keep', 'first'], "--keep: unknown keep 'first' (choices: last, best)"],
  ] as const) {
    it(`refuses ${label}: one line, exit 1`, async () => {
      const run = await cli(['linear-probe', ...digits, '--epochs', '1', ...args, '--out', join(tmp, 'refused')], tmp);
      expect(run.code).to.equal(1);
      expect(run.stderr).to.equal(`onnx-finetune: ${message}\n`);
    });
  }

  it('counts as Keras does (min_delta 0): only a strict improvement resets the patience; a NaN never improves', () => {
    const v = (losses: number[]) => losses.map((loss, i) => ({ epoch: i + 1, stage: 's', loss }) as unknown as EpochValidation);
    expect(bestEpoch(v([3, 2, 2, 2.5]), 'val_loss')).to.deep.equal({ epoch: 2, value: 2 });
    expect(stopsEarly(v([3, 2, 2, 2.5]), { monitor: 'val_loss', patience: 2, keep: 'last' })).to.equal(true);
    expect(stopsEarly(v([3, 2, 2]), { monitor: 'val_loss', patience: 2, keep: 'last' })).to.equal(false);
    expect(bestEpoch(v([NaN, 4, NaN]), 'val_loss')).to.deep.equal({ epoch: 2, value: 4 });
    const accuracy = [0.5, 0.7, 0.7].map((accuracy, i) => ({ epoch: i + 1, stage: 's', loss: 1, accuracy }) as unknown as EpochValidation);
    expect(bestEpoch(accuracy, 'val_accuracy')).to.deep.equal({ epoch: 2, value: 0.7 });
  });
});
