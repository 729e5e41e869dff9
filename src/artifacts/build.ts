// Training artifacts from (model, trainable parameters, loss): a train graph (loss, logits and the gradient
// of every trainable parameter), an eval graph (loss and logits) and, at the end, an inference model.
// Trainable parameters become graph inputs; frozen ones stay initializers, so no gradient is built for them.
import { DataType, makeValueInfo, type Dim } from '../onnx/builder.js';
import { onnx, type GraphProto, type ModelProto, type NodeProto, type TensorProto } from '../onnx/proto.js';
import { elementCount, rawBytes, type TypedArray } from '../onnx/tensor.js';
import { indexGraph, nameNodes } from '../graph/graph-index.js';
import { inferShapes } from '../graph/shapes.js';
import { convsAsGemms } from '../graph/conv-as-gemm.js';
import { foldStaticShapes } from '../graph/static-shapes.js';
import { createEmitter, type Emitter } from '../graph/emitter.js';
import { buildBackward, gradName } from '../autodiff/backward.js';
import { describeModel, type ModelSummary } from '../model/describe.js';
import type { Loss } from '../losses/index.js';
import { UserError } from '../errors.js';
import { splitFrozenPrefix } from './frozen-prefix.js';
import { dropoutMasks, type DropoutMask } from './dropout-masks.js';
import { batchNormInInferenceForm, batchStatistics, markBatchStatistics, type BatchNormMode, type BatchStatistics } from './batch-norm-mode.js';

export const LABELS = 'labels';
export const LOSS = 'loss';
/** The train graph's every gradient in one flat tensor, in `trainable` order (see flatGradients). */
export const GRADIENTS = 'gradients';
/**
 * Train graphs with fewer gradient elements than this have the flat GRADIENTS output. ONNX Runtime runs
 * every node whether its output is fetched or not, and above this size the Concat's copy (1.4 ms for the
 * 1.9M gradients of an MLP 784-1024-1024-10) costs more than fetching each gradient output on its own.
 */
export const FLAT_GRADIENTS_MAX_ELEMENTS = 1 << 17;

export interface Artifacts {
  train: ModelProto;
  eval: ModelProto;
  /** The frozen prefix (data inputs -> its outputs), when the train and eval graphs start after it. */
  prefix?: ModelProto;
  /**
   * The tensors the train and eval graphs take as data, one value per example: the model's data inputs, or
   * the prefix's outputs and the data inputs the rest of the model reads directly.
   */
  inputs: string[];
  summary: ModelSummary;
  /**
   * Trainable parameters in feed order: the train graph's gradient output for each, and where its values
   * lie (row-major) in the flat GRADIENTS output, when the graph has one (see FLAT_GRADIENTS_MAX_ELEMENTS).
   */
  trainable: { name: string; dims: number[]; gradient: string; offset: number; size: number }[];
  /** Whether the train graph has the flat GRADIENTS output (see FLAT_GRADIENTS_MAX_ELEMENTS). */
  flatGradients: boolean;
  labelShape: Dim[];
  labelType: 'float' | 'int64';
  /** Training-mode Dropout masks the train graph takes as inputs, one per node, drawn by the trainer. */
  masks: DropoutMask[];
  /** BatchNorms on batch statistics: the train graph outputs them, the eval graph takes the running ones. */
  batchStatistics: BatchStatistics[];
}

export function cloneModel(model: ModelProto): ModelProto {
  return onnx.ModelProto.decode(onnx.ModelProto.encode(model as never).finish()) as unknown as ModelProto;
}

export interface BuildOptions {
  batchNorm?: BatchNormMode;
  /** Tensors that must not end a frozen prefix: running it showed they do not hold one row per example. */
  notPerExample?: ReadonlySet<string>;
  /** false: no frozen prefix; the train graph runs the whole model (its features would not fit in memory). */
  splitPrefix?: boolean;
}

