// BatchNorm as users choose it (--batchnorm frozen|train|auto), on a hand-built small CNN
// (Conv-BN-Relu-GlobalAveragePool-Flatten-Gemm) whose forward is recomputed here in float64.
import { expect } from 'chai';
import { DataType, makeGraph, makeModel, makeNode, makeTensor, makeValueInfo } from '../src/onnx/builder.js';
import type { ModelProto } from '../src/onnx/proto.js';
import { tensorValues } from '../src/onnx/tensor.js';
import { decodeModel, encodeModel } from '../src/onnx/io.js';
import { buildArtifacts } from '../src/artifacts/build.js';
import { batchStatistics, markBatchStatistics } from '../src/artifacts/batch-norm-mode.js';
import { inferShapes } from '../src/graph/shapes.js';
import { indexGraph } from '../src/graph/graph-index.js';
import { LOSSES } from '../src/losses/index.js';
import { train, DEFAULT_TRAIN_CONFIG, type RunSnapshot, type TrainConfig } from '../src/train/trainer.js';
import { fullFineTune, linearProbe, partialUnfreeze } from '../src/train/strategies.js';
import { decodeCheckpoint, encodeCheckpoint } from '../src/checkpoint/checkpoint.js';
import { createSession, ort } from '../src/runtime/session.js';
import { singleInput, singleInputDataset, type Dataset } from '../src/data/dataset.js';
import { C, CLASSES, cnn, dataset, EPS, H, IN, PARAMETERS, RUNNING, W, WEIGHTS } from './util/bn-cnn.js';
import { gradCheck, type GradCheckSpec } from './util/gradcheck.js';
import { convReference } from './gradients-reference.js';
import { expectUserError } from './util/backward.js';


/** The CNN's forward and CE loss in float64, BatchNorm on batch statistics or the given running ones. */
function reference(weights: Record<string, ArrayLike<number>>, data: Dataset, stats?: { mean: ArrayLike<number>; var: ArrayLike<number> }) {
  const N = data.count, area = H * W;
  const conv = convReference([N, IN, H, W], [C, IN, 3, 3], { kernel: [3, 3], pads: [1, 1, 1, 1] })({
    x: Float64Array.from(singleInput(data).values as Float32Array), w: Float64Array.from(weights['conv.weight']), b: Float64Array.from(weights['conv.bias']),
  });
  const mean = new Float64Array(C), variance = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    const at = (n: number, i: number) => conv[(n * C + c) * area + i];
    let sum = 0;
    for (let n = 0; n < N; n++) for (let i = 0; i < area; i++) sum += at(n, i);
    mean[c] = sum / (N * area);
    let squares = 0;
    for (let n = 0; n < N; n++) for (let i = 0; i < area; i++) squares += (at(n, i) - mean[c]) ** 2;
    variance[c] = squares / (N * area);
  }
  const [m, v] = stats ? [stats.mean, stats.var] : [mean, variance];
  let loss = 0;
  for (let n = 0; n < N; n++) {
    const pooled = Array.from({ length: C }, (_, c) => {
      let sum = 0;
      for (let i = 0; i < area; i++) {
        const y = ((conv[(n * C + c) * area + i] - m[c]) / Math.sqrt(v[c] + EPS)) * weights['bn.weight'][c] + weights['bn.bias'][c];
        sum += Math.max(0, y);
      }
      return sum / area;
    });
    const z = Array.from({ length: CLASSES }, (_, k) => weights['head.bias'][k] + pooled.reduce((s, p, c) => s + p * weights['head.weight'][k * C + c], 0));
    const top = Math.max(...z);
    const logSum = top + Math.log(z.reduce((s, zk) => s + Math.exp(zk - top), 0));
    loss += logSum - z[data.labels[n]];
  }
  return { loss: loss / N, mean, variance, perChannel: N * area };
}

