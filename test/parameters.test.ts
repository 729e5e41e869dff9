// Parameters as PyTorch has them: found by the slot they feed, untied where the exporter shared one tensor
// through Identity nodes, one where a tensor is genuinely used twice, and exporter-made names said out loud.
import { expect } from 'chai';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataType, makeGraph, makeModel, makeNode, makeTensor, makeValueInfo } from '../src/onnx/builder.js';
import type { ModelProto, TensorProto } from '../src/onnx/proto.js';
import { decodeModel, encodeModel, loadModel, saveModel } from '../src/onnx/io.js';
import { describeModel } from '../src/model/describe.js';
import { bufferNames, exporterNamesWarning } from '../src/model/parameter-roles.js';
import { DEFAULT_BACKBONE_PATH } from '../src/model/seed-backbone.js';
import { attachLinearHead } from '../src/model/attach-head.js';
import { Rng } from '../src/train/rng.js';
import { train, DEFAULT_TRAIN_CONFIG, initialParameters, type TrainConfig } from '../src/train/trainer.js';
import { fullFineTune } from '../src/train/strategies.js';
import { LOSSES } from '../src/losses/index.js';
import { tensorValues } from '../src/onnx/tensor.js';
import type { Dataset } from '../src/data/dataset.js';
import { loadFixture } from './util/fixtures.js';
import { cli } from './util/cli.js';
import { readSafetensors } from './util/safetensors.js';

const f32 = (name: string, dims: number[], values: number[] | ((i: number) => number)) => {
  const n = dims.reduce((a, b) => a * b, 1);
  return makeTensor(name, DataType.FLOAT, dims, typeof values === 'function' ? Array.from({ length: n }, (_, i) => values(i)) : values);
};
const graphModel = (nodes: ReturnType<typeof makeNode>[], init: TensorProto[], inputShape: number[] = [2], classes = 2) =>
  makeModel(makeGraph(nodes, 'g', [makeValueInfo('x', DataType.FLOAT, ['batch', ...inputShape])], [makeValueInfo('logits', DataType.FLOAT, ['batch', classes])], init));
/** What every model path does: the bytes decoded as a file is. */
const load = (model: ModelProto, name = 'model.onnx') => decodeModel(encodeModel(model), name);
const names = (model: ModelProto) => describeModel(model).parameters.map((p) => p.name);

/** Four examples of two features, two classes. */
const data: Dataset = { source: 'test', count: 4, featureShape: [2], features: Float32Array.from([1, -2, 0.5, 1, -1, 0.25, 2, 1.5]), labels: Float64Array.from([0, 1, 1, 0]) };
const sgd: TrainConfig = { ...DEFAULT_TRAIN_CONFIG, loss: LOSSES.ce, optimizer: 'sgd', shuffle: false, batchSize: 4 };
const gemm = { transB: 1 };

/** Two layers whose zero biases the exporter stored once: `a.bias` and `b.bias` are Identity(onnx::Gemm_9). */
function sharedBiases(extra: ReturnType<typeof makeNode>[] = [], output = 'logits'): ModelProto {
  return graphModel([
    makeNode('Identity', ['onnx::Gemm_9'], ['a.bias']),
    makeNode('Identity', ['onnx::Gemm_9'], ['b.bias']),
    makeNode('Gemm', ['x', 'a.weight', 'a.bias'], ['h'], gemm),
    makeNode('Gemm', ['h', 'b.weight', 'b.bias'], [output], gemm),
    ...extra,
  ], [f32('a.weight', [2, 2], [0.5, -0.3, 0.2, 0.8]), f32('onnx::Gemm_9', [2], [0, 0]), f32('b.weight', [2, 2], [0.7, 0.1, -0.4, 0.6])]);
}

