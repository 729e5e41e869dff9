// The command on a model with two int64 inputs (input_ids, attention_mask), trained from JSONL files.
import { expect } from 'chai';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel, saveModel } from '../src/onnx/io.js';
import { createSession, ort } from '../src/runtime/session.js';
import { countCorrect } from '../src/train/evaluate.js';
import { readJsonlDataset } from '../src/data/jsonl.js';
import { cli } from './util/cli.js';
import { textJsonl, textModel } from './util/multi-input-models.js';

describe('onnx-finetune on a model with two int64 inputs, from JSONL', function () {
  this.timeout(60_000);
  let tmp: string, model: string, trainFile: string, testFile: string;
  before(() => {
    tmp = mkdtempSync(join(tmpdir(), 'onnx-finetune-jsonl-cli-'));
    model = join(tmp, 'text.onnx');
    saveModel(model, textModel());
    trainFile = join(tmp, 'text-train.jsonl');
    testFile = join(tmp, 'text-test.jsonl');
    writeFileSync(trainFile, textJsonl(48, 6, 1));
    writeFileSync(testFile, textJsonl(24, 6, 2));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('partial-unfreeze trains, prints the accuracy and writes a model that scores it', async () => {
    const out = join(tmp, 'partial');
    const run = await cli(['partial-unfreeze', '--model', model, '--train', trainFile, '--test', testFile, '--head', 'head.*', '--unfreeze', 'layer.*',
      '--head-epochs', '2', '--epochs', '2', '--batch-size', '16', '--no-shuffle', '--out', out], tmp);
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout).to.match(/text-train\.jsonl \(48 rows\) for training, .*text-test\.jsonl \(24 rows\) for testing/);
    const accuracy = Number(/partial_unfreeze\s+([\d.]+)/.exec(run.stdout)![1]);
    expect(readdirSync(out).sort()).to.deep.equal(['metrics.csv', 'partial_unfreeze.json', 'partial_unfreeze.onnx', 'partial_unfreeze.safetensors', 'report.html', 'run.json']);
    expect(JSON.parse(readFileSync(join(out, 'partial_unfreeze.json'), 'utf8')).accuracy).to.be.closeTo(accuracy, 1e-4);
    // The exported model takes the same two int64 inputs and scores the reported accuracy on the test file.
    const exported = loadModel(join(out, 'partial_unfreeze.onnx'));
    expect(exported.graph.input.map((i) => i.name)).to.deep.equal(['input_ids', 'attention_mask']);
    const test = readJsonlDataset(testFile, { inputs: [{ name: 'input_ids', type: 'int64', shape: [6] }, { name: 'attention_mask', type: 'int64', shape: [6] }] });
    const session = await createSession(exported);
    const feeds = Object.fromEntries(Object.entries(test.inputs).map(([name, i]) => [name, new ort.Tensor('int64', i.values as BigInt64Array, [test.count, 6])]));
    const logits = (await session.run(feeds)).logits;
    await session.release();
    expect(countCorrect(logits.data as Float32Array, 3, test.labels) / test.count).to.equal(JSON.parse(readFileSync(join(out, 'partial_unfreeze.json'), 'utf8')).accuracy);
  });

  it('linear-probe with --json', async () => {
    const run = await cli(['linear-probe', '--model', model, '--train', trainFile, '--test', testFile, '--head', 'head.*', '--epochs', '2', '--json', '--out', join(tmp, 'probe')], tmp);
    expect(run.code, run.stderr).to.equal(0);
    expect(JSON.parse(run.stdout).accuracy).to.be.within(0, 1);
  });

  it('a CSV file for the two-input model: one line suggesting JSONL, exit 1, nothing written', async () => {
    const csv = join(tmp, 'text.csv');
    writeFileSync(csv, 'a,b,y\n1,2,0\n');
    const run = await cli(['linear-probe', '--model', model, '--train', csv, '--test', testFile, '--head', 'head.*', '--out', join(tmp, 'never')], tmp);
    expect(run.code).to.equal(1);
    expect(run.stderr.trim().split('\n')).to.have.length(1);
    expect(run.stderr.trim()).to.equal(`onnx-finetune: ${csv}: a CSV file feeds one float input, but the model has 2 inputs (input_ids, attention_mask); give the data as JSONL (a .jsonl file, one JSON object per line with one key per input and the label)`);
    expect(() => readdirSync(join(tmp, 'never'))).to.throw();
  });

  it('a JSONL error names the file, line and key', async () => {
    const bad = join(tmp, 'bad.jsonl');
    writeFileSync(bad, '{"input_ids": [1, 2, 3, 4, 5, 6], "attention_mask": [1, 1, 1, 1, 1, 1], "y": 0}\n{"input_ids": [1, 2, 3, 4, 5, 6], "y": 1}\n');
    const run = await cli(['linear-probe', '--model', model, '--train', bad, '--test', testFile, '--head', 'head.*', '--out', join(tmp, 'never')], tmp);
    expect(run.code).to.equal(1);
    expect(run.stderr.trim()).to.equal(`onnx-finetune: ${bad}: line 2: no key 'attention_mask' (an input of the model)`);
  });
});
