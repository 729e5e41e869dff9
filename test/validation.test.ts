// Validation through the command, as a user runs it: --val-split and --val evaluated after every epoch, in the
// summary, the report and --json; a run killed and resumed reports the same validation, bit for bit; the
// split is seeded and stratified; bad options are one line each.
import { expect } from 'chai';
import { cpSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeModel, encodeModel, loadModel } from '../src/onnx/io.js';
import { onnx } from '../src/onnx/proto.js';
import { readDataMetadata } from '../src/export/data-metadata.js';
import { readCsvDataset } from '../src/data/csv.js';
import { splitValidation } from '../src/data/split.js';
import { cli, reportOf } from './util/cli.js';
import { fixturePath } from './util/fixtures.js';

const TRAIN = fixturePath('torch-seed', 'train.csv'), TEST = fixturePath('torch-seed', 'test.csv');
const files = ['--model', fixturePath('torch-seed', 'model.onnx'), '--train', TRAIN, '--test', TEST];
// 900 rows less a fifth: 720 train in 12 batches; two stages of two epochs, a checkpoint every 7 steps.
const PARTIAL = ['partial-unfreeze', ...files, '--head-epochs', '2', '--epochs', '2', '--checkpoint-every', '7', '--val-split', '0.2', '--json'];

const readJson = (path: string) => JSON.parse(readFileSync(path, 'utf8'));
const weights = (file: string) => Buffer.concat(loadModel(file).graph.initializer.map((t) => Buffer.from(t.rawData)));

