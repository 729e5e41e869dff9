// The frozen prefix: the nodes that read the data inputs but no trainable parameter (a frozen backbone).
// Their outputs are the same every epoch, so a stage computes them once per example and trains on them; the
// training step then runs only the part of the model that learns. The rest of the graph reads the prefix's
// outputs (the boundary) plus whatever data inputs it reads directly (BERT's attention mask, read in every
// layer). Every boundary tensor must hold one value per example, batch first: one that does not (a Shape, the
// batch positions of a Range over the batch size) is computed in the rest instead, from the tensors it is
// computed from. A prefix with a random op or a BatchNorm on batch statistics is none.
import type { GraphProto, NodeProto } from '../onnx/proto.js';
import type { TensorInfo } from '../graph/shapes.js';
import type { Dim } from '../onnx/builder.js';
import { INPUT_TYPES } from '../data/dataset.js';
import { usesBatchStatistics } from './batch-norm-mode.js';

// Ops whose output differs from run to run: their prefix cannot be computed once.
const RANDOM_OPS = new Set(['RandomNormal', 'RandomNormalLike', 'RandomUniform', 'RandomUniformLike', 'Bernoulli', 'Multinomial']);

export interface PrefixSplit {
  /** Nodes computing the boundary from the data inputs (with the constant-only nodes they need). */
  prefix: NodeProto[];
  /** The data inputs the prefix reads. */
  prefixInputs: string[];
  /** Nodes of the rest of the model, reading the boundary instead of what the prefix computes. */
  rest: NodeProto[];
  /** Tensors the prefix computes and the rest reads, in graph order. */
  boundary: string[];
  /** Data inputs the rest reads directly. */
  direct: string[];
}

/**
 * Expects graph.node in topological order. `varying`: the inputs that change from step to step (trainable
 * parameters, fed Dropout masks). `shapes`: the graph's inferred tensor types and shapes. `notPerExample`:
 * tensors found, by running an earlier prefix, not to hold one row per example.
 */
export function splitFrozenPrefix(graph: GraphProto, dataInputs: readonly string[], varying: ReadonlySet<string>, shapes: ReadonlyMap<string, TensorInfo>,
  notPerExample: ReadonlySet<string> = new Set()): PrefixSplit | null {
  // Only what the logits depend on: the train and eval graphs output nothing else.
  const logits = graph.output[0].name;
  const nodes = closure(graph.node, [logits], new Set());
  const fromTrainable = reachable(nodes, varying);
  const fromData = reachable(nodes, new Set(dataInputs));
  const batchFirst = perExampleTest(nodes, dataInputs, shapes);
  const perExample = (name: string) => !notPerExample.has(name) && batchFirst(name);
  const inPrefix = new Set(nodes.filter((n) => n.input.some((i) => fromData.has(i)) && !n.input.some((i) => fromTrainable.has(i))));
  if ([...inPrefix].some((n) => RANDOM_OPS.has(n.opType) || usesBatchStatistics(n))) return null;
  const producer = new Map(nodes.flatMap((n) => n.output.map((o) => [o, n] as const)));
  let rest: NodeProto[], boundary: string[];
  for (;;) {
    // What the logits need besides the prefix (not the constant nodes only the prefix reads), and what it reads of the prefix.
    rest = closure(nodes.filter((n) => !inPrefix.has(n)), [logits], new Set());
    const read = new Set([logits, ...rest.flatMap((n) => n.input)]);
    boundary = [...inPrefix].flatMap((n) => n.output).filter((o) => read.has(o));
    const moved = boundary.filter((b) => !perExample(b));
    if (moved.length === 0) break;
    for (const b of moved) inPrefix.delete(producer.get(b)!);
  }
  if (boundary.length === 0) return null;
  const prefix = closure(nodes, boundary, fromTrainable);
  const readBy = (some: NodeProto[]) => dataInputs.filter((d) => some.some((n) => n.input.includes(d)));
  return { prefix, prefixInputs: readBy(prefix), rest, boundary, direct: readBy(rest) };
}

/**
 * Whether a tensor holds one value per example, batch first, of a type a dataset holds: it is computed from
 * the data's values (not only from their shapes, through Shape or Size: Range over the batch size gives batch
 * positions, not examples' values) and its inferred first dim is the data's batch dim or unknown. The unknown
 * case is a guess (a Reshape to [batch · sequence, hidden] passes it), and so is a tensor mixing values with
 * batch positions (GPT-2's GatherND indices): running the prefix checks both (see stageExamples).
 */
function perExampleTest(nodes: NodeProto[], dataInputs: readonly string[], shapes: ReadonlyMap<string, TensorInfo>): (name: string) => boolean {
  const batchDims = new Set<Dim | undefined>(dataInputs.map((d) => shapes.get(d)?.shape?.[0]).filter((d) => typeof d === 'string'));
  const fromValues = reachable(nodes, new Set(dataInputs), (n) => n.opType !== 'Shape' && n.opType !== 'Size');
  return (name) => {
    const info = shapes.get(name);
    if (!info || !INPUT_TYPES[info.dtype] || info.shape?.length === 0) return false;
    const first = info.shape?.[0];
    return fromValues.has(name) && (first === undefined || first === null || batchDims.has(first));
  };
}

function reachable(nodes: NodeProto[], sources: ReadonlySet<string>, through: (n: NodeProto) => boolean = () => true): Set<string> {
  const seen = new Set(sources);
  for (const n of nodes) if (through(n) && n.input.some((i) => seen.has(i))) for (const o of n.output) seen.add(o);
  return seen;
}

/** The nodes the targets depend on, in graph order (prefix nodes and constant-only nodes alike), short of those reading `fromTrainable`. */
function closure(nodes: NodeProto[], targets: string[], fromTrainable: ReadonlySet<string>): NodeProto[] {
  const needed = new Set(targets);
  const picked = new Set<NodeProto>();
  for (const n of [...nodes].reverse()) {
    if (!n.output.some((o) => needed.has(o)) || n.input.some((i) => fromTrainable.has(i))) continue;
    picked.add(n);
    for (const i of n.input) if (i) needed.add(i);
  }
  return nodes.filter((n) => picked.has(n));
}