describe('initializers shared through Identity nodes', () => {
  it('become independent parameters under their PyTorch names, each starting from the shared value', () => {
    const model = load(sharedBiases());
    expect(model.graph.node.map((n) => n.opType)).to.deep.equal(['Gemm', 'Gemm']);
    expect(model.graph.initializer.map((t) => t.name)).to.deep.equal(['a.weight', 'a.bias', 'b.bias', 'b.weight']);
    expect(names(model)).to.deep.equal(['a.weight', 'a.bias', 'b.bias', 'b.weight']);
    const values = initialParameters(model);
    expect(Array.from(values.get('a.bias')!)).to.deep.equal([0, 0]);
    expect(Array.from(values.get('b.bias')!)).to.deep.equal([0, 0]);
  });

  it('train independently: different gradients, different values after a step, in the exported model too', async () => {
    const result = await train(load(sharedBiases()), fullFineTune({ lr: 0.5, epochs: 1 }), { train: data, test: data }, sgd);
    const a = result.parameters.get('a.bias')!, b = result.parameters.get('b.bias')!;
    expect(Array.from(a)).to.not.deep.equal([0, 0]);
    expect(Array.from(b)).to.not.deep.equal([0, 0]);
    expect(Array.from(a)).to.not.deep.equal(Array.from(b));
    const exported = new Map(result.model.graph.initializer.map((t) => [t.name, Array.from(tensorValues(t) as Float32Array)]));
    expect(exported.get('a.bias')).to.deep.equal(Array.from(a));
    expect(exported.get('b.bias')).to.deep.equal(Array.from(b));
    expect(exported.has('onnx::Gemm_9')).to.equal(false);
  });

  it('the shared tensor stays while a node still reads it directly', () => {
    const model = load(sharedBiases([makeNode('Add', ['logits0', 'onnx::Gemm_9'], ['logits'])], 'logits0'));
    expect(model.graph.initializer.map((t) => t.name)).to.deep.equal(['a.weight', 'onnx::Gemm_9', 'a.bias', 'b.bias', 'b.weight']);
    expect(names(model)).to.deep.equal(['a.weight', 'a.bias', 'b.bias', 'b.weight']);
  });

  it('an Identity chain copies the copy; node outputs and exporter constants read through Identity stay as they are', () => {
    const model = load(graphModel([
      makeNode('Identity', ['onnx::Gemm_9'], ['a.bias']),
      makeNode('Identity', ['a.bias'], ['b.bias']),
      makeNode('Identity', ['onnx::Mul_4'], ['/scale/Identity_output_0']),
      makeNode('Gemm', ['x', 'a.weight', 'a.bias'], ['h'], gemm),
      makeNode('Mul', ['h', '/scale/Identity_output_0'], ['hs']),
      makeNode('Gemm', ['hs', 'b.weight', 'b.bias'], ['logits'], gemm),
    ], [f32('a.weight', [2, 2], [1, 0, 0, 1]), f32('onnx::Gemm_9', [2], [0.5, 0.5]), f32('onnx::Mul_4', [], [2]), f32('b.weight', [2, 2], [1, 0, 0, 1])]));
    expect(model.graph.node.map((n) => n.opType)).to.deep.equal(['Identity', 'Gemm', 'Mul', 'Gemm']);
    expect(model.graph.initializer.map((t) => t.name)).to.deep.equal(['a.weight', 'a.bias', 'b.bias', 'onnx::Mul_4', 'b.weight']);
    expect(names(model)).to.deep.equal(['a.weight', 'a.bias', 'b.bias', 'b.weight']);
    expect(Array.from(initialParameters(model).get('b.bias')!)).to.deep.equal([0.5, 0.5]);
  });

  it('an Identity that only aliases a PyTorch-named tensor read nowhere else changes nothing', () => {
    const model = load(graphModel([
      makeNode('Identity', ['fc.weight'], ['alias']),
      makeNode('Gemm', ['x', 'alias', 'fc.bias'], ['logits'], gemm),
    ], [f32('fc.weight', [2, 2], [1, 0, 0, 1]), f32('fc.bias', [2], [0, 0])]));
    expect(model.graph.node.map((n) => n.opType)).to.deep.equal(['Identity', 'Gemm']);
    expect(names(model)).to.deep.equal(['fc.weight', 'fc.bias']);
  });

  it('a tensor two nodes read directly (tied weights) stays one parameter, trained by both uses', async () => {
    const tied = graphModel([
      makeNode('Gemm', ['x', 'w', 'a.bias'], ['h'], gemm),
      makeNode('Gemm', ['h', 'w', 'b.bias'], ['logits'], gemm),
    ], [f32('w', [2, 2], [0.5, -0.3, 0.2, 0.8]), f32('a.bias', [2], [0, 0]), f32('b.bias', [2], [0, 0])]);
    const model = load(tied);
    expect(names(model)).to.deep.equal(['w', 'a.bias', 'b.bias']);
    const result = await train(model, fullFineTune({ lr: 0.5, epochs: 1 }), { train: data, test: data }, sgd);
    expect(Array.from(result.parameters.get('w')!)).to.not.deep.equal([0.5, -0.3, 0.2, 0.8].map(Math.fround));
  });

  it('loads the same bytes every time, and a saved untied model loads unchanged', () => {
    const bytes = encodeModel(load(sharedBiases()));
    expect(Buffer.from(encodeModel(load(sharedBiases()))).equals(Buffer.from(bytes))).to.equal(true);
    const dir = mkdtempSync(join(tmpdir(), 'onnx-finetune-untie-'));
    saveModel(join(dir, 'm.onnx'), load(sharedBiases()));
    expect(Buffer.from(encodeModel(loadModel(join(dir, 'm.onnx')))).equals(Buffer.from(bytes))).to.equal(true);
  });

  it('an initializer defined twice is refused, naming it', () => {
    const model = graphModel([makeNode('Gemm', ['x', 'fc.weight', 'fc.bias'], ['logits'], gemm)],
      [f32('fc.weight', [2, 2], [1, 0, 0, 1]), f32('fc.bias', [2], [0, 0]), f32('fc.bias', [2], [1, 1])]);
    expect(() => load(model, 'dup.onnx')).to.throw(/^dup\.onnx: initializer 'fc\.bias' is defined twice/);
  });
});

