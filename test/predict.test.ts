// onnx-finetune predict, as a user runs it on a model the command trained: one CSV row per example with the
// predicted class and probabilities (or the value), the training's test metrics again with --label, class
// names from the model's metadata, data without labels, any ONNX model, and bad input as one line.
import { expect } from 'chai';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel, saveModel } from '../src/onnx/io.js';
import { withDataMetadata } from '../src/export/data-metadata.js';
import { readCsvDataset } from '../src/data/csv.js';
import { createSession, ort } from '../src/runtime/session.js';
import { float32Text, predictionsCsv } from '../src/cli/predict.js';
import { cli } from './util/cli.js';
import { fixturePath } from './util/fixtures.js';

const TRAIN = fixturePath('torch-seed', 'train.csv'), TEST = fixturePath('torch-seed', 'test.csv'), SOURCE = fixturePath('torch-seed', 'model.onnx');
const files = ['--model', SOURCE, '--train', TRAIN, '--test', TEST];
const lines = (text: string) => text.trim().split(/\r?\n/);

describe('predict (command)', function () {
  this.timeout(120_000);
  const tmp = mkdtempSync(join(tmpdir(), 'onnx-finetune-predict-'));
  const trained = join(tmp, 'run', 'full_fine_tune.onnx');
  let report: { accuracy: number; test_metrics: object };
  before(async () => {
    const run = await cli(['full-finetune', ...files, '--epochs', '3', '--out', join(tmp, 'run')], tmp);
    expect(run.code, run.stderr).to.equal(0);
    report = JSON.parse(readFileSync(join(tmp, 'run', 'full_fine_tune.json'), 'utf8'));
  });

  it('writes one row per example: index, predicted class, probabilities; --label gives the training\'s test metrics', async () => {
    const out = join(tmp, 'preds.csv');
    const run = await cli(['predict', '--model', trained, '--data', TEST, '--label', 'y', '--out', out, '--json'], tmp);
    expect(run.code, run.stderr).to.equal(0);
    const summary = JSON.parse(run.stdout);
    expect(summary).to.deep.include({ count: 300, task: 'binary', out });
    expect(summary.metrics).to.deep.equal(report.test_metrics);
    const rows = lines(readFileSync(out, 'utf8'));
    expect(rows[0]).to.equal('index,predicted,p_0,p_1');
    expect(rows).to.have.length(301);
    // the model's own logits, through ONNX Runtime here: sigmoid, and the class above one half
    const data = readCsvDataset(TEST);
    const session = await createSession(loadModel(trained));
    const logits = (await session.run({ x: new ort.Tensor('float32', data.inputs.x.values as Float32Array, [300, 10]) })).logits.data as Float32Array;
    await session.release();
    rows.slice(1).forEach((row, i) => {
      const [index, predicted, p0, p1] = row.split(',');
      const p = 1 / (1 + Math.exp(-logits[i]));
      expect(Number(index)).to.equal(i);
      // the fewest digits that read back to the float32 value
      expect(Math.fround(Number(p1))).to.equal(Math.fround(p));
      expect(Math.fround(Number(p0))).to.equal(Math.fround(1 - p));
      expect(Number(predicted)).to.equal(Math.fround(p) > 0.5 ? 1 : 0);
    });
    const correct = rows.slice(1).filter((row, i) => Number(row.split(',')[1]) === data.labels[i]).length;
    expect(correct / 300).to.equal(report.accuracy);
  });

  it('without --out: the predictions on stdout, the metrics on stderr; data without a label column reads the same', async () => {
    const withLabels = await cli(['predict', '--model', trained, '--data', TEST, '--label', 'y'], tmp);
    expect(withLabels.code, withLabels.stderr).to.equal(0);
    expect(withLabels.stderr).to.match(/test\.csv: accuracy \d\.\d{4} {2}macro-F1 \d\.\d{4} {2}ROC-AUC \d\.\d{4}\nconfusion matrix \(rows: true class, columns: predicted\):\n/);
    const unlabelled = join(tmp, 'unlabelled.csv');
    writeFileSync(unlabelled, lines(readFileSync(TEST, 'utf8')).map((l) => l.split(',').slice(0, -1).join(',')).join('\n') + '\n');
    const plain = await cli(['predict', '--model', trained, '--data', unlabelled], tmp);
    expect(plain.code, plain.stderr).to.equal(0);
    expect(plain.stderr).to.equal('');
    expect(plain.stdout).to.equal(withLabels.stdout);
    // the labelled file without --label: its y column is left out, not read as a feature
    const ignored = await cli(['predict', '--model', trained, '--data', TEST], tmp);
    expect(ignored.stdout).to.equal(withLabels.stdout);
  });

  it('JSONL without the label key', async () => {
    const data = readCsvDataset(TEST);
    const values = data.inputs.x.values as Float32Array;
    const jsonl = join(tmp, 'new.jsonl');
    writeFileSync(jsonl, Array.from({ length: 5 }, (_, i) => JSON.stringify({ x: Array.from(values.subarray(i * 10, i * 10 + 10)) })).join('\n') + '\n');
    const run = await cli(['predict', '--model', trained, '--data', jsonl], tmp);
    expect(run.code, run.stderr).to.equal(0);
    const csv = await cli(['predict', '--model', trained, '--data', TEST], tmp);
    expect(lines(run.stdout)).to.deep.equal(lines(csv.stdout).slice(0, 6));
  });

  it('class names from the model\'s metadata name the predicted class, the probability columns and the per-class metrics', async () => {
    const named = join(tmp, 'named.onnx');
    saveModel(named, withDataMetadata(loadModel(trained), { classNames: ['negative', 'positive, really'] }, 'binary'));
    const out = join(tmp, 'named.csv');
    const run = await cli(['predict', '--model', named, '--data', TEST, '--label', 'y', '--out', out, '--json'], tmp);
    expect(run.code, run.stderr).to.equal(0);
    const rows = lines(readFileSync(out, 'utf8'));
    expect(rows[0]).to.equal('index,predicted,p_negative,"p_positive, really"');
    expect(rows[1]).to.match(/^0,(negative|"positive, really"),/);
    const { metrics } = JSON.parse(run.stdout);
    expect(Object.keys(metrics.per_class_by_name)).to.deep.equal(['negative', 'positive, really']);
    expect(metrics.per_class[1].name).to.equal('positive, really');
  });

  it('a regression model (--loss mse) writes the value, and MAE, RMSE and R² with --label', async () => {
    const run = await cli(['full-finetune', ...files, '--epochs', '2', '--loss', 'mse', '--out', join(tmp, 'mse')], tmp);
    expect(run.code, run.stderr).to.equal(0);
    const out = join(tmp, 'values.csv');
    const predicted = await cli(['predict', '--model', join(tmp, 'mse', 'full_fine_tune.onnx'), '--data', TEST, '--label', 'y', '--out', out], tmp);
    expect(predicted.code, predicted.stderr).to.equal(0);
    expect(predicted.stdout).to.match(/^wrote 300 predictions \(regression\) to .*values\.csv\n.*test\.csv: MAE \d\.\d{4} {2}RMSE \d\.\d{4} {2}R² -?\d\.\d{4}\n$/);
    const rows = lines(readFileSync(out, 'utf8'));
    expect(rows[0]).to.equal('index,value');
    expect(rows[1]).to.match(/^0,-?\d/);
    const trainedMetrics = JSON.parse(readFileSync(join(tmp, 'mse', 'full_fine_tune.json'), 'utf8')).test_metrics;
    expect(predicted.stdout).to.include(`MAE ${trainedMetrics.mae.toFixed(4)}`);
  });

  it('any ONNX model whose inputs the data fits: without onnx-finetune metadata, class indices', async () => {
    const run = await cli(['predict', '--model', SOURCE, '--data', TEST], tmp);
    expect(run.code, run.stderr).to.equal(0);
    expect(lines(run.stdout)[0]).to.equal('index,predicted,p_0,p_1');
    expect(lines(run.stdout)).to.have.length(301);
  });

  it('several classes: softmax probabilities that sum to one, the argmax predicted', () => {
    const csv = predictionsCsv('multiclass', new Float32Array([0, Math.log(3), 0, 2, 1, 0]), 2, 3, ['a', 'b', 'c']);
    const [header, first, second] = lines(csv);
    expect(header).to.equal('index,predicted,p_a,p_b,p_c');
    expect(first).to.equal('0,b,0.2,0.6,0.2');
    const p = second.split(',').slice(2).map(Number);
    expect(second.split(',')[1]).to.equal('a');
    expect(p.reduce((a, b) => a + b, 0)).to.be.closeTo(1, 1e-6);
    expect([float32Text(Math.fround(0.1)), float32Text(1), float32Text(Math.fround(1 / 3))]).to.deep.equal(['0.1', '1', '0.33333334']);
  });

  describe('bad input: one line, exit 1', () => {
    const wide = join(tmp, 'wide.csv');
    const badLabel = join(tmp, 'bad-label.csv');
    const existing = join(tmp, 'existing.csv');
    before(() => {
      writeFileSync(wide, 'a,b,c\n1,2,3\n');
      writeFileSync(badLabel, readFileSync(TEST, 'utf8').replace(/,1(\r?\n)/, ',7$1'));
      writeFileSync(existing, 'keep me\n');
      mkdirSync(join(tmp, 'folder'), { recursive: true });
    });
    for (const [label, args, message] of [
      ['no --data', ['--model', 'm.onnx'], /^onnx-finetune: predict needs --model \(a trained \.onnx\) and --data \(the examples\); missing --data$/],
      ['no --model', ['--data', 'd.csv'], /^onnx-finetune: predict needs .*; missing --model$/],
      ['a training option', ['--model', 'm.onnx', '--data', 'd.csv', '--train', 't.csv'], /^onnx-finetune: predict takes --model and --data; --train is for the training commands$/],
      ['data that does not fit the model', ['--model', '@trained', '--data', '@wide'], /^onnx-finetune: .*wide\.csv: 3 feature columns, but the model's input takes 10 values per example \(shape \[10\]\)$/],
      ['a label that is no class', ['--model', '@trained', '--data', '@badLabel', '--label', 'y'], /^onnx-finetune: .*bad-label\.csv: line \d+: label 7 is not 0 or 1 \(the model has one logit\)$/],
      ['a missing label column', ['--model', '@trained', '--data', '@wide', '--label', 'y'], /^onnx-finetune: .*wide\.csv: no label column 'y' \(columns: 'a', 'b', 'c'\)$/],
      ['--out that exists', ['--model', '@trained', '--data', TEST, '--out', '@existing'], /^onnx-finetune: --out .*existing\.csv: exists; replace it with --overwrite$/],
      ['--out a folder', ['--model', '@trained', '--data', TEST, '--out', '@folder'], /^onnx-finetune: --out .*folder: is a folder; predict writes one CSV file$/],
      ['--json without --out', ['--model', '@trained', '--data', TEST, '--json'], /^onnx-finetune: --json prints the metrics as one JSON object on stdout; give --out FILE for the predictions$/],
      ['not a model', ['--model', TEST, '--data', TEST], /^onnx-finetune: .*test\.csv: not (a valid|an) ONNX model/],
    ] as const) {
      it(label, async () => {
        const paths: Record<string, string> = { '@trained': trained, '@wide': wide, '@badLabel': badLabel, '@existing': existing, '@folder': join(tmp, 'folder') };
        const run = await cli(['predict', ...args.map((a) => paths[a] ?? a)], tmp);
        expect(run.code, run.stderr).to.equal(1);
        expect(run.stderr.trim().split('\n')).to.have.length(1);
        expect(run.stderr.trim()).to.match(message);
      });
    }

    it('--overwrite replaces an existing --out', async () => {
      const run = await cli(['predict', '--model', trained, '--data', TEST, '--out', existing, '--overwrite'], tmp);
      expect(run.code, run.stderr).to.equal(0);
      expect(lines(readFileSync(existing, 'utf8'))).to.have.length(301);
      expect(existsSync(existing)).to.equal(true);
    });
  });
});
