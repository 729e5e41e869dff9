// Training-mode Dropout: the mask comes from the run's seeded generator, so runs repeat and resume exactly;
// evaluation and the exported model run it as the identity.
import { expect } from 'chai';
import { makeNode, makeTensor, DataType } from '../src/onnx/builder.js';
import type { ModelProto } from '../src/onnx/proto.js';
import { buildArtifacts } from '../src/artifacts/build.js';
import { train, DEFAULT_TRAIN_CONFIG, type RunSnapshot, type TrainConfig } from '../src/train/trainer.js';
import { partialUnfreeze } from '../src/train/strategies.js';
import { LOSSES } from '../src/losses/index.js';
import { createSession, ort } from '../src/runtime/session.js';
import { encodeModel } from '../src/onnx/io.js';
import { loadFixture } from './util/fixtures.js';
import { singleInput } from '../src/data/dataset.js';

const seed = loadFixture('torch-seed');

/** The seed MLP with Dropout(0.3) in training mode after its first ReLU, as torch exports it in train(). */
function withDropout(): ModelProto {
  const fixture = loadFixture('torch-seed').model;
  const relu = '/backbone/backbone.1/Relu_output_0';
  const nodes = fixture.graph.node;
  const at = nodes.findIndex((n) => n.output[0] === relu) + 1;
  for (const n of nodes.slice(at)) n.input = n.input.map((i) => (i === relu ? 'dropped' : i));
  fixture.graph.node = [...nodes.slice(0, at), makeNode('Dropout', [relu, 'ratio', 'training_mode'], ['dropped', 'dropout_mask'], { seed: 1 }, '/backbone/drop/Dropout'), ...nodes.slice(at)];
  fixture.graph.initializer = [...fixture.graph.initializer, makeTensor('ratio', DataType.FLOAT, [], [0.3]), makeTensor('training_mode', DataType.BOOL, [], [1])];
  return fixture;
}

const model = withDropout();
const plan = partialUnfreeze({ headLr: 0.01, headEpochs: 1, unfreeze: 'backbone.*', backboneLr: 0.003, epochs: 2 });
const config: TrainConfig = { ...DEFAULT_TRAIN_CONFIG, loss: LOSSES.bce };
const data = { train: seed.train, test: seed.test };
const bytes = (m: ReadonlyMap<string, Float32Array>) => Buffer.concat([...m.values()].map((v) => Buffer.from(v.buffer)));

describe('Dropout in training mode', () => {
  it('becomes X · mask in the train graph, the identity in the eval graph and in the export', async () => {
    const a = buildArtifacts(model, ['backbone.2.weight', 'backbone.2.bias', 'head.weight', 'head.bias'], LOSSES.bce);
    expect(a.train.graph.node.map((n) => n.opType)).to.not.include('Dropout');
    expect(a.masks).to.deep.equal([{ input: '/backbone/drop/Dropout/mask', ratio: Math.fround(0.3), shape: ['batch', 32] }]);
    expect(a.train.graph.input.map((i) => i.name)).to.include('/backbone/drop/Dropout/mask');
    expect(a.prefix!.graph.output[0].name).to.equal('/backbone/backbone.1/Relu_output_0'); // the mask is not frozen
    expect(a.eval.graph.node.find((n) => n.name === '/backbone/drop/Dropout')!.opType).to.equal('Identity');
    const result = await train(model, plan, data, config);
    const exported = await createSession(encodeModel(result.model));
    const x = new ort.Tensor('float32', (singleInput(seed.test).values as Float32Array).slice(0, 50), [5, 10]);
    const logits = async () => Array.from((await exported.run({ x })).logits.data as Float32Array);
    expect(await logits()).to.deep.equal(await logits());
  });

  it('draws the same masks for the same seed, other masks for another seed', async () => {
    const first = await train(model, plan, data, config);
    const again = await train(model, plan, data, config);
    const other = await train(model, plan, data, { ...config, seed: 18 });
    expect(bytes(again.parameters).equals(bytes(first.parameters))).to.equal(true);
    expect(bytes(other.parameters).equals(bytes(first.parameters))).to.equal(false);
  });

  it('resumes exactly from a snapshot, masks included', async () => {
    const snapshots: RunSnapshot[] = [];
    const whole = await train(model, plan, data, { ...config, snapshotEvery: 1, onSnapshot: (s) => snapshots.push(s) });
    for (const at of [9, 20, 33]) {
      const resumed = await train(model, plan, data, { ...config, resume: snapshots[at - 1] });
      expect(bytes(resumed.parameters).equals(bytes(whole.parameters)), `after step ${at}`).to.equal(true);
    }
  });
});
