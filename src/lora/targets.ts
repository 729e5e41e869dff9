// Which weights LoRA adapts, found in the graph: the weight slot of a MatMul, a Gemm or a Conv, as PEFT
// adapts nn.Linear and nn.Conv{1,2,3}d. Each target records how the exporter laid its weight out, so the
// adapter path and the merge both follow that layout.
import type { GraphProto, ModelProto, NodeProto } from '../onnx/proto.js';
import { DataType } from '../onnx/builder.js';
import { tensorDims } from '../onnx/tensor.js';
import { matchParameters } from '../optim/groups.js';
import { findParameters } from '../model/parameter-roles.js';
import { UserError, nameList } from '../errors.js';

export interface LoraTarget {
  /** The PyTorch module: the weight's name without `.weight` (PEFT's key for it). */
  module: string;
  weight: string;
  /** The node the adapter sits beside: its input 0 feeds the adapter, its output 0 gets the adapter's output added. */
  node: NodeProto;
  kind: 'linear' | 'conv';
  /**
   * How the initializer holds PyTorch's weight: `out-in` as nn.Linear ([out, in]: Gemm transB=1, or a
   * Transpose before a MatMul), `in-out` transposed ([in, out]: a MatMul or a Gemm transB=0). Conv: `out-in`.
   */
  layout: 'out-in' | 'in-out';
  inFeatures: number;
  outFeatures: number;
  /** Conv only: the kernel's spatial dims. */
  kernel: number[];
}

const attr = (node: NodeProto, name: string) => node.attribute.find((a) => a.name === name);
const intAttr = (node: NodeProto, name: string, fallback: number) => {
  const a = attr(node, name);
  return a ? Number(a.i) : fallback;
};

function consumers(graph: GraphProto, name: string): { node: NodeProto; slot: number }[] {
  return graph.node.flatMap((node) => node.input.flatMap((input, slot) => (input === name ? [{ node, slot }] : [])));
}

const moduleOf = (weight: string) => weight.replace(/\.weight$/, '');

/** The target a weight makes, or why it cannot be one (a sentence for the error message). */
function classify(graph: GraphProto, weight: string, dims: number[]): LoraTarget | string {
  const uses = consumers(graph, weight);
  if (uses.length !== 1) return uses.length === 0 ? 'no node reads it' : `${uses.length} nodes read it (a shared weight)`;
  const { node, slot } = uses[0];
  const target = (t: Omit<LoraTarget, 'module' | 'weight'>): LoraTarget => ({ module: moduleOf(weight), weight, ...t });
  if (node.opType === 'Gemm' && slot === 1 && dims.length === 2) {
    if (intAttr(node, 'transA', 0) !== 0) return `it feeds Gemm '${node.name}' with transA=1`;
    const outIn = intAttr(node, 'transB', 0) === 1;
    return target({ node, kind: 'linear', layout: outIn ? 'out-in' : 'in-out', inFeatures: dims[outIn ? 1 : 0], outFeatures: dims[outIn ? 0 : 1], kernel: [] });
  }
  if (node.opType === 'MatMul' && slot === 1 && dims.length === 2) {
    return target({ node, kind: 'linear', layout: 'in-out', inFeatures: dims[0], outFeatures: dims[1], kernel: [] });
  }
  if (node.opType === 'Transpose' && dims.length === 2) {
    // The dynamo exporter's nn.Linear: MatMul(x, Transpose(W)).
    const after = consumers(graph, node.output[0]);
    if (after.length === 1 && after[0].node.opType === 'MatMul' && after[0].slot === 1) {
      return target({ node: after[0].node, kind: 'linear', layout: 'out-in', inFeatures: dims[1], outFeatures: dims[0], kernel: [] });
    }
    return `it feeds Transpose '${node.name}', which does not feed a MatMul's weight slot`;
  }
  if (node.opType === 'Conv' && slot === 1 && dims.length >= 3) {
    if (intAttr(node, 'group', 1) !== 1) return `it feeds Conv '${node.name}' with group=${intAttr(node, 'group', 1)} (LoRA adapts convolutions with group=1)`;
    return target({ node, kind: 'conv', layout: 'out-in', inFeatures: dims[1], outFeatures: dims[0], kernel: dims.slice(2) });
  }
  return `it feeds ${node.opType} '${node.name}' (input ${slot}), not the weight of a MatMul, Gemm or Conv`;
}