/** BatchNorm folded at export: a Conv whose weight and bias are `onnx::Conv_10` and `onnx::Conv_11`. */
function foldedCnn(withBatchNorm = false): ModelProto {
  const bn = withBatchNorm
    ? [makeNode('BatchNormalization', ['c0', 'bn.weight', 'bn.bias', 'bn.running_mean', 'bn.running_var'], ['c'], { epsilon: 1e-5 })]
    : [];
  return graphModel([
    makeNode('Conv', ['x', 'onnx::Conv_10', 'onnx::Conv_11'], [withBatchNorm ? 'c0' : 'c'], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }),
    ...bn,
    makeNode('Relu', ['c'], ['r']),
    makeNode('GlobalAveragePool', ['r'], ['p']),
    makeNode('Flatten', ['p'], ['flat'], { axis: 1 }),
    makeNode('Gemm', ['flat', 'fc.weight', 'fc.bias'], ['logits'], gemm),
  ], [
    f32('onnx::Conv_10', [2, 1, 3, 3], (i) => ((i * 7) % 5) / 10 - 0.15), f32('onnx::Conv_11', [2], [0.1, 0.3]),
    ...(withBatchNorm ? [f32('bn.weight', [2], [1, 1]), f32('bn.bias', [2], [0, 0]), f32('bn.running_mean', [2], [0.1, 0.2]), f32('bn.running_var', [2], [1.5, 0.5])] : []),
    f32('fc.weight', [2, 2], [0.5, -0.3, 0.2, 0.8]), f32('fc.bias', [2], [0, 0]),
  ], [1, 4, 4]);
}

