// BatchNormalization as the user chooses it (--batchnorm):
//   frozen  every BatchNorm normalizes with its running statistics (PyTorch eval()); the rule in
//           src/autodiff/rules/batch-norm.ts differentiates that form.
//   train   every BatchNorm normalizes with its batch's mean and biased variance, and its running statistics
//           follow them after every step as PyTorch's train() does (PyTorch momentum 0.1, the running
//           variance from the unbiased batch variance), whatever is frozen.
//   auto    per stage: a BatchNorm whose scale and bias are both frozen runs as frozen, the others as train.
// The train graph spells a batch-statistics BatchNorm out in standard ops, so the existing rules give the
// gradient through the statistics, and outputs the batch mean and variance for the trainer. The eval graph
// keeps the inference form and takes that node's running statistics (buffers) as inputs: they change
// during the stage. A model exported in training mode is brought to inference form on load.
import { onnx, type AttributeProto, type GraphProto, type NodeProto, type TensorProto, type ValueInfoProto } from '../onnx/proto.js';
import { DataType, makeAttribute, makeValueInfo } from '../onnx/builder.js';
import { tensorValues } from '../onnx/tensor.js';
import type { TensorInfo } from '../graph/shapes.js';
import { createEmitter } from '../graph/emitter.js';
import { reduceMean, unsqueeze } from '../autodiff/emit.js';
import { UserError } from '../errors.js';

export const BATCH_NORM_MODES = ['frozen', 'train', 'auto'] as const;
export type BatchNormMode = (typeof BATCH_NORM_MODES)[number];

/** A BatchNorm that normalizes with batch statistics in a stage's train graph. */
export interface BatchStatistics {
  node: string;
  /** Train-graph outputs: the batch's mean and biased variance per channel (shaped [1, C, 1, …]). */
  mean: string;
  variance: string;
  /** The running statistics (buffers) the batch statistics update; eval-graph inputs. */
  runningMean: string;
  runningVar: string;
  /** ONNX's momentum: running = momentum · running + (1 − momentum) · batch. */
  momentum: number;
  channels: number;
  /** Values per channel in one example (the product of the spatial dims). */
  perExample: number;
}

const attribute = (node: NodeProto, name: string) => node.attribute.find((a) => a.name === name);

/** A BatchNorm that normalizes with its batch's statistics (marked so for a stage by markBatchStatistics). */
export function usesBatchStatistics(node: NodeProto): boolean {
  return node.opType === 'BatchNormalization' && Number(attribute(node, 'training_mode')?.i ?? 0) === 1;
}

/**
 * A model exported in training mode (TrainingMode.TRAINING or PRESERVE) as it runs for inference: each
 * BatchNorm with training_mode 1 or extra outputs (running or saved statistics) keeps its one output Y and
 * reads its running statistics, the initializers it had. Extra outputs that something reads are refused.
 */
export function batchNormInInferenceForm(graph: GraphProto, source = 'model'): void {
  const read = new Set([...graph.node.flatMap((n) => n.input), ...graph.output.map((o) => o.name)]);
  for (const node of graph.node) {
    if (node.opType !== 'BatchNormalization' || (!attribute(node, 'training_mode') && node.output.length <= 1)) continue;
    const used = node.output.slice(1).filter((o) => o && read.has(o));
    if (used.length > 0) {
      throw new UserError(`${source}: BatchNormalization node '${node.name}' is in training mode and its statistics output '${used[0]}' is read; ` +
        're-export the model in eval mode (torch.onnx.export(..., training=torch.onnx.TrainingMode.EVAL))');
    }
    node.output = node.output.slice(0, 1);
    node.attribute = node.attribute.filter((a) => a.name !== 'training_mode');
  }
}

/**
 * The stage's nodes with each BatchNorm that runs on batch statistics marked training_mode 1 (a copy; the
 * others are left as they are). In auto mode those are the ones whose scale or bias trains.
 */
export function markBatchStatistics(nodes: NodeProto[], trainable: ReadonlySet<string>, mode: BatchNormMode): NodeProto[] {
  return nodes.map((node) => {
    if (node.opType !== 'BatchNormalization' || mode === 'frozen') return node;
    if (mode === 'auto' && !trainable.has(node.input[1]) && !trainable.has(node.input[2])) return node;
    return withAttributes(node, [...node.attribute.filter((a) => a.name !== 'training_mode'), makeAttribute('training_mode', 1)]);
  });
}

function withAttributes(node: NodeProto, attribute: AttributeProto[]): NodeProto {
  const { name, opType, domain, input, output } = node;
  return onnx.NodeProto.create({ name, opType, domain, input: [...input], output: [...output], attribute: attribute as never }) as unknown as NodeProto;
}

/**
 * The train graph's and the eval graph's versions of nodes marked by markBatchStatistics: in `train`, each
 * such BatchNorm spelled out on its batch statistics (which become `outputs`); in `eval`, its inference form
 * reading its running statistics from `inputs`, no longer initializers (`fed`).
 */