function feeds(data: Dataset, weights: Record<string, Float32Array>, names: string[]) {
  const dims: Record<string, number[]> = { 'conv.weight': [C, IN, 3, 3], 'conv.bias': [C], 'bn.weight': [C], 'bn.bias': [C], 'head.weight': [CLASSES, C], 'head.bias': [CLASSES] };
  return {
    x: new ort.Tensor('float32', singleInput(data).values as Float32Array, [data.count, IN, H, W]),
    labels: new ort.Tensor('int64', BigInt64Array.from(data.labels, (y) => BigInt(y)), [data.count]),
    ...Object.fromEntries(names.map((n) => [n, new ort.Tensor('float32', weights[n], dims[n])])),
  };
}

async function runTrainGraph(model: ModelProto, trainable: string[], batchNorm: 'frozen' | 'train', data: Dataset, weights = WEIGHTS) {
  const a = buildArtifacts(model, trainable, LOSSES.ce, { batchNorm });
  const session = await createSession(a.train);
  try {
    return { artifacts: a, out: await session.run(feeds(data, weights, trainable)) };
  } finally {
    await session.release();
  }
}

const relative = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-12);
const config: TrainConfig = { ...DEFAULT_TRAIN_CONFIG, loss: LOSSES.ce, shuffle: false, batchSize: 4 };
const bytes = (m: ReadonlyMap<string, Float32Array>) => Buffer.concat([...m.values()].map((v) => Buffer.from(v.buffer, v.byteOffset, v.byteLength)));