describe('parameters found by role', () => {
  it('exporter-named Conv weights are parameters, listed as exporter-named, and train', async () => {
    const model = load(foldedCnn());
    const summary = describeModel(model);
    expect(summary.parameters.map((p) => p.name)).to.deep.equal(['onnx::Conv_10', 'onnx::Conv_11', 'fc.weight', 'fc.bias']);
    expect(summary.exporterNamed).to.deep.equal(['onnx::Conv_10', 'onnx::Conv_11']);
    const images: Dataset = { source: 'test', count: 2, featureShape: [1, 4, 4], features: Float32Array.from({ length: 32 }, (_, i) => Math.sin(i)), labels: Float64Array.from([0, 1]) };
    const result = await train(model, fullFineTune({ lr: 0.5, epochs: 1 }), { train: images, test: images }, sgd);
    const before = initialParameters(model);
    for (const name of ['onnx::Conv_10', 'onnx::Conv_11']) expect(Array.from(result.parameters.get(name)!), name).to.not.deep.equal(Array.from(before.get(name)!));
  });

  it('weight and bias slots of Gemm, MatMul, LayerNormalization, BatchNormalization and Gather, whatever the name; running statistics are buffers', () => {
    const model = graphModel([
      makeNode('Gather', ['val_1', 'ids'], ['e']),
      makeNode('MatMul', ['x', 'val_2'], ['m']),
      makeNode('Add', ['m', 'e'], ['s']),
      makeNode('LayerNormalization', ['s', 'val_3', 'val_4'], ['n'], { axis: -1, epsilon: 1e-5 }),
      makeNode('Unsqueeze', ['n', 'axes'], ['n4']),
      makeNode('BatchNormalization', ['n4', 'onnx::BatchNormalization_5', 'onnx::BatchNormalization_6', 'onnx::BatchNormalization_7', 'onnx::BatchNormalization_8'], ['b4'], { epsilon: 1e-5 }),
      makeNode('Squeeze', ['b4', 'axes'], ['b']),
      makeNode('Mul', ['b', 'onnx::Mul_9'], ['scaled']),
      makeNode('Gemm', ['scaled', 'onnx::Gemm_10', 'onnx::Gemm_11'], ['logits'], gemm),
    ], [
      f32('val_1', [3, 2], (i) => i), makeTensor('ids', DataType.INT64, [1], [1]), f32('val_2', [2, 2], (i) => i), f32('val_3', [2], [1, 1]), f32('val_4', [2], [0, 0]),
      makeTensor('axes', DataType.INT64, [1], [2]),
      f32('onnx::BatchNormalization_5', [2], [1, 1]), f32('onnx::BatchNormalization_6', [2], [0, 0]), f32('onnx::BatchNormalization_7', [2], [0, 0]), f32('onnx::BatchNormalization_8', [2], [1, 1]),
      f32('onnx::Mul_9', [], [2]), f32('onnx::Gemm_10', [2, 2], (i) => i), f32('onnx::Gemm_11', [2], [0, 0]),
    ]);
    const parameters = ['val_1', 'val_2', 'val_3', 'val_4', 'onnx::BatchNormalization_5', 'onnx::BatchNormalization_6', 'onnx::Gemm_10', 'onnx::Gemm_11'];
    expect(names(model)).to.deep.equal(parameters);
    expect(describeModel(model).exporterNamed).to.deep.equal(parameters);
    expect(bufferNames(model.graph)).to.deep.equal(['onnx::BatchNormalization_7', 'onnx::BatchNormalization_8']);
  });

  it('the project\'s own models keep their parameter lists and get no warning', () => {
    const seed = loadFixture('torch-seed').model, digits = loadFixture('torch-digits-cnn').model;
    const builtIn = attachLinearHead(loadModel(DEFAULT_BACKBONE_PATH), 1, new Rng(1), DEFAULT_BACKBONE_PATH);
    const mlp = ['backbone.0.weight', 'backbone.0.bias', 'backbone.2.weight', 'backbone.2.bias', 'head.weight', 'head.bias'];
    expect(names(seed)).to.deep.equal(mlp);
    expect(names(builtIn)).to.deep.equal(mlp);
    expect(names(digits)).to.deep.equal(['backbone.0.weight', 'backbone.0.bias', 'backbone.3.weight', 'backbone.3.bias', 'backbone.7.weight', 'backbone.7.bias', 'head.weight', 'head.bias']);
    for (const model of [seed, digits, builtIn]) {
      expect(describeModel(model).exporterNamed).to.deep.equal([]);
      expect(exporterNamesWarning(model, 'm.onnx')).to.equal(undefined);
    }
  });

  it('the warning says folded BatchNorm for exporter-named Conv weights in a model without BatchNormalization, else a generic line', () => {
    expect(exporterNamesWarning(load(foldedCnn()), 'model.onnx')).to.equal(
      'model.onnx: 2 parameters have exporter-made names (onnx::Conv_10, onnx::Conv_11): BatchNorm was folded into the convolutions at export, '
      + 'so they train, but results cannot match PyTorch; re-export with torch.onnx.export(..., do_constant_folding=False) for exact parity');
    expect(exporterNamesWarning(load(foldedCnn(true)), 'model.onnx')).to.equal(
      'model.onnx: 2 parameters have exporter-made names (onnx::Conv_10, onnx::Conv_11): they train, but PyTorch knows them by other names, '
      + 'so the .safetensors file leaves them out; re-export with torch.onnx.export(..., do_constant_folding=False) to keep PyTorch\'s names');
    // torch.export's optimizer pre-transposes a Linear weight into `val_12`: the advice is dynamo's.
    const dynamo = graphModel([makeNode('MatMul', ['x', 'val_12'], ['m']), makeNode('Add', ['m', 'fc.bias'], ['logits'])], [f32('val_12', [2, 2], [1, 0, 0, 1]), f32('fc.bias', [2], [0, 0])]);
    expect(exporterNamesWarning(dynamo, 'model.onnx')).to.equal(
      'model.onnx: 1 parameter has an exporter-made name (val_12): they train, but PyTorch knows them by other names, '
      + 'so the .safetensors file leaves them out; re-export with torch.onnx.export(..., dynamo=True, optimize=False) to keep PyTorch\'s names');
  });

  it('the CLI prints the warning once, trains the folded weights and leaves them out of the .safetensors file', async function () {
    this.timeout(60000);
    const dir = mkdtempSync(join(tmpdir(), 'onnx-finetune-folded-'));
    saveModel(join(dir, 'model.onnx'), foldedCnn());
    const header = [...Array.from({ length: 16 }, (_, i) => `x${i}`), 'y'].join(',');
    const rows = Array.from({ length: 6 }, (_, r) => [...Array.from({ length: 16 }, (_, i) => (Math.sin(r * 16 + i) * 2).toFixed(2)), r % 2].join(','));
    writeFileSync(join(dir, 'data.csv'), [header, ...rows].join('\n') + '\n');
    const run = await cli(['compare', '--unfreeze', 'onnx::*', '--head', 'fc.*', '--model', 'model.onnx', '--train', 'data.csv', '--test', 'data.csv', '--out', 'out'], dir);
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stderr).to.equal('warning: ' + exporterNamesWarning(foldedCnn(), 'model.onnx') + '\n');
    const report = JSON.parse(readFileSync(join(dir, 'out', 'full_fine_tune.json'), 'utf8'));
    expect(report.safetensors).to.deep.equal({ file: 'full_fine_tune.safetensors', tensors: 2, left_out_exporter_named: ['onnx::Conv_10', 'onnx::Conv_11'] });
    const weights = readSafetensors(readFileSync(join(dir, 'out', 'full_fine_tune.safetensors')));
    expect([...weights.tensors.keys()]).to.deep.equal(['fc.bias', 'fc.weight']);
    const trained = loadModel(join(dir, 'out', 'full_fine_tune.onnx'));
    const conv = trained.graph.initializer.find((t) => t.name === 'onnx::Conv_10')!;
    expect(Array.from(tensorValues(conv) as Float32Array)).to.not.deep.equal(Array.from(tensorValues(foldedCnn().graph.initializer[0]) as Float32Array));
  });
});