export function batchStatistics(nodes: NodeProto[], infos: Map<string, TensorInfo>, initializers: TensorProto[], opset: number) {
  const statistics: BatchStatistics[] = [];
  const train: NodeProto[] = [];
  const evalNodes: NodeProto[] = [];
  const constants: TensorProto[] = [];
  const outputs: ValueInfoProto[] = [];
  const inputs: ValueInfoProto[] = [];
  for (const node of nodes) {
    if (!usesBatchStatistics(node)) {
      train.push(node);
      evalNodes.push(node);
      continue;
    }
    const [X, scale, bias, runningMean, runningVar] = node.input;
    const info = infos.get(X);
    const shape = info?.shape;
    if (!shape || shape.length < 2 || shape.slice(1).some((d) => typeof d !== 'number')) {
      throw new UserError(`BatchNormalization node '${node.name}': the shape of '${X}' past the batch axis must be known to train on batch statistics`);
    }
    const dims = shape.slice(1) as number[];
    const stat = {
      node: node.name, mean: `${node.name}/batch_mean`, variance: `${node.name}/batch_var`, runningMean, runningVar,
      momentum: attribute(node, 'momentum')?.f ?? 0.9, channels: dims[0], perExample: dims.slice(1).reduce((a, b) => a * b, 1),
    };
    statistics.push(stat);
    const dtype = info!.dtype || DataType.FLOAT;
    const e = createEmitter(node.name, dtype, opset, constants);
    const axes = [0, ...dims.slice(1).map((_, i) => i + 2)];
    // Y = (X − mean) · scale / √(var + ε) + B, mean and var over the batch and the spatial axes.
    const spelled: NodeProto[] = [
      reduceMean(e, X, axes, true, stat.mean),
      e.make('Sub', [X, stat.mean], [e.tmp('centered')]),
      e.make('Mul', [e.tmp('centered'), e.tmp('centered')], [e.tmp('squared')]),
      reduceMean(e, e.tmp('squared'), axes, true, stat.variance),
      e.make('Add', [stat.variance, e.constant('epsilon', [attribute(node, 'epsilon')?.f ?? 1e-5])], [e.tmp('var_eps')]),
      e.make('Sqrt', [e.tmp('var_eps')], [e.tmp('sigma')]),
    ];
    /** A per-channel [C] tensor shaped [C, 1, …] to broadcast against X (once, should scale and bias be one). */
    const perChannel = (t: string) => {
      const shaped = e.tmp(`${t}_bc`);
      if (dims.length === 1) return t;
      if (!spelled.some((n) => n.output[0] === shaped)) spelled.push(unsqueeze(e, t, axes.slice(1).map((a) => a - 1), shaped));
      return shaped;
    };
    const scaleBc = perChannel(scale), biasBc = perChannel(bias);
    spelled.push(
      e.make('Div', [scaleBc, e.tmp('sigma')], [e.tmp('k')]),
      e.make('Mul', [e.tmp('centered'), e.tmp('k')], [e.tmp('scaled')]),
      e.make('Add', [e.tmp('scaled'), biasBc], [node.output[0]]),
    );
    train.push(...spelled);
    const statShape = [1, ...dims.map((d, i) => (i === 0 ? d : 1))];
    outputs.push(makeValueInfo(stat.mean, dtype, statShape), makeValueInfo(stat.variance, dtype, statShape));
    evalNodes.push(withAttributes(node, node.attribute.filter((a) => a.name !== 'training_mode')));
    for (const name of [runningMean, runningVar]) {
      const t = initializers.find((i) => i.name === name);
      if (!t) throw new UserError(`BatchNormalization node '${node.name}': its running statistic '${name}' must be an initializer to train on batch statistics`);
      if (!inputs.some((i) => i.name === name)) inputs.push(makeValueInfo(name, t.dataType, t.dims.map(Number)));
    }
  }
  return { statistics, train, eval: evalNodes, constants, outputs, inputs, fed: new Set(inputs.map((i) => i.name)) };
}

/** The running statistics of every BatchNorm (its mean and variance initializers): the run's buffers. */
export function runningStatistics(graph: GraphProto): Map<string, Float32Array> {
  const buffers = new Map<string, Float32Array>();
  for (const node of graph.node) {
    if (node.opType !== 'BatchNormalization') continue;
    for (const name of node.input.slice(3, 5)) {
      const t = graph.initializer.find((i) => i.name === name);
      if (t && !buffers.has(name)) buffers.set(name, Float32Array.from(tensorValues(t) as ArrayLike<number>));
    }
  }
  return buffers;
}

/**
 * After a step on `batch` examples, each running statistic moves toward the batch's, as PyTorch's CPU kernel
 * does in float32: running = (1 − m) · batch + m · running with m the ONNX momentum, the variance unbiased
 * (n / (n − 1), n values per channel).
 */
export function updateRunningStatistics(statistics: BatchStatistics[], output: (name: string) => ArrayLike<number>, buffers: Map<string, Float32Array>, batch: number): void {
  for (const s of statistics) {
    const n = batch * s.perExample;
    if (n < 2) {
      throw new UserError(`BatchNormalization node '${s.node}': a batch of ${batch} gives ${n} value per channel, and batch statistics need more than 1 (as in PyTorch); ` +
        'change --batch-size so that no batch has a single example, or use --batchnorm frozen');
    }
    // ONNX stores 1 − PyTorch's momentum in float32 (0.9 for 0.1); PyTorch weighs the batch by its own
    // float32 momentum, recovered here by rounding to float32's 7 significant digits.
    const keep = Math.fround(s.momentum), take = Math.fround(1 - Number(keep.toPrecision(7)));
    const mean = output(s.mean), variance = output(s.variance);
    const runningMean = buffers.get(s.runningMean)!, runningVar = buffers.get(s.runningVar)!;
    for (let c = 0; c < s.channels; c++) {
      runningMean[c] = Math.fround(Math.fround(take * mean[c]) + Math.fround(keep * runningMean[c]));
      const unbiased = Math.fround((variance[c] * n) / (n - 1));
      runningVar[c] = Math.fround(take * unbiased + Math.fround(keep * runningVar[c]));
    }
  }
}