describe('BatchNorm on batch statistics (--batchnorm train)', () => {
  const data = dataset(6, 11);

  it("train graph: the loss and the batch's mean and variance equal a float64 computation with batch statistics", async () => {
    const { artifacts, out } = await runTrainGraph(cnn(), PARAMETERS, 'train', data);
    const expected = reference(WEIGHTS, data);
    expect(artifacts.batchStatistics.map((s) => s.node)).to.deep.equal(['bn']);
    expect(artifacts.train.graph.node.map((n) => n.opType)).to.not.include('BatchNormalization');
    expect(relative(out.loss.data[0] as number, expected.loss)).to.be.below(1e-5);
    const [mean, variance] = [out['bn/batch_mean'].data as Float32Array, out['bn/batch_var'].data as Float32Array];
    expect(out['bn/batch_mean'].dims).to.deep.equal([1, C, 1, 1]);
    for (let c = 0; c < C; c++) {
      expect(Math.abs(mean[c] - expected.mean[c])).to.be.below(1e-5);
      expect(relative(variance[c], expected.variance[c])).to.be.below(1e-5);
    }
  });

  it('train graph: gradients through the batch statistics match central differences of the float64 forward', async () => {
    const { artifacts, out } = await runTrainGraph(cnn(), PARAMETERS, 'train', data);
    const weights = Object.fromEntries(PARAMETERS.map((n) => [n, Float64Array.from(WEIGHTS[n])]));
    for (const name of ['conv.weight', 'bn.weight', 'bn.bias']) {
      const analytic = out[artifacts.trainable.find((p) => p.name === name)!.gradient].data as Float32Array;
      const w = weights[name];
      const numeric = Array.from(w, (v, i) => {
        const h = 1e-6;
        w[i] = v + h;
        const up = reference(weights, data).loss;
        w[i] = v - h;
        const down = reference(weights, data).loss;
        w[i] = v;
        return (up - down) / (2 * h);
      });
      const scale = Math.max(...numeric.map(Math.abs));
      numeric.forEach((g, i) => expect(Math.abs(analytic[i] - g), `${name}[${i}]`).to.be.below(1e-4 * scale));
    }
    // conv.bias moves every value of its channel alike, so through the batch mean it changes nothing.
    expect(Math.max(...Array.from(out['conv.bias_grad'].data as Float32Array, Math.abs))).to.be.below(1e-6);
  });

  const cases = [['batchnorm_batch_stats_4d', [3, 2, 3, 2], 17], ['batchnorm_batch_stats_2d', [5, 3], 17], ['batchnorm_batch_stats_3d', [2, 3, 4], 17],
    ['batchnorm_batch_stats_4d_opset18', [2, 3, 2, 2], 18]] as const; // ReduceMean takes its axes as an input from opset 18
  for (const [name, dims, opset] of cases) {
    it(`${name}: the spelled-out BatchNorm's gradients (x, scale, bias) pass the float64 finite-difference check`, async () => {
      const channels = dims[1];
      const node = makeNode('BatchNormalization', ['x', 'scale', 'bias', 'mean', 'var'], ['y'], { epsilon: 0.01 }, 'bn');
      const stats = [makeTensor('mean', DataType.DOUBLE, [channels], new Array(channels).fill(0)), makeTensor('var', DataType.DOUBLE, [channels], new Array(channels).fill(1))];
      const graph = makeGraph(markBatchStatistics([node], new Set(['scale']), 'auto'), 'g',
        ['x', 'scale', 'bias'].map((n) => makeValueInfo(n, DataType.DOUBLE, n === 'x' ? [...dims] : [channels])), [makeValueInfo('y', DataType.DOUBLE, null)], stats);
      const spelled = batchStatistics(graph.node, inferShapes(graph, indexGraph(graph), opset), stats, opset);
      const spec: GradCheckSpec = {
        name, nodes: spelled.train, output: 'y', constants: spelled.constants, opset,
        inputs: [{ name: 'x', dims: [...dims] }, { name: 'scale', dims: [channels] }, { name: 'bias', dims: [channels] }],
      };
      const report = await gradCheck(spec);
      expect([...report.gradients.keys()]).to.deep.equal(['x', 'scale', 'bias']);
    });
  }

  it('running statistics after one step: 0.9 · running + 0.1 · batch, the variance unbiased', async () => {
    const result = await train(cnn(), fullFineTune({ lr: 1e-3, epochs: 1 }), { train: data, test: data }, { ...config, batchSize: data.count, batchNorm: 'train' });
    const batch = reference(WEIGHTS, data);
    const n = batch.perChannel;
    const mean = result.buffers.get('bn.running_mean')!, variance = result.buffers.get('bn.running_var')!;
    for (let c = 0; c < C; c++) {
      expect(relative(mean[c], 0.9 * RUNNING.mean[c] + 0.1 * batch.mean[c])).to.be.below(1e-5);
      expect(relative(variance[c], 0.9 * RUNNING.var[c] + 0.1 * batch.variance[c] * n / (n - 1))).to.be.below(1e-5);
    }
    // The exported model carries them, and evaluation used them: its test loss is the export's.
    const exported = result.model.graph.initializer;
    expect(Array.from(tensorValues(exported.find((t) => t.name === 'bn.running_mean')!) as Float32Array)).to.deep.equal(Array.from(mean));
    expect(Array.from(tensorValues(exported.find((t) => t.name === 'bn.running_var')!) as Float32Array)).to.deep.equal(Array.from(variance));
    const trained = Object.fromEntries([...result.parameters].map(([k, v]) => [k, Float64Array.from(v)]));
    expect(relative(result.testLoss, reference(trained, data, { mean, var: variance }).loss)).to.be.below(1e-5);
  });

  it('a batch with one value per channel is refused, as PyTorch refuses it', async () => {
    const bn1d = makeModel(makeGraph([
      makeNode('Gemm', ['x', 'w', 'b'], ['h'], { transB: 1 }, 'fc'),
      makeNode('BatchNormalization', ['h', 's', 'o', 'm', 'v'], ['logits'], {}, 'bn1d'),
    ], 'g', [makeValueInfo('x', DataType.FLOAT, ['batch', 2])], [makeValueInfo('logits', DataType.FLOAT, ['batch', 1])], [
      makeTensor('w', DataType.FLOAT, [1, 2], [0.5, -0.5]), makeTensor('b', DataType.FLOAT, [1], [0]), makeTensor('s', DataType.FLOAT, [1], [1]),
      makeTensor('o', DataType.FLOAT, [1], [0]), makeTensor('m', DataType.FLOAT, [1], [0]), makeTensor('v', DataType.FLOAT, [1], [1]),
    ]));
    const rows: Dataset = singleInputDataset('rows', 'x', [2], Float32Array.from([1, 2, 3, 1, 2, 0]), Float64Array.from([0, 1, 0]));
    let error: Error | undefined;
    await train(bn1d, fullFineTune({ lr: 1e-3, epochs: 1 }), { train: rows, test: rows }, { ...config, loss: LOSSES.bce, batchSize: 2 }).catch((e) => (error = e));
    expect(error?.message).to.include("'bn1d'").and.include('more than 1');
  });
});