describe('validation (command)', function () {
  this.timeout(120_000);
  const tmp = mkdtempSync(join(tmpdir(), 'onnx-finetune-validation-'));
  const whole = join(tmp, 'whole');
  before(async () => {
    const run = await cli([...PARTIAL, '--out', whole], tmp);
    expect(run.code, run.stderr).to.equal(0);
  });

  it('--val-split: one validation entry per epoch of every stage in the report, with the test metrics', () => {
    const r = reportOf(whole);
    expect(r.task).to.equal('binary');
    expect(r.validation.map((v: { epoch: number; stage: string }) => [v.epoch, v.stage])).to.deep.equal([[1, 'head'], [2, 'head'], [3, 'unfrozen'], [4, 'unfrozen']]);
    for (const v of r.validation) {
      expect(v).to.have.keys(['epoch', 'stage', 'loss', 'accuracy', 'macro_f1', 'per_class', 'confusion_matrix', 'roc_auc']);
      // 180 rows held out: the confusion matrix counts them all
      expect(v.confusion_matrix.flat().reduce((a: number, b: number) => a + b, 0)).to.equal(180);
    }
    expect(r.test_metrics.accuracy).to.equal(r.accuracy);
    expect(r.test_metrics.confusion_matrix.flat().reduce((a: number, b: number) => a + b, 0)).to.equal(300);
    expect(r.data.validation).to.match(/^--val-split 0\.2 of the training data, stratified by class, seed 17$/);
    expect(readDataMetadata(loadModel(join(whole, 'partial_unfreeze.onnx'))).task).to.equal('binary');
  });

  it('the split is stratified and seeded: each class gives its share, the same seed the same rows', () => {
    const data = readCsvDataset(TRAIN);
    const a = splitValidation(data, 0.2, 5, { stratify: true }), b = splitValidation(data, 0.2, 5, { stratify: true }), c = splitValidation(data, 0.2, 6, { stratify: true });
    const ones = (labels: Float64Array) => labels.reduce((n, y) => n + y, 0);
    expect(a.validation.count).to.equal(180);
    expect(a.train.count).to.equal(720);
    expect(ones(a.validation.labels)).to.equal(Math.round((ones(data.labels) * 180) / 900));
    expect([...a.validation.lines!]).to.deep.equal([...b.validation.lines!]);
    expect([...a.validation.lines!]).to.not.deep.equal([...c.validation.lines!]);
    // every example in exactly one of the sets, each in file order
    const lines = [...a.train.lines!, ...a.validation.lines!].sort((x, y) => x - y);
    expect(lines).to.deep.equal([...data.lines!]);
  });

  for (const fault of ['after-step:19', 'after-step:30', 'mid-checkpoint:4', 'after-step:46']) {
    it(`SIGKILL (${fault}), then --resume: bit-identical weights and the same validation results`, async () => {
      const out = join(tmp, fault.replace(':', '-'));
      const killed = await cli([...PARTIAL, '--out', out], tmp, { ONNX_FINETUNE_FAULT: fault });
      expect(killed.signal).to.equal('SIGKILL');
      const resumed = await cli([...PARTIAL, '--resume', out], tmp);
      expect(resumed.code, resumed.stderr).to.equal(0);
      expect(weights(join(out, 'partial_unfreeze.onnx')).equals(weights(join(whole, 'partial_unfreeze.onnx')))).to.equal(true);
      expect(reportOf(out)).to.deep.equal(reportOf(whole));
    });
  }

  describe('forged validation results in a checkpoint are refused on --resume', () => {
    const killed = join(tmp, 'forge-source');
    before(async () => {
      // killed after step 30: the newest checkpoint is step 28, stage 'unfrozen', two epochs validated
      const run = await cli([...PARTIAL, '--out', killed], tmp, { ONNX_FINETUNE_FAULT: 'after-step:30' });
      expect(run.signal).to.equal('SIGKILL');
    });
    for (const [label, message, edit] of [
      ['an epoch left out', /field 'validation' holds 1 epoch results; the run has validated 2 epochs at this position$/, (v: any[]) => v.pop()],
      ['an epoch renumbered', /field 'validation\[1\]\.epoch' is 3, not 2$/, (v: any[]) => (v[1].epoch = 3)],
      ['another stage', /field 'validation\[0\]\.stage' is "unfrozen", not 'head' \(the stage of epoch 1\)$/, (v: any[]) => (v[0].stage = 'unfrozen')],
      ['a loss as text', /field 'validation\[0\]\.loss' is "0\.5", not a number$/, (v: any[]) => (v[0].loss = '0.5')],
      ['no accuracy', /field 'validation\[1\]\.mae' is missing, not a number$/, (v: any[]) => delete v[1].accuracy],
    ] as const) {
      it(label, async () => {
        const out = join(tmp, `forged-${label.replace(/ /g, '-')}`);
        cpSync(killed, out, { recursive: true });
        const dir = join(out, 'checkpoints');
        const file = join(dir, readdirSync(dir).sort().pop()!);
        const model = decodeModel(readFileSync(file), file);
        const entry = (key: string) => model.metadataProps.find((e) => e.key === key)!;
        const state = JSON.parse(entry('onnx_finetune.state').value!);
        edit(state.validation);
        entry('onnx_finetune.state').value = JSON.stringify(state);
        // sealed again as checkpoint.ts seals it (the SHA-256 of every byte before the checksum entry, which
        // ends the file): the checksum is no defence against an edit
        model.metadataProps = model.metadataProps.filter((e) => e.key !== 'onnx_finetune.checksum');
        const body = encodeModel(model);
        const checksum = createHash('sha256').update(body).digest('hex');
        writeFileSync(file, Buffer.concat([body, onnx.ModelProto.encode({ metadataProps: [{ key: 'onnx_finetune.checksum', value: checksum }] }).finish()]));
        const run = await cli([...PARTIAL, '--resume', out], tmp);
        expect(run.code).to.equal(1);
        expect(run.stderr.trim().split('\n')).to.have.length(1);
        expect(run.stderr.trim()).to.match(message);
      });
    }
  });

  it('a resume must validate on the same data', async () => {
    const out = join(tmp, 'other-split');
    await cli([...PARTIAL, '--out', out], tmp, { ONNX_FINETUNE_FAULT: 'after-step:20' });
    const other = await cli([...PARTIAL.map((a) => (a === '0.2' ? '0.3' : a)), '--resume', out], tmp);
    expect(other.code).to.equal(1);
    expect(other.stderr.trim()).to.match(/is from a run with other training data; resume with the command and options that started it$/);
    const file = await cli([...PARTIAL.slice(0, -3), '--json', '--val', TEST, '--resume', out], tmp);
    expect(file.code).to.equal(1);
    expect(file.stderr.trim()).to.match(/is from a run with other (training data|settings)/);
  });

  it('--val FILE: the last epoch\'s validation on the test file is the test evaluation', async () => {
    const out = join(tmp, 'val-file');
    const run = await cli(['full-finetune', ...files, '--epochs', '3', '--val', TEST, '--out', out], tmp);
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout).to.match(/validation: .*test\.csv \(300 rows\), after every epoch/);
    expect(run.stdout).to.match(/full_fine_tune validation:\n {4}epoch {3}1 \(all\) {2}loss \d\.\d{4} {2}accuracy \d\.\d{4} {2}macro-F1 \d\.\d{4} {2}ROC-AUC \d\.\d{4}\n/);
    expect(run.stdout).to.match(/full_fine_tune test: accuracy \d\.\d{4} {2}macro-F1 \d\.\d{4} {2}ROC-AUC \d\.\d{4}/);
    const r = readJson(join(out, 'full_fine_tune.json'));
    expect(r.validation).to.have.length(3);
    const { epoch: _e, stage: _s, loss, ...metrics } = r.validation[2];
    expect(loss).to.equal(r.test_loss);
    expect(metrics).to.deep.equal(r.test_metrics);
  });

  it('--loss mse: the split is not stratified, and the metrics are MAE, RMSE and R²', async () => {
    const out = join(tmp, 'mse');
    const run = await cli(['full-finetune', ...files, '--epochs', '2', '--loss', 'mse', '--val-split', '0.1', '--out', out], tmp);
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout).to.match(/\(0\.1 of the training data, seed 17; 810 train\)/);
    expect(run.stdout).to.match(/full_fine_tune test: MAE \d\.\d{4} {2}RMSE \d\.\d{4} {2}R² -?\d\.\d{4}/);
    const r = readJson(join(out, 'full_fine_tune.json'));
    expect(r.task).to.equal('regression');
    expect(r.validation[1]).to.have.keys(['epoch', 'stage', 'loss', 'mae', 'rmse', 'r2']);
    // mse's loss is the mean squared error: RMSE is its square root (up to float32 sums)
    expect(r.validation[1].rmse).to.be.closeTo(Math.sqrt(r.validation[1].loss), 1e-5);
    expect(readDataMetadata(loadModel(join(out, 'full_fine_tune.onnx'))).task).to.equal('regression');
  });

  it('several classes: per-class metrics and a confusion matrix as wide as the head', async () => {
    const rows = readFileSync(TRAIN, 'utf8').trim().split(/\r?\n/);
    // three classes from the first feature's sign and size
    const three = [rows[0], ...rows.slice(1).map((line) => {
      const cells = line.split(',');
      const x0 = Number(cells[0]);
      cells[cells.length - 1] = String(x0 < -0.5 ? 0 : x0 < 0.5 ? 1 : 2);
      return cells.join(',');
    })].join('\n');
    const file = join(tmp, 'three.csv');
    writeFileSync(file, three + '\n');
    const out = join(tmp, 'three');
    const run = await cli(['linear-probe', '--backbone', join(process.cwd(), 'models', 'seed-backbone.onnx'), '--classes', '3', '--train', file, '--test', file, '--epochs', '2', '--val-split', '0.25', '--json', '--out', out], tmp);
    expect(run.code, run.stderr).to.equal(0);
    const r = readJson(join(out, 'linear_probe.json'));
    expect(r.task).to.equal('multiclass');
    expect(r.validation[0].confusion_matrix).to.have.length(3);
    expect(r.validation[0].per_class.map((c: { class: number }) => c.class)).to.deep.equal([0, 1, 2]);
    expect(r.validation[0]).to.not.have.property('roc_auc');
    expect(r.test_metrics.per_class.reduce((n: number, c: { support: number }) => n + c.support, 0)).to.equal(900);
  });

  describe('bad input: one line, exit 1', () => {
    const lopsided = join(tmp, 'lopsided.csv');
    before(() => {
      const rows = readFileSync(TRAIN, 'utf8').trim().split(/\r?\n/);
      const zeros = rows.slice(1).filter((l) => l.endsWith(',0')).slice(0, 4);
      const one = rows.slice(1).find((l) => l.endsWith(',1'))!;
      writeFileSync(lopsided, [rows[0], ...zeros, one].join('\n') + '\n');
    });
    for (const [label, args, message] of [
      ['--val-split 1.5', ['--val-split', '1.5'], /^onnx-finetune: --val-split must be a fraction between 0 and 1 \(exclusive\), got 1\.5$/],
      ['--val-split 0', ['--val-split', '0'], /^onnx-finetune: --val-split must be a fraction between 0 and 1 \(exclusive\), got 0$/],
      ['--val-split abc', ['--val-split', 'abc'], /^onnx-finetune: --val-split: 'abc' is not a number$/],
      ['--val with --val-split', ['--val', 'v.csv', '--val-split', '0.1'], /^onnx-finetune: --val FILE and --val-split take the validation data from two places: give one of them$/],
      ['--val missing', ['--val', 'missing.csv'], /^onnx-finetune: .*missing\.csv/],
    ] as const) {
      it(label, async () => {
        const run = await cli(['linear-probe', ...files, ...args, '--out', join(tmp, 'never')], tmp);
        expect(run.code).to.equal(1);
        expect(run.stderr.trim().split('\n')).to.have.length(1);
        expect(run.stderr.trim()).to.match(message);
      });
    }

    it('a split that leaves a class no training example', async () => {
      const run = await cli(['linear-probe', '--model', fixturePath('torch-seed', 'model.onnx'), '--train', lopsided, '--test', TEST, '--val-split', '0.5', '--out', join(tmp, 'never')], tmp);
      expect(run.code).to.equal(1);
      expect(run.stderr.trim()).to.match(/^onnx-finetune: --val-split 0\.5: every example of class 1 in .*lopsided\.csv \(1, the first at line 6\) would go to validation, none left for training; use a smaller split or --val FILE$/);
    });

    it('a validation file whose labels do not fit the head', async () => {
      const bad = join(tmp, 'bad-labels.csv');
      writeFileSync(bad, readFileSync(TEST, 'utf8').replace(/,1(\r?\n)/, ',2$1'));
      const run = await cli(['linear-probe', ...files, '--val', bad, '--out', join(tmp, 'never')], tmp);
      expect(run.code).to.equal(1);
      expect(run.stderr.trim()).to.match(/^onnx-finetune: .*bad-labels\.csv: line \d+: label 2 is not 0 or 1 \(the model has one logit\)$/);
    });
  });
});
