// Dropout in training mode draws a random mask. ONNX Runtime's generator is its own: not seeded by the run,
// restarted with every session, so runs would not repeat and a resumed run would not match. Instead each
// training-mode Dropout becomes X · mask, and the trainer feeds the mask every step from the run's seeded
// generator (kept in snapshots): keep probability 1 − ratio, kept values scaled by 1 / (1 − ratio), as
// PyTorch's dropout does. Evaluation and the exported model run Dropout as the identity (model.eval()).
import { DataType, makeNode, makeValueInfo, type Dim } from '../onnx/builder.js';
import type { GraphProto, ModelProto, NodeProto, ValueInfoProto } from '../onnx/proto.js';
import { constantInts, type TensorInfo } from '../graph/shapes.js';
import { tensorValues } from '../onnx/tensor.js';
import { UserError } from '../errors.js';

export interface DropoutMask {
  /** The graph input the mask is fed to. */
  input: string;
  ratio: number;
  /** The masked tensor's shape; its first dim is the batch. */
  shape: Dim[];
}

export function isTrainingDropout(graph: GraphProto, node: NodeProto): boolean {
  if (node.opType !== 'Dropout' || !node.input[2]) return false;
  const mode = constantInts(graph, node.input[2]);
  if (!mode) throw new UserError(`Dropout node '${node.name}': training_mode must be a constant to train the model`);
  return mode[0] !== 0;
}

/**
 * Rewrites the graph's training-mode Dropout nodes to multiply by a fed mask (`train`); `evalVersion` maps
 * each of those to the identity the eval graph uses instead. Also returns the masks and their graph inputs.
 */
export function dropoutMasks(graph: GraphProto, infos: Map<string, TensorInfo>) {
  const masks: DropoutMask[] = [];
  const inputs: ValueInfoProto[] = [];
  const consumed = new Set(graph.node.flatMap((n) => n.input));
  const train: NodeProto[] = [];
  const evalVersion = new Map<NodeProto, NodeProto>();
  for (const node of graph.node) {
    if (!isTrainingDropout(graph, node)) {
      train.push(node);
      continue;
    }
    if (node.output[1] && consumed.has(node.output[1])) throw new UserError(`Dropout node '${node.name}': its mask output is read by other nodes; onnx-finetune feeds the mask itself`);
    const shape = infos.get(node.input[0])?.shape;
    if (!shape || shape.slice(1).some((d) => typeof d !== 'number')) {
      throw new UserError(`Dropout node '${node.name}': the shape of '${node.input[0]}' past the batch axis must be known to draw its mask`);
    }
    const ratio = node.input[1] ? Number(tensorValues(graph.initializer.find((t) => t.name === node.input[1]) ?? fail(node)).at(0)) : 0.5;
    const input = `${node.name}/mask`;
    masks.push({ input, ratio, shape });
    inputs.push(makeValueInfo(input, DataType.FLOAT, shape));
    const masked = makeNode('Mul', [node.input[0], input], [node.output[0]], {}, node.name);
    train.push(masked);
    evalVersion.set(masked, makeNode('Identity', [node.input[0]], [node.output[0]], {}, node.name));
  }
  return { masks, inputs, train, evalVersion };
}

/** The model as it runs for inference: Dropout in eval mode (its training_mode input dropped). */
export function inEvalMode(model: ModelProto): ModelProto {
  for (const node of model.graph.node) if (node.opType === 'Dropout' && node.input.length > 2) node.input = node.input.slice(0, 2);
  return model;
}

function fail(node: NodeProto): never {
  throw new UserError(`Dropout node '${node.name}': its ratio must be a constant initializer to train the model`);
}

/** One mask: each element kept with probability 1 − ratio, as 1 / (1 − ratio) (float32), else 0. */
export function drawMask(mask: DropoutMask, batch: number, next: () => number): Float32Array {
  const size = batch * (mask.shape.slice(1) as number[]).reduce((a, b) => a * b, 1);
  const keep = 1 - mask.ratio, scale = Math.fround(1 / keep);
  const values = new Float32Array(size);
  for (let i = 0; i < size; i++) values[i] = next() < keep ? scale : 0;
  return values;
}
