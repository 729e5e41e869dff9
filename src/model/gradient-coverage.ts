// Which of a model's ops a training run differentiates through, and whether each has a gradient rule: the
// question buildBackward answers one failure at a time, mid-build, asked of the whole graph up front.
// The gradient path is found as buildBackward finds it (src/autodiff/backward.ts): float tensors reachable
// forward from the trained parameters and backward from the logits (the first output), after the dynamo
// exporter's SplitToSequence/SequenceAt pairs are read as splits.
import { DataType } from '../onnx/builder.js';
import type { GraphProto, NodeProto } from '../onnx/proto.js';
import { indexGraph, nameNodes } from '../graph/graph-index.js';
import { inferShapes, type TensorInfo } from '../graph/shapes.js';
import { RULES } from '../autodiff/rules/index.js';
import { sequenceSplitsAsChunks } from '../autodiff/sequence-splits.js';
import { tensorsOnGradientPath } from '../autodiff/backward.js';

export interface OpCoverage {
  opType: string;
  /** '' for the default ONNX domain. */
  domain: string;
  /** Nodes of this op in the graph. */
  count: number;
  hasRule: boolean;
  /** The keys of the parameter sets whose training reaches a node of this op without a rule, and so fails. */
  blocks: string[];
  /** Those nodes, by name. */
  blockingNodes: string[];
}

/** A set of parameters trained together, e.g. a strategy's (key: 'linear_probe'). */
export interface TrainedSet {
  key: string;
  parameters: readonly string[];
}

const FLOAT_TYPES = new Set<number>([DataType.FLOAT, DataType.DOUBLE, DataType.FLOAT16, DataType.BFLOAT16]);

/** Every op type of the graph in order of first appearance, with what training each parameter set needs of it. */
export function gradientCoverage(graph: GraphProto, opset: number, sets: readonly TrainedSet[]): OpCoverage[] {
  const ops = new Map<string, OpCoverage>();
  for (const node of graph.node) {
    const domain = node.domain && node.domain !== 'ai.onnx' ? node.domain : '';
    const key = `${domain}:${node.opType}`;
    const op = ops.get(key) ?? { opType: node.opType, domain, count: 0, hasRule: RULES.has(node.opType), blocks: [], blockingNodes: [] };
    op.count++;
    ops.set(key, op);
  }
  const logits = graph.output[0]?.name;
  if (!logits) return [...ops.values()];
  const index = indexGraph(graph);
  const infos = inferShapes(graph, index, opset);
  const order = sequenceSplitsAsChunks(index.order, graph, infos);
  const names = nodeNames(graph);
  for (const set of sets) {
    for (const node of nodesOnGradientPath(order, set.parameters, logits, infos)) {
      if (RULES.has(node.opType)) continue;
      const domain = node.domain && node.domain !== 'ai.onnx' ? node.domain : '';
      const op = ops.get(`${domain}:${node.opType}`);
      if (!op) continue;
      if (!op.blocks.includes(set.key)) op.blocks.push(set.key);
      const name = names.get(node) ?? node.name;
      if (!op.blockingNodes.includes(name)) op.blockingNodes.push(name);
    }
  }
  return [...ops.values()];
}

/** Nodes with an input and an output on the gradient path: the ones buildBackward asks for a rule. */
function nodesOnGradientPath(order: NodeProto[], parameters: readonly string[], logits: string, infos: Map<string, TensorInfo>): NodeProto[] {
  if (parameters.length === 0) return [];
  const isFloat = (t: string) => FLOAT_TYPES.has(infos.get(t)?.dtype ?? DataType.FLOAT);
  const path = tensorsOnGradientPath(order, [...parameters], [logits], isFloat);
  const onPath = (t: string) => path.has(t);
  return order.filter((n) => n.output.some(onPath) && n.input.some(onPath));
}

/** Node names as training gives them (nameNodes), without renaming the caller's graph. */
function nodeNames(graph: GraphProto): Map<NodeProto, string> {
  const copies = graph.node.map((node) => ({ opType: node.opType, name: node.name }) as NodeProto);
  nameNodes({ node: copies } as GraphProto);
  return new Map(graph.node.map((node, i) => [node, copies[i].name]));
}