describe('--batchnorm auto and frozen', () => {
  const modes = (trainable: string[], batchNorm: 'frozen' | 'train' | 'auto' = 'auto') => buildArtifacts(cnn(), trainable, LOSSES.ce, { batchNorm });

  it('auto: batch statistics where the layer trains (full fine-tune), running ones where it is frozen (linear probe)', () => {
    expect(modes(PARAMETERS).batchStatistics.map((s) => s.node)).to.deep.equal(['bn']);
    expect(modes(['bn.bias']).batchStatistics.map((s) => s.node)).to.deep.equal(['bn']);
    const probe = modes(['head.weight', 'head.bias']);
    expect(probe.batchStatistics).to.deep.equal([]);
    expect(probe.prefix!.graph.output[0].name).to.equal('f'); // the frozen backbone is computed once per example
    expect(modes(['conv.weight', 'conv.bias', 'head.weight', 'head.bias']).batchStatistics).to.deep.equal([]);
  });

  it('train: a linear probe normalizes with batch statistics, so the backbone is no frozen prefix; frozen: never', () => {
    const probe = modes(['head.weight', 'head.bias'], 'train');
    expect(probe.batchStatistics.map((s) => s.node)).to.deep.equal(['bn']);
    expect(probe.prefix).to.equal(undefined);
    expect(probe.eval.graph.input.map((i) => i.name)).to.include.members(['bn.running_mean', 'bn.running_var']);
    expect(modes(PARAMETERS, 'frozen').batchStatistics).to.deep.equal([]);
  });

  it('partial unfreeze in auto mode: stage 1 (head) keeps the running statistics, stage 2 (BN unfrozen) updates them', async () => {
    const data = dataset(8, 3);
    const plan = partialUnfreeze({ headLr: 1e-2, headEpochs: 1, unfreeze: 'bn.*', backboneLr: 1e-3, epochs: 1 });
    const afterHead = await train(cnn(), { ...plan, stages: plan.stages.slice(0, 1) }, { train: data, test: data }, config);
    expect(Array.from(afterHead.buffers.get('bn.running_mean')!)).to.deep.equal(RUNNING.mean.map(Math.fround));
    const both = await train(cnn(), plan, { train: data, test: data }, config);
    expect(Array.from(both.buffers.get('bn.running_mean')!)).to.not.deep.equal(RUNNING.mean.map(Math.fround));
  });

  it('frozen: the loss uses the running statistics (PyTorch eval()), which never change', async () => {
    const data = dataset(6, 11);
    const { artifacts, out } = await runTrainGraph(cnn(), PARAMETERS, 'frozen', data);
    expect(artifacts.train.graph.node.filter((n) => n.opType === 'BatchNormalization')).to.have.length(1);
    expect(relative(out.loss.data[0] as number, reference(WEIGHTS, data, RUNNING).loss)).to.be.below(1e-5);
    const result = await train(cnn(), fullFineTune({ lr: 1e-2, epochs: 2 }), { train: data, test: data }, { ...config, batchNorm: 'frozen' });
    expect(Array.from(result.buffers.get('bn.running_var')!)).to.deep.equal(RUNNING.var.map(Math.fround));
  });

  it('frozen reproduces the default of a model whose BatchNorms are all frozen (linear probe) bit for bit', async () => {
    const data = dataset(8, 4);
    const probe = linearProbe({ lr: 1e-2, epochs: 2 });
    const [frozen, auto] = await Promise.all([train(cnn(), probe, { train: data, test: data }, { ...config, batchNorm: 'frozen' }), train(cnn(), probe, { train: data, test: data }, config)]);
    expect(bytes(frozen.parameters).equals(bytes(auto.parameters))).to.equal(true);
    expect(frozen.epochLosses).to.deep.equal(auto.epochLosses);
  });
});

