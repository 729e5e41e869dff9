// A linear probe on the BERT fixture (int64 input_ids and attention_mask, from JSONL): the frozen encoder runs
// once per example, the train graph is the classifier alone, and the losses are PyTorch's. PyTorch's partial
// unfreeze starts with the same stage (the classifier at 1e-2 for 2 epochs, batches of 16 in file order).
// Skipped where test/fixtures/torch-arch is not there yet (it comes from the fixtures branch).
import { expect } from 'chai';
import { existsSync, readFileSync } from 'node:fs';
import { buildArtifacts } from '../src/artifacts/build.js';
import { readDataset } from '../src/data/read.js';
import { LOSSES } from '../src/losses/index.js';
import { describeModel } from '../src/model/describe.js';
import { loadModel } from '../src/onnx/io.js';
import { linearProbe } from '../src/train/strategies.js';
import { DEFAULT_TRAIN_CONFIG, train } from '../src/train/trainer.js';
import { fixturePath, type Expected } from './util/fixtures.js';

describe('a linear probe on the BERT fixture', function () {
  this.timeout(60_000);
  const present = existsSync(fixturePath('torch-arch/bert', 'model.onnx'));

  it('trains the classifier on the pooled features computed once, with PyTorch\'s losses', async function () {
    if (!present) this.skip();
    const model = loadModel(fixturePath('torch-arch/bert', 'model.onnx'));
    const expected = JSON.parse(readFileSync(fixturePath('torch-arch/bert', 'expected.json'), 'utf8')) as Expected;
    const inputs = describeModel(model).inputs;
    expect(inputs.map((i) => i.name)).to.deep.equal(['input_ids', 'attention_mask']);
    const data = { train: readDataset(fixturePath('torch-arch', 'text-train.jsonl'), inputs), test: readDataset(fixturePath('torch-arch', 'text-test.jsonl'), inputs) };
    const artifacts = buildArtifacts(model, ['classifier.weight', 'classifier.bias'], LOSSES.ce);
    expect(artifacts.inputs).to.have.length(1);
    expect(artifacts.eval.graph.node.filter((n) => !n.name.startsWith('loss/')).map((n) => n.opType)).to.deep.equal(['Gemm']);
    const result = await train(model, linearProbe({ lr: 0.01, epochs: 2, head: 'classifier.*' }), data, { ...DEFAULT_TRAIN_CONFIG, loss: LOSSES.ce, batchSize: 16, shuffle: false });
    const pytorch = expected.results.partial_unfreeze.epoch_losses.slice(0, 2);
    result.epochLosses.forEach((l, i) => expect(l, `epoch ${i + 1}`).to.be.closeTo(pytorch[i], 1e-5 * pytorch[i]));
  });
});
