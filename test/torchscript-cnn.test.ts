// The same digits CNN as PyTorch's older, TorchScript-based exporter writes it: opset 17, IR 8, node and
// tensor names like /backbone/backbone.0/Conv_output_0, shapes from Constant nodes, Flatten instead of
// Reshape. Built here from the torch.export fixture's weights, it must train exactly as PyTorch did.
import { expect } from 'chai';
import { makeGraph, makeModel, makeNode, makeTensor, makeValueInfo, DataType } from '../src/onnx/builder.js';
import type { ModelProto } from '../src/onnx/proto.js';
import { train, DEFAULT_TRAIN_CONFIG, initialParameters, type TrainConfig } from '../src/train/trainer.js';
import type { Plan } from '../src/train/strategies.js';
import { LOSSES } from '../src/losses/index.js';
import { buildArtifacts } from '../src/artifacts/build.js';
import { fixturePlans, loadFixture, maxParameterDifference, maxRelativeDifference } from './util/fixtures.js';

const digits = loadFixture('torch-digits-cnn');

function torchScriptStyle(): ModelProto {
  const w = initialParameters(digits.model);
  const init = [...w].map(([name, values]) => makeTensor(name, DataType.FLOAT, digits.model.graph.initializer.find((t) => t.name === name)!.dims.map(Number), values));
  const conv = { dilations: [1, 1], group: 1, kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [1, 1] };
  const pool = { ceil_mode: 0, kernel_shape: [2, 2], pads: [0, 0, 0, 0], strides: [2, 2] };
  const gemm = { alpha: 1, beta: 1, transB: 1 };
  const n = (op: string, scope: string, inputs: string[], attrs = {}) => makeNode(op, inputs, [`/${scope}/${op}_output_0`], attrs, `/${scope}/${op}`);
  const nodes = [
    n('Conv', 'backbone/backbone.0', ['x', 'backbone.0.weight', 'backbone.0.bias'], conv),
    n('Relu', 'backbone/backbone.1', ['/backbone/backbone.0/Conv_output_0']),
    n('MaxPool', 'backbone/backbone.2', ['/backbone/backbone.1/Relu_output_0'], pool),
    n('Conv', 'backbone/backbone.3', ['/backbone/backbone.2/MaxPool_output_0', 'backbone.3.weight', 'backbone.3.bias'], conv),
    n('Relu', 'backbone/backbone.4', ['/backbone/backbone.3/Conv_output_0']),
    n('MaxPool', 'backbone/backbone.5', ['/backbone/backbone.4/Relu_output_0'], pool),
    n('Flatten', 'backbone/backbone.6', ['/backbone/backbone.5/MaxPool_output_0'], { axis: 1 }),
    n('Gemm', 'backbone/backbone.7', ['/backbone/backbone.6/Flatten_output_0', 'backbone.7.weight', 'backbone.7.bias'], gemm),
    n('Relu', 'backbone/backbone.8', ['/backbone/backbone.7/Gemm_output_0']),
    makeNode('Gemm', ['/backbone/backbone.8/Relu_output_0', 'head.weight', 'head.bias'], ['logits'], gemm, '/head/Gemm'),
  ];
  const graph = makeGraph(nodes, 'torch_jit', [makeValueInfo('x', DataType.FLOAT, ['batch', 1, 8, 8])], [makeValueInfo('logits', DataType.FLOAT, ['batch', 5])], init);
  return makeModel(graph, { opset: 17, irVersion: 8, producerName: 'pytorch' });
}

describe('a CNN as the TorchScript-based exporter writes it', () => {
  const model = torchScriptStyle();
  const c = digits.expected.config;
  const config: TrainConfig = { ...DEFAULT_TRAIN_CONFIG, loss: LOSSES.ce, shuffle: false, batchSize: c.batch };
  const plans: Record<string, Plan> = fixturePlans(c);
  for (const key of Object.keys(plans)) {
    it(`${key}: PyTorch's accuracy, losses and weights`, async () => {
      const result = await train(model, plans[key], { train: digits.train, test: digits.test }, config);
      const expected = digits.expected.results[key];
      expect(Math.fround(result.accuracy)).to.equal(expected.accuracy);
      expect(maxRelativeDifference(expected.epoch_losses, result.epochLosses)).to.be.below(1e-4);
      const diff = maxParameterDifference(expected.params, result.parameters);
      expect(diff.max, diff.name).to.be.below(1e-4);
      expect(Number(result.model.opsetImport[0].version)).to.equal(17);
    });
  }

  it('a linear probe on the frozen CNN runs no backbone work in its training step', () => {
    for (const source of [model, digits.model]) {
      const a = buildArtifacts(source, ['head.weight', 'head.bias'], LOSSES.ce);
      expect(a.prefix!.graph.node.map((node) => node.opType)).to.include.members(['Conv', 'MaxPool']);
      const ops = a.train.graph.node.map((node) => node.opType);
      for (const op of ['Conv', 'ConvTranspose', 'MaxPool', 'ScatterElements']) expect(ops).to.not.include(op);
    }
  });
});