/** The inputs of an op beyond its data input and weight: a Gemm's or Conv's bias. */
const biasOf = (t: LoraTarget) => (t.node.opType === 'MatMul' ? undefined : t.node.input[2] || undefined);

/**
 * The weights `glob` (over parameter names) selects, each checked to be the weight of a MatMul, Gemm or Conv.
 * The biases of those ops may be selected too (`backbone.*`): they stay frozen. Anything else is an error.
 */
export function findTargets(model: ModelProto, glob: string, option = '--targets'): LoraTarget[] {
  const names = findParameters(model.graph).parameters.map((t) => t.name);
  const matched = matchParameters(glob, names);
  if (matched.length === 0) throw new UserError(`${option} '${glob}' matches no parameter of the model (parameters: ${nameList(names, 8)})`);
  return targetsAmong(model, matched, `${option} '${glob}' selects`);
}

/** The targets of PEFT modules (an adapter's): each module's `.weight` must be a MatMul, Gemm or Conv weight. */
export function targetsOfModules(model: ModelProto, modules: readonly string[], source: string): LoraTarget[] {
  const names = new Set(findParameters(model.graph).parameters.map((t) => t.name));
  const missing = modules.find((m) => !names.has(`${m}.weight`));
  if (missing !== undefined) throw new UserError(`${source}: module '${missing}' has no weight '${missing}.weight' in the model`);
  return targetsAmong(model, modules.map((m) => `${m}.weight`), `${source} adapts`);
}

function targetsAmong(model: ModelProto, matched: readonly string[], what: string): LoraTarget[] {
  const graph = model.graph;
  const byName = new Map(findParameters(graph).parameters.map((t) => [t.name, t]));
  const targets: LoraTarget[] = [];
  const refused: [string, string][] = [];
  for (const name of matched) {
    const tensor = byName.get(name)!;
    const found = tensor.dataType === DataType.FLOAT ? classify(graph, name, tensorDims(tensor)) : 'it is not float32';
    if (typeof found === 'string') refused.push([name, found]);
    else targets.push(found);
  }
  const biases = new Set(targets.map(biasOf));
  const wrong = refused.filter(([name]) => !biases.has(name));
  if (wrong.length > 0) {
    throw new UserError(`${what} '${wrong[0][0]}', which LoRA cannot adapt: ${wrong[0][1]}${wrong.length > 1 ? ` (and ${wrong.length - 1} more)` : ''}`);
  }
  if (targets.length === 0) throw new UserError(`${what} no weight of a MatMul, Gemm or Conv`);
  return targets;
}

/**
 * PEFT's target_modules="all-linear": every MatMul and Gemm weight outside the head. compare's default; for a
 * model with none (a CNN whose only Linear is its head) there is no LoRA to run.
 */
export function allLinearTargets(model: ModelProto, head: string): LoraTarget[] {
  const graph = model.graph;
  const parameters = findParameters(graph).parameters.filter((t) => t.dataType === DataType.FLOAT);
  const inHead = new Set(matchParameters(head, parameters.map((t) => t.name)));
  return parameters.flatMap((t) => {
    if (inHead.has(t.name)) return [];
    const found = classify(graph, t.name, tensorDims(t));
    return typeof found !== 'string' && found.kind === 'linear' ? [found] : [];
  });
}

/** The rank must fit every target: 1 ≤ r ≤ min(in, out) (for a Conv, in counts the kernel's elements too). */
export function checkRank(targets: readonly LoraTarget[], rank: number, option = '--rank'): void {
  if (!Number.isSafeInteger(rank) || rank < 1) throw new UserError(`${option} must be a positive whole number, got ${rank}`);
  for (const t of targets) {
    const fanIn = t.inFeatures * t.kernel.reduce((a, b) => a * b, 1);
    const most = Math.min(fanIn, t.outFeatures);
    if (rank > most) throw new UserError(`${option} ${rank} is larger than the weight '${t.weight}' allows (${t.outFeatures} outputs, ${fanIn} inputs: at most ${most})`);
  }
}