describe('BatchNorm running statistics in snapshots and checkpoints', () => {
  it('a run resumed from a checkpoint mid-run ends bit-identical, running statistics included', async () => {
    const data = dataset(10, 7);
    const plan = partialUnfreeze({ headLr: 1e-2, headEpochs: 1, unfreeze: 'bn.*', backboneLr: 1e-3, epochs: 2 });
    const snapshots: RunSnapshot[] = [];
    const whole = await train(cnn(), plan, { train: data, test: data }, { ...config, shuffle: true, snapshotEvery: 1, onSnapshot: (s) => snapshots.push(s) });
    expect(snapshots).to.have.length(9);
    const identity = { strategy: plan.strategy, plan: plan.stages, settings: {}, model: '', data: '' };
    for (const at of [2, 4, 7]) {
      const checkpoint = decodeCheckpoint(encodeCheckpoint(cnn(), snapshots[at - 1], identity), 'checkpoint.onnx');
      expect(bytes(checkpoint.snapshot.buffers).equals(bytes(snapshots[at - 1].buffers))).to.equal(true);
      const resumed = await train(cnn(), plan, { train: data, test: data }, { ...config, shuffle: true, resume: checkpoint.snapshot });
      expect(bytes(resumed.parameters).equals(bytes(whole.parameters)), `parameters, from step ${at}`).to.equal(true);
      expect(bytes(resumed.buffers).equals(bytes(whole.buffers)), `buffers, from step ${at}`).to.equal(true);
      expect(resumed.epochLosses).to.deep.equal(whole.epochLosses);
      expect(resumed.testLoss).to.equal(whole.testLoss);
    }
    expect(Array.from(whole.buffers.get('bn.running_mean')!)).to.not.deep.equal(RUNNING.mean.map(Math.fround));
  });
});

describe('models exported in training mode', () => {
  it('a BatchNorm with training_mode 1 and 3 outputs loads in inference form and trains; the export is inference form', async () => {
    const loaded = decodeModel(encodeModel(cnn({ training: true, opset: 15 })), 'training.onnx');
    const bn = loaded.graph.node.find((n) => n.name === 'bn')!;
    expect(bn.output).to.deep.equal(['b']);
    expect(bn.attribute.map((a) => a.name)).to.not.include('training_mode');
    const data = dataset(8, 9);
    const result = await train(loaded, fullFineTune({ lr: 1e-2, epochs: 1 }), { train: data, test: data }, config);
    expect(result.epochLosses[0]).to.be.finite;
    const exported = result.model.graph.node.find((n) => n.name === 'bn')!;
    expect(exported.output).to.deep.equal(['b']);
    const session = await createSession(result.model);
    await session.run({ x: new ort.Tensor('float32', singleInput(data).values as Float32Array, [data.count, IN, H, W]) });
    await session.release();
  });

  it('an unloaded training-mode model trains too, and its export is inference form', async () => {
    const data = dataset(8, 9);
    const result = await train(cnn({ training: true }), fullFineTune({ lr: 1e-2, epochs: 1 }), { train: data, test: data }, config);
    expect(result.model.graph.node.find((n) => n.name === 'bn')!.output).to.deep.equal(['b']);
  });

  it('opset 13: extra outputs without training_mode are dropped the same way', () => {
    const model = cnn();
    model.graph.node[1].output = ['b', 'rm', 'rv', 'saved_mean', 'saved_var'];
    model.opsetImport[0].version = 13;
    expect(decodeModel(encodeModel(model), 'old.onnx').graph.node[1].output).to.deep.equal(['b']);
  });

  it('a statistics output that another node reads is one clear error', () => {
    const model = cnn({ training: true });
    model.graph.node.push(makeNode('Identity', ['running_mean_out'], ['seen'], {}, 'peek'));
    const message = expectUserError(() => decodeModel(encodeModel(model), 'peek.onnx'));
    expect(message).to.include('peek.onnx').and.include("'bn'").and.include("'running_mean_out'");
  });
});
