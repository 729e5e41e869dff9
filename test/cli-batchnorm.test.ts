// --batchnorm on the command line, with the small BatchNorm CNN written to files: the report says the mode, the
// export carries the updated running statistics, and a run killed mid-way resumes bit-identically.
import { expect } from 'chai';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeModel, loadModel } from '../src/onnx/io.js';
import { tensorValues } from '../src/onnx/tensor.js';
import { cli } from './util/cli.js';
import { cnn, csvText, dataset, RUNNING } from './util/bn-cnn.js';

describe('--batchnorm (command)', function () {
  this.timeout(60_000);
  const tmp = mkdtempSync(join(tmpdir(), 'onnx-finetune-bn-'));
  const files = ['--model', join(tmp, 'cnn.onnx'), '--train', join(tmp, 'train.csv'), '--test', join(tmp, 'test.csv')];
  // 10 rows in batches of 4: 3 steps an epoch, 2 epochs; a checkpoint every 2 steps.
  const FULL = ['full-finetune', ...files, '--batchnorm', 'train', '--batch-size', '4', '--epochs', '2', '--checkpoint-every', '2', '--json'];
  const runningMean = (file: string) => Array.from(tensorValues(loadModel(file).graph.initializer.find((t) => t.name === 'bn.running_mean')!) as Float32Array);
  const weights = (file: string) => Buffer.concat(loadModel(file).graph.initializer.map((t) => Buffer.from(t.rawData)));
  before(() => {
    writeFileSync(join(tmp, 'cnn.onnx'), encodeModel(cnn({ training: true })));
    writeFileSync(join(tmp, 'train.csv'), csvText(dataset(10, 1)));
    writeFileSync(join(tmp, 'test.csv'), csvText(dataset(6, 2)));
  });

  it('train: the report says so and the export carries the updated running statistics; SIGKILL then --resume is bit-identical', async () => {
    const whole = join(tmp, 'whole');
    const run = await cli([...FULL, '--out', whole], tmp);
    expect(run.code, run.stderr).to.equal(0);
    expect(JSON.parse(readFileSync(join(whole, 'full_fine_tune.json'), 'utf8')).settings.batch_norm).to.equal('train');
    expect(runningMean(join(whole, 'full_fine_tune.onnx'))).to.not.deep.equal(RUNNING.mean.map(Math.fround));
    const out = join(tmp, 'killed');
    const killed = await cli([...FULL, '--out', out], tmp, { ONNX_FINETUNE_FAULT: 'after-step:5' });
    expect(killed.signal).to.equal('SIGKILL');
    // Another BatchNorm mode is another run.
    const other = await cli([...FULL.map((a) => (a === 'train' ? 'frozen' : a)), '--resume', out], tmp);
    expect(other.code).to.equal(1);
    expect(other.stderr).to.match(/is from a run with other settings/);
    const resumed = await cli([...FULL, '--resume', out], tmp);
    expect(resumed.code, resumed.stderr).to.equal(0);
    expect(weights(join(out, 'full_fine_tune.onnx')).equals(weights(join(whole, 'full_fine_tune.onnx')))).to.equal(true);
    expect(JSON.parse(resumed.stdout).epoch_losses).to.deep.equal(JSON.parse(run.stdout).epoch_losses);
  });

  it('frozen: the running statistics come out as they went in', async () => {
    const run = await cli([...FULL.map((a) => (a === 'train' ? 'frozen' : a)), '--out', join(tmp, 'frozen')], tmp);
    expect(run.code, run.stderr).to.equal(0);
    expect(runningMean(join(tmp, 'frozen', 'full_fine_tune.onnx'))).to.deep.equal(RUNNING.mean.map(Math.fround));
  });

  it('an unknown mode is one line naming the choices', async () => {
    const run = await cli([...FULL.map((a) => (a === 'train' ? 'sometimes' : a)), '--out', join(tmp, 'bad')], tmp);
    expect(run.code).to.equal(1);
    expect(run.stderr.trim()).to.equal("onnx-finetune: --batchnorm: unknown batchnorm 'sometimes' (choices: frozen, train, auto)");
  });
});
