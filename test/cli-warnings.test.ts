// Warnings a user needs before a run wastes their time: a model that already outputs probabilities.
import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli } from './util/cli.js';
import { fixturePath } from './util/fixtures.js';
import { encodeModel, loadModel } from '../src/onnx/io.js';
import { makeNode, makeValueInfo, DataType } from '../src/onnx/builder.js';

describe('warnings (command)', function () {
  this.timeout(60_000);
  const tmp = mkdtempSync(join(tmpdir(), 'onnx-finetune-warn-'));
  const data = ['--train', fixturePath('torch-seed', 'train.csv'), '--test', fixturePath('torch-seed', 'test.csv')];

  it('a model that ends in Sigmoid: one warning naming the op and the fix; the run goes on', async () => {
    const model = loadModel(fixturePath('torch-seed', 'model.onnx'));
    const logits = model.graph.output[0].name;
    model.graph.node.push(makeNode('Sigmoid', [logits], ['probability'], {}, '/Sigmoid'));
    model.graph.output = [makeValueInfo('probability', DataType.FLOAT, ['batch', 1])];
    const path = join(tmp, 'sigmoid.onnx');
    writeFileSync(path, encodeModel(model));
    const run = await cli(['linear-probe', '--model', path, ...data, '--epochs', '1', '--json', '--out', join(tmp, 'out')], tmp);
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stderr).to.equal(`warning: ${path}: output 'probability' comes from a Sigmoid node ('/Sigmoid'), so the loss sees probabilities, not logits, and training stalls near chance; export the model without its final Sigmoid (return the logits, as PyTorch's BCEWithLogitsLoss and CrossEntropyLoss expect)\n`);
  });

  it('a model that outputs logits: no warning', async () => {
    const run = await cli(['linear-probe', '--model', fixturePath('torch-seed', 'model.onnx'), ...data, '--epochs', '1', '--json', '--out', join(tmp, 'plain')], tmp);
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stderr).to.equal('');
  });
});
