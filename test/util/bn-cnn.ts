// A small CNN (Conv-BN-Relu-GlobalAveragePool-Flatten-Gemm) with known weights, and data for it, for the
// BatchNorm tests.
import { DataType, makeGraph, makeModel, makeNode, makeTensor, makeValueInfo } from '../../src/onnx/builder.js';
import type { ModelProto } from '../../src/onnx/proto.js';
import { singleInput, singleInputDataset, type Dataset } from '../../src/data/dataset.js';
import { Rng } from '../../src/train/rng.js';

export const [IN, H, W, C, CLASSES, EPS] = [2, 4, 4, 3, 2, 1e-5];
export const PARAMETERS = ['conv.weight', 'conv.bias', 'bn.weight', 'bn.bias', 'head.weight', 'head.bias'];
export const RUNNING = { mean: [0.1, -0.2, 0.3], var: [0.5, 1.5, 2] };

export function values(rng: Rng, n: number, scale: number): Float32Array {
  return Float32Array.from({ length: n }, () => Math.fround(rng.normal() * scale));
}

const rng = new Rng(5);
export const WEIGHTS: Record<string, Float32Array> = {
  'conv.weight': values(rng, C * IN * 9, 0.3), 'conv.bias': values(rng, C, 0.1),
  'bn.weight': Float32Array.from([1.1, 0.8, 1.3]), 'bn.bias': Float32Array.from([0.2, -0.1, 0.05]),
  'head.weight': values(rng, CLASSES * C, 0.5), 'head.bias': values(rng, CLASSES, 0.1),
};

/** The CNN; `training` writes its BatchNorm as torch.onnx.export does in TrainingMode.TRAINING. */
export function cnn(opts: { training?: boolean; opset?: number } = {}): ModelProto {
  const bn = opts.training
    ? makeNode('BatchNormalization', ['c', 'bn.weight', 'bn.bias', 'bn.running_mean', 'bn.running_var'], ['b', 'running_mean_out', 'running_var_out'], { epsilon: EPS, momentum: 0.9, training_mode: 1 }, 'bn')
    : makeNode('BatchNormalization', ['c', 'bn.weight', 'bn.bias', 'bn.running_mean', 'bn.running_var'], ['b'], { epsilon: EPS, momentum: 0.9 }, 'bn');
  const nodes = [
    makeNode('Conv', ['x', 'conv.weight', 'conv.bias'], ['c'], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, 'conv'),
    bn,
    makeNode('Relu', ['b'], ['r'], {}, 'relu'),
    makeNode('GlobalAveragePool', ['r'], ['g'], {}, 'pool'),
    makeNode('Flatten', ['g'], ['f'], {}, 'flatten'),
    makeNode('Gemm', ['f', 'head.weight', 'head.bias'], ['logits'], { transB: 1 }, 'head'),
  ];
  const dims: Record<string, number[]> = { 'conv.weight': [C, IN, 3, 3], 'conv.bias': [C], 'bn.weight': [C], 'bn.bias': [C], 'head.weight': [CLASSES, C], 'head.bias': [CLASSES] };
  const initializers = [
    ...PARAMETERS.map((name) => makeTensor(name, DataType.FLOAT, dims[name], WEIGHTS[name])),
    makeTensor('bn.running_mean', DataType.FLOAT, [C], RUNNING.mean),
    makeTensor('bn.running_var', DataType.FLOAT, [C], RUNNING.var),
  ];
  return makeModel(makeGraph(nodes, 'cnn', [makeValueInfo('x', DataType.FLOAT, ['batch', IN, H, W])], [makeValueInfo('logits', DataType.FLOAT, ['batch', CLASSES])], initializers),
    { opset: opts.opset ?? 17 });
}

export function dataset(count: number, seed: number): Dataset {
  const r = new Rng(seed);
  return singleInputDataset(`data-${seed}`, 'x', [IN, H, W], values(r, count * IN * H * W, 1), Float64Array.from({ length: count }, (_, i) => i % CLASSES));
}


/** The dataset as a CSV file's text: x0..x31 then y. */
export function csvText(data: Dataset): string {
  const size = IN * H * W;
  const header = [...Array.from({ length: size }, (_, i) => `x${i}`), 'y'].join(',');
  const rows = Array.from({ length: data.count }, (_, n) => [...Array.from((singleInput(data).values as Float32Array).subarray(n * size, (n + 1) * size), (v) => String(v)), String(data.labels[n])].join(','));
  return [header, ...rows].join('\n') + '\n';
}
