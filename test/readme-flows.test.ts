// The flows the README promises, end to end through the command: fine-tune on a folder of photos and on a CSV
// of sentences with a tokenizer file, watch validation per epoch, then run predict on new data (images straight
// in a folder, sentences without labels) with nothing but the exported model; and a CSV whose labels are class
// names beside an id column.
import { expect } from 'chai';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli } from './util/cli.js';
import { fixturePath } from './util/fixtures.js';
import { imageCnn, writeImageFolder } from './util/image-folders.js';
import { sentences, sentencesCsv, wordPieceTokenizer } from './util/tokenizers.js';
import { loadModel, saveModel } from '../src/onnx/io.js';
import { readDataMetadata } from '../src/export/data-metadata.js';

const csvRows = (text: string) => text.trim().split('\n').map((line) => line.split(','));

describe('the README flows (command)', function () {
  this.timeout(180_000);
  const tmp = mkdtempSync(join(tmpdir(), 'onnx-finetune-flows-'));

  it('photos: a folder of class folders trains with validation per epoch; predict names the class of new photos', async () => {
    saveModel(join(tmp, 'cnn.onnx'), imageCnn(3));
    const train = await writeImageFolder(join(tmp, 'photos-train'), 20, 1);
    const test = await writeImageFolder(join(tmp, 'photos-test'), 8, 2);
    const run = await cli(['linear-probe', '--model', 'cnn.onnx', '--train', train, '--test', test, '--val-split', '0.2', '--epochs', '20', '--lr', '0.05', '--out', 'photos'], tmp);
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout).to.match(/validation/);
    const report = JSON.parse(readFileSync(join(tmp, 'photos', 'linear_probe.json'), 'utf8'));
    expect(report.classes).to.deep.equal(['blue', 'green', 'red']);
    expect(report.validation).to.have.length(20);
    expect(report.accuracy).to.be.above(0.8);
    // New photos, straight in a folder: no classes, no labels.
    const fresh = join(tmp, 'new-photos');
    mkdirSync(fresh);
    for (const name of ['red', 'blue']) copyFileSync(join(test, name, readdirSync(join(test, name))[0]), join(fresh, `${name}.png`));
    const predicted = await cli(['predict', '--model', join('photos', 'linear_probe.onnx'), '--data', fresh], tmp);
    expect(predicted.code, predicted.stderr).to.equal(0);
    const [header, ...rows] = csvRows(predicted.stdout);
    expect(header).to.deep.equal(['index', 'predicted', 'p_blue', 'p_green', 'p_red']);
    expect(rows.map((r) => r[1])).to.deep.equal(['blue', 'red']); // sorted file names: blue.png, red.png
    // The labelled test folder: the metrics equal the training run's on it.
    const scored = await cli(['predict', '--model', join('photos', 'linear_probe.onnx'), '--data', test, '--label', 'class', '--out', 'scored.csv', '--json'], tmp);
    expect(scored.code, scored.stderr).to.equal(0);
    expect(JSON.parse(scored.stdout).metrics.accuracy).to.equal(report.accuracy);
  });

  it('sentences: a CSV of text with a tokenizer.json trains; predict reads new text with the model alone', async () => {
    writeFileSync(join(tmp, 'tokenizer.json'), JSON.stringify(wordPieceTokenizer()));
    writeFileSync(join(tmp, 'reviews-train.csv'), sentencesCsv(sentences(96, 1)));
    writeFileSync(join(tmp, 'reviews-test.csv'), sentencesCsv(sentences(48, 2)));
    const run = await cli(['full-finetune', '--model', fixturePath('torch-arch/bert', 'model.onnx'), '--tokenizer', 'tokenizer.json', '--train', 'reviews-train.csv', '--test', 'reviews-test.csv',
      '--val', 'reviews-test.csv', '--epochs', '5', '--json', '--out', 'reviews'], tmp);
    expect(run.code, run.stderr).to.equal(0);
    const report = JSON.parse(readFileSync(join(tmp, 'reviews', 'full_fine_tune.json'), 'utf8'));
    expect(report.validation).to.have.length(5);
    const fresh = sentences(5, 3);
    writeFileSync(join(tmp, 'new.csv'), `text\n${fresh.map((s) => s.text).join('\n')}\n`);
    const predicted = await cli(['predict', '--model', join('reviews', 'full_fine_tune.onnx'), '--data', 'new.csv'], tmp);
    expect(predicted.code, predicted.stderr).to.equal(0);
    expect(csvRows(predicted.stdout)).to.have.length(6);
    const scored = await cli(['predict', '--model', join('reviews', 'full_fine_tune.onnx'), '--data', 'reviews-test.csv', '--label', 'label', '--out', 'scored-text.csv', '--json'], tmp);
    expect(scored.code, scored.stderr).to.equal(0);
    expect(JSON.parse(scored.stdout).metrics.accuracy).to.equal(report.accuracy);
  });

  it('class names as labels and an id column: --ignore id; the names number the classes, in the report, the model and predict', async () => {
    const named = (file: string) => {
      const [header, ...rows] = readFileSync(fixturePath('torch-seed', file), 'utf8').trim().split(/\r?\n/);
      const y = header.split(',').indexOf('y');
      return [`id,${header}`, ...rows.map((row, i) => {
        const cells = row.split(',');
        cells[y] = cells[y] === '1' ? 'pos' : 'neg';
        return `${1000 + i},${cells.join(',')}`;
      })].join('\n') + '\n';
    };
    writeFileSync(join(tmp, 'named-train.csv'), named('train.csv'));
    writeFileSync(join(tmp, 'named-test.csv'), named('test.csv'));
    const args = ['linear-probe', '--model', fixturePath('torch-seed', 'model.onnx'), '--train', 'named-train.csv', '--test', 'named-test.csv', '--epochs', '3', '--json'];
    const refused = await cli([...args, '--out', 'no-ignore'], tmp);
    expect(refused.code).to.equal(1);
    expect(refused.stderr).to.match(/named-train\.csv: 11 feature columns, but the model's input takes 10 values per example \(shape \[10\]\); leave out columns that are not features, such as an id, with --ignore COLS or --features COLS\n$/);
    const run = await cli([...args, '--ignore', 'id', '--out', 'named'], tmp);
    expect(run.code, run.stderr).to.equal(0);
    // The same run on numeric labels gives the same weights: 'neg' < 'pos' numbers them 0 and 1.
    const numeric = await cli(['linear-probe', '--model', fixturePath('torch-seed', 'model.onnx'), '--train', fixturePath('torch-seed', 'train.csv'), '--test', fixturePath('torch-seed', 'test.csv'),
      '--epochs', '3', '--json', '--out', 'numeric'], tmp);
    expect(JSON.parse(run.stdout).epoch_losses).to.deep.equal(JSON.parse(numeric.stdout).epoch_losses);
    const report = JSON.parse(readFileSync(join(tmp, 'named', 'linear_probe.json'), 'utf8'));
    expect(report.classes).to.deep.equal(['neg', 'pos']);
    expect(readDataMetadata(loadModel(join(tmp, 'named', 'linear_probe.onnx'))).classNames).to.deep.equal(['neg', 'pos']);
    const scored = await cli(['predict', '--model', join('named', 'linear_probe.onnx'), '--data', 'named-test.csv', '--ignore', 'id', '--label', 'y', '--out', 'named.csv', '--json'], tmp);
    expect(scored.code, scored.stderr).to.equal(0);
    expect(JSON.parse(scored.stdout).metrics.accuracy).to.equal(report.accuracy);
    // A class the training data never named is refused, naming the line.
    writeFileSync(join(tmp, 'odd-test.csv'), named('test.csv').replace(/,neg\n/, ',maybe\n'));
    const odd = await cli([...args, '--ignore', 'id', '--test', 'odd-test.csv', '--out', 'odd'], tmp);
    expect(odd.code).to.equal(1);
    expect(odd.stderr).to.match(/odd-test\.csv: line \d+: class 'maybe' is not among the training data's classes \(neg, pos\)\n$/);
  });
});
