// The frozen prefix: the nodes that read the data input but no trainable parameter (a frozen backbone).
// Their output is the same every epoch, so a stage computes it once per example and trains on it; the
// training step then runs only the part of the model that learns. Used only when the prefix meets the rest
// of the graph in one tensor and is deterministic (no random op, no BatchNorm on batch statistics).
import type { GraphProto, NodeProto } from '../onnx/proto.js';
import { usesBatchStatistics } from './batch-norm-mode.js';

// Ops whose output differs from run to run: their prefix cannot be computed once.
const RANDOM_OPS = new Set(['RandomNormal', 'RandomNormalLike', 'RandomUniform', 'RandomUniformLike', 'Bernoulli', 'Multinomial']);

export interface PrefixSplit {
  /** Nodes computing `boundary` from the data input (with the constant-only nodes they need). */
  prefix: NodeProto[];
  /** Nodes of the rest of the model, reading `boundary` instead of the data input. */
  rest: NodeProto[];
  boundary: string;
}

/** Expects graph.node in topological order. */
/** `varying`: the inputs that change from step to step (trainable parameters, fed Dropout masks). */
export function splitFrozenPrefix(graph: GraphProto, dataInput: string, varying: ReadonlySet<string>): PrefixSplit | null {
  const fromTrainable = reachable(graph.node, varying);
  const fromData = reachable(graph.node, new Set([dataInput]));
  const isPrefix = (n: NodeProto) => n.input.some((i) => fromData.has(i)) && !n.input.some((i) => fromTrainable.has(i));
  const prefixData = graph.node.filter(isPrefix);
  if (prefixData.length === 0 || prefixData.some((n) => RANDOM_OPS.has(n.opType) || usesBatchStatistics(n))) return null;
  const rest = graph.node.filter((n) => !isPrefix(n));
  const produced = new Set(prefixData.flatMap((n) => n.output));
  const graphOutputs = new Set(graph.output.map((o) => o.name));
  const boundary = new Set<string>();
  for (const n of rest) for (const i of n.input) if (produced.has(i) || i === dataInput) boundary.add(i);
  for (const o of graphOutputs) if (produced.has(o)) boundary.add(o);
  if (boundary.size !== 1 || boundary.has(dataInput)) return null;
  const [name] = boundary;
  return { prefix: closure(graph.node, name, fromTrainable), rest, boundary: name };
}

function reachable(nodes: NodeProto[], sources: ReadonlySet<string>): Set<string> {
  const seen = new Set(sources);
  for (const n of nodes) if (n.input.some((i) => seen.has(i))) for (const o of n.output) seen.add(o);
  return seen;
}

/** The nodes `target` depends on, in graph order (prefix nodes and constant-only nodes alike). */
function closure(nodes: NodeProto[], target: string, fromTrainable: Set<string>): NodeProto[] {
  const needed = new Set([target]);
  const picked = new Set<NodeProto>();
  for (const n of [...nodes].reverse()) {
    if (!n.output.some((o) => needed.has(o)) || n.input.some((i) => fromTrainable.has(i))) continue;
    picked.add(n);
    for (const i of n.input) if (i) needed.add(i);
  }
  return nodes.filter((n) => picked.has(n));
}
