// Puts a fresh linear head on a backbone: `logits = Gemm(features, head.weight, head.bias, transB = 1)`, the
// node torch.onnx.export writes for nn.Linear, initialized as nn.Linear is (see init.ts). The feature size is
// read from the backbone's output shape; an output of rank > 2 is flattened first, as nn.Flatten would.
import { DataType, makeNode, makeTensor, makeValueInfo, type Dim } from '../onnx/builder.js';
import type { ModelProto, ValueInfoProto } from '../onnx/proto.js';
import { cloneModel } from '../artifacts/build.js';
import { valueInfoShape } from '../graph/shapes.js';
import { UserError } from '../errors.js';
import type { InitRng } from '../train/rng.js';
import { torchLinearInit } from './init.js';

export const HEAD_WEIGHT = 'head.weight';
export const HEAD_BIAS = 'head.bias';
export const LOGITS = 'logits';

export function attachLinearHead(backbone: ModelProto, classes: number, rng: InitRng, source = 'backbone'): ModelProto {
  if (!Number.isInteger(classes) || classes < 1) throw new UserError(`${source}: a head needs a positive whole number of outputs, got ${classes}`);
  const model = cloneModel(backbone);
  const graph = model.graph;
  if (graph.output.length !== 1) throw new UserError(`${source}: a backbone needs exactly one output to attach a head to, found ${graph.output.length}`);
  const output = graph.output[0];
  const info = valueInfoShape(output);
  const shape = info?.shape;
  if (!info || !shape || shape.length < 2) {
    throw new UserError(`${source}: output '${output.name}' needs a known shape [batch, features, ...] to attach a head (got ${shape ? `[${shape}]` : 'no shape'})`);
  }
  const featureDims = shape.slice(1);
  if (!featureDims.every((d): d is number => typeof d === 'number')) {
    throw new UserError(`${source}: output '${output.name}' has shape [${shape}]; the feature dimensions must be fixed numbers`);
  }
  const features = featureDims.reduce((a, b) => a * b, 1);
  const taken = new Set([...graph.initializer.map((t) => t.name), ...graph.node.flatMap((n) => n.output), ...graph.input.map((i) => i.name)]);
  for (const name of [HEAD_WEIGHT, HEAD_BIAS, LOGITS]) if (taken.has(name)) throw new UserError(`${source}: already has a tensor named '${name}'`);

  const dtype = info.dtype === DataType.DOUBLE ? DataType.DOUBLE : DataType.FLOAT;
  const { weight, bias } = torchLinearInit(rng, features, classes);
  let headInput = output.name;
  if (shape.length > 2) {
    headInput = '/head/Flatten_output_0';
    graph.node = [...graph.node, makeNode('Flatten', [output.name], [headInput], { axis: 1 }, '/head/Flatten')];
  }
  graph.node = [...graph.node, makeNode('Gemm', [headInput, HEAD_WEIGHT, HEAD_BIAS], [LOGITS], { alpha: 1, beta: 1, transB: 1 }, '/head/Gemm')];
  graph.initializer = [...graph.initializer, makeTensor(HEAD_WEIGHT, dtype, [classes, features], weight), makeTensor(HEAD_BIAS, dtype, [classes], bias)];
  const batch: Dim = shape[0];
  // The backbone's output stays visible as an intermediate value, with its shape.
  graph.valueInfo = [...graph.valueInfo, output as ValueInfoProto];
  graph.output = [makeValueInfo(LOGITS, dtype, [batch, classes])];
  return model;
}
