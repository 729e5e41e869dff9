// The seed notebook's "pretend pretrained" backbone: Linear(10,32)-ReLU-Linear(32,16)-ReLU with PyTorch's
// default nn.Linear initialization, then 0.1·N(0,1) noise added to every parameter. From PyTorch's generator
// (the default) it is the notebook's own backbone, drawn where the notebook draws it: after the data. Built as torch.onnx.export
// writes an nn.Sequential named `backbone` (Gemm with transB = 1, PyTorch's parameter and node names), so the
// globs that work on exported PyTorch models ('backbone.2.*') work on it too.
import { DataType, makeGraph, makeModel, makeNode, makeTensor, makeValueInfo } from '../onnx/builder.js';
import type { ModelProto, NodeProto, TensorProto } from '../onnx/proto.js';
import { fileURLToPath } from 'node:url';
import { Rng, type InitRng, type RngKind } from '../train/rng.js';
import { linearWords, normalWords, TorchGenerator } from '../train/torch-rng.js';
import { NOTEBOOK_DATA_WORDS } from '../data/synthetic.js';
import { torchLinearInit } from './init.js';

/** models/seed-backbone.onnx at the package root (this file runs from dist/src/model/). */
export const DEFAULT_BACKBONE_PATH = fileURLToPath(new URL('../../../models/seed-backbone.onnx', import.meta.url));

export const SEED_BACKBONE = {
  /** The fixed seed the committed models/seed-backbone.onnx is built from. */
  seed: 17,
  input: 'x',
  output: 'features',
  /** Layer widths: input, hidden, output features. */
  widths: [10, 32, 16],
  noise: 0.1,
} as const;

export function buildSeedBackbone(seed: number = SEED_BACKBONE.seed, rng: RngKind = 'torch'): ModelProto {
  const source = rng === 'torch' ? TorchGenerator.at(seed, NOTEBOOK_DATA_WORDS) : new Rng(seed);
  return buildMlpBackbone(SEED_BACKBONE.widths, source, SEED_BACKBONE.noise);
}

/** Words PyTorch's generator draws for the seed backbone: each nn.Linear's init, then randn_like of each parameter. */
export const SEED_BACKBONE_WORDS = SEED_BACKBONE.widths.slice(1).reduce((sum, out, i) => {
  const inFeatures = SEED_BACKBONE.widths[i];
  return sum + linearWords(inFeatures, out) + normalWords(out * inFeatures) + normalWords(out);
}, 0);

/** A Linear-ReLU stack of the given widths, initialized as above (noise 0: PyTorch's plain init). */
export function buildMlpBackbone(widths: readonly number[], rng: InitRng, noise: number): ModelProto {
  const { input, output } = SEED_BACKBONE;
  // nn.Sequential(Linear, ReLU, Linear, ReLU): the Linear layers are modules 0 and 2, initialized in order.
  const layers = widths.slice(1).map((out, i) => ({ module: 2 * i, in: widths[i], out, ...torchLinearInit(rng, widths[i], out) }));
  // The "pretraining": for p in backbone.parameters(): p.add_(0.1 * torch.randn_like(p)).
  for (const layer of layers) {
    for (const values of [layer.weight, layer.bias]) {
      if (rng instanceof TorchGenerator) {
        // In float32, as the tensors compute it: 0.1 * randn_like(p), then add_.
        const n = rng.normalFill(new Float32Array(values.length)), scale = Math.fround(noise);
        for (let i = 0; i < values.length; i++) values[i] = values[i] + Math.fround(scale * n[i]);
      } else {
        for (let i = 0; i < values.length; i++) values[i] = values[i] + noise * rng.normal();
      }
    }
  }
  const nodes: NodeProto[] = [];
  const initializers: TensorProto[] = [];
  let x: string = input;
  for (const [i, layer] of layers.entries()) {
    const linear = `backbone.${layer.module}`, relu = `backbone.${layer.module + 1}`;
    const gemmOut = `/backbone/${linear}/Gemm_output_0`;
    const reluOut = i === layers.length - 1 ? output : `/backbone/${relu}/Relu_output_0`;
    nodes.push(
      makeNode('Gemm', [x, `${linear}.weight`, `${linear}.bias`], [gemmOut], { alpha: 1, beta: 1, transB: 1 }, `/backbone/${linear}/Gemm`),
      makeNode('Relu', [gemmOut], [reluOut], {}, `/backbone/${relu}/Relu`),
    );
    initializers.push(
      makeTensor(`${linear}.weight`, DataType.FLOAT, [layer.out, layer.in], layer.weight),
      makeTensor(`${linear}.bias`, DataType.FLOAT, [layer.out], layer.bias),
    );
    x = reluOut;
  }
  const graph = makeGraph(nodes, 'seed_backbone',
    [makeValueInfo(input, DataType.FLOAT, ['batch', widths[0]])],
    [makeValueInfo(output, DataType.FLOAT, ['batch', widths[widths.length - 1]])],
    initializers);
  return makeModel(graph);
}