export function buildArtifacts(model: ModelProto, trainable: string[], loss: Loss, options: BuildOptions = {}): Artifacts {
  const summary = describeModel(model);
  const known = new Map(summary.parameters.map((p) => [p.name, p]));
  for (const name of trainable) if (!known.has(name)) throw new UserError(`'${name}' is not a parameter of the model`);
  if (trainable.length === 0) throw new UserError('a train graph needs at least one trainable parameter');
  const base = cloneModel(model);
  const graph = base.graph;
  nameNodes(graph);
  batchNormInInferenceForm(graph);
  graph.node = indexGraph(graph).order;
  const trainableSet = new Set(trainable);
  const floatType = graph.initializer.find((t) => trainableSet.has(t.name))?.dataType ?? DataType.FLOAT;
  const logitsShape: Dim[] = summary.logitsShape ?? ['batch', null];
  const labelShape = loss.labelShape(logitsShape);

  const shapes = inferShapes(graph, indexGraph(graph), summary.opset);
  const dropout = dropoutMasks(graph, shapes);
  graph.node = markBatchStatistics(dropout.train, trainableSet, options.batchNorm ?? 'auto');
  const dataNames = summary.inputs.map((i) => i.name);
  let dataInputs = graph.input.filter((i) => dataNames.includes(i.name));
  // A fed mask changes every step, like a trainable parameter: what reads one is not a frozen prefix.
  const split = options.splitPrefix !== false && splitFrozenPrefix(graph, dataNames, new Set([...trainable, ...dropout.masks.map((m) => m.input)]), shapes, options.notPerExample);
  let prefix: ModelProto | undefined;
  if (split) {
    const boundary = split.boundary.map((name) => makeValueInfo(name, shapes.get(name)!.dtype, shapes.get(name)!.shape));
    const prefixInputs = dataInputs.filter((i) => split.prefixInputs.includes(i.name));
    prefix = withGraph(base, { ...graph, input: prefixInputs, node: split.prefix, output: boundary, initializer: usedBy(split.prefix, graph.initializer) });
    graph.node = split.rest;
    dataInputs = [...boundary, ...dataInputs.filter((i) => split.direct.includes(i.name))];
  }
  graph.initializer = graph.initializer.filter((t) => !trainableSet.has(t.name));
  graph.input = [
    ...dataInputs,
    ...trainable.map((name) => makeValueInfo(name, floatType, known.get(name)!.dims)),
    makeValueInfo(LABELS, loss.labelType === 'int64' ? DataType.INT64 : floatType, labelShape),
  ];
  const batchNorm = batchStatistics(graph.node, shapes, graph.initializer, summary.opset);
  const evalNodes = batchNorm.eval.map((n) => dropout.evalVersion.get(n) ?? n);
  graph.initializer = [...graph.initializer, ...batchNorm.constants];
  graph.node = convsAsGemms(batchNorm.train, shapes, graph.initializer, summary.opset);

  const lossInits: TensorProto[] = [];
  const emitter = createEmitter('loss', floatType, summary.opset, lossInits);
  const io = { logits: summary.logits, labels: LABELS, logitsShape };
  const forward = loss.forward(emitter, io, LOSS);
  const logitsOutput = graph.output[0];
  const lossOutput = makeValueInfo(LOSS, floatType, []);

  const evalModel = withGraph(base, {
    ...graph,
    input: [...graph.input, ...batchNorm.inputs],
    node: [...evalNodes, ...forward],
    initializer: [...usedBy(evalNodes, graph.initializer).filter((t) => !batchNorm.fed.has(t.name)), ...lossInits],
    output: [lossOutput, logitsOutput],
  });

  const seedName = gradName(summary.logits);
  const lossGradient = loss.gradient(emitter, io, seedName);
  const forwardGraph = { ...graph, input: [...graph.input, ...dropout.inputs], node: [...graph.node] } as GraphProto;
  const index = indexGraph(forwardGraph);
  const infos = inferShapes(forwardGraph, index, summary.opset);
  const backward = buildBackward({ graph: forwardGraph, index, infos, opset: summary.opset, seeds: new Map([[summary.logits, seedName]]), wrt: trainable });
  let offset = 0;
  const trainableOut = trainable.map((name) => {
    const dims = known.get(name)!.dims, size = elementCount(dims);
    offset += size;
    return { name, dims, gradient: backward.gradients.get(name)!, offset: offset - size, size };
  });
  const flat = offset < FLAT_GRADIENTS_MAX_ELEMENTS;
  const flatNodes = flat ? flatGradients(createEmitter(GRADIENTS, floatType, summary.opset, lossInits), trainableOut) : [];
  const flatOutput = flat ? [makeValueInfo(GRADIENTS, floatType, [offset])] : [];
  const trainModel = withGraph(base, {
    ...graph,
    input: forwardGraph.input,
    node: [...graph.node, ...forward, ...lossGradient, ...backward.nodes, ...flatNodes],
    initializer: [...usedBy(graph.node, graph.initializer), ...lossInits, ...backward.initializers],
    output: [lossOutput, logitsOutput, ...trainableOut.map((p) => makeValueInfo(p.gradient, floatType, p.dims)), ...flatOutput, ...batchNorm.outputs],
  });
  // Shapes known but for the batch, computed at every run, become constants (fewer nodes per run).
  foldStaticShapes(trainModel.graph, summary.opset);
  foldStaticShapes(evalModel.graph, summary.opset);
  return { train: trainModel, eval: evalModel, prefix, inputs: dataInputs.map((i) => i.name), summary, trainable: trainableOut, flatGradients: flat, labelShape, labelType: loss.labelType, masks: dropout.masks,
    batchStatistics: batchNorm.statistics };
}

/**
 * Every gradient flattened into one tensor. The trainer fetches this alone from a small model:
 * onnxruntime-node turns each fetched output into a new JavaScript tensor at several microseconds apiece,
 * more than a Reshape and a Concat cost there, and the optimizer then walks one array.
 */
function flatGradients(e: Emitter, trainable: { gradient: string; dims: number[] }[]): NodeProto[] {
  const nodes: NodeProto[] = [];
  const parts = trainable.map((p) => {
    if (p.dims.length === 1) return p.gradient;
    nodes.push(e.make('Reshape', [p.gradient, e.ints('flat', [-1])], [e.tmp(`${p.gradient}_flat`)]));
    return e.tmp(`${p.gradient}_flat`);
  });
  return [...nodes, e.make('Concat', parts, [GRADIENTS], { axis: 0 })];
}

/** The initializers some node reads (a frozen prefix takes its weights with it). */
function usedBy(nodes: NodeProto[], initializers: TensorProto[]): TensorProto[] {
  const read = new Set(nodes.flatMap((n) => n.input));
  return initializers.filter((t) => read.has(t.name));
}

function withGraph(model: ModelProto, graph: Partial<GraphProto>): ModelProto {
  const copy = onnx.ModelProto.create({ ...model, graph: onnx.GraphProto.create({ ...model.graph, ...graph } as never) } as never);
  return copy as unknown as ModelProto;
}

/**
 * The source model with the given parameter (and buffer) values as its initializers: same names, inputs and
 * outputs; BatchNorm in inference form.
 */
export function inferenceModel(source: ModelProto, values: ReadonlyMap<string, TypedArray>): ModelProto {
  const model = cloneModel(source);
  batchNormInInferenceForm(model.graph);
  for (const t of model.graph.initializer) {
    const v = values.get(t.name);
    if (v) {
      t.rawData = rawBytes(v);
      t.floatData = [];
      t.doubleData = [];
    }
  }
  return model;
}

export type { NodeProto };
