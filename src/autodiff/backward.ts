// The backward driver: walks the graph in reverse topological order, restricted to the nodes that lie on a
// path from a trainable tensor to a seeded output, asks each node's rule for its input gradients, sums the
// gradients that meet at one tensor and undoes broadcasting.
import { DataType, makeNode, type Dim } from '../onnx/builder.js';
import { createEmitter } from '../graph/emitter.js';
import { toNumber, type GraphProto, type NodeProto, type TensorProto } from '../onnx/proto.js';
import type { GraphIndex } from '../graph/graph-index.js';
import { constantInts, constantValues, type Shape, type TensorInfo } from '../graph/shapes.js';
import { UserError } from '../errors.js';
import { reduceSum } from './emit.js';
import type { GradContext, GradRule } from './rule.js';
import { RULES } from './rules/index.js';
import { sequenceSplitsAsChunks } from './sequence-splits.js';

export interface BackwardRequest {
  graph: GraphProto;
  index: GraphIndex;
  infos: Map<string, TensorInfo>;
  opset: number;
  /** Tensors whose gradient is already in the graph (tensor -> name of its gradient). */
  seeds: Map<string, string>;
  /** Tensors to differentiate with respect to, usually the trainable parameters. */
  wrt: string[];
}

export interface BackwardResult {
  nodes: NodeProto[];
  initializers: TensorProto[];
  /** wrt tensor -> name of its gradient (`<tensor>_grad`). */
  gradients: Map<string, string>;
}

const FLOAT_TYPES = new Set<number>([DataType.FLOAT, DataType.DOUBLE, DataType.FLOAT16, DataType.BFLOAT16]);

export const gradName = (tensor: string) => `${tensor}_grad`;

export function buildBackward(req: BackwardRequest): BackwardResult {
  const { index, infos, seeds } = req;
  const isFloat = (t: string) => FLOAT_TYPES.has(infos.get(t)?.dtype ?? DataType.FLOAT);
  const order = sequenceSplitsAsChunks(index.order, req.graph, infos);
  const needed = tensorsOnGradientPath(order, req.wrt, [...seeds.keys()], isFloat);
  const active = order.filter((n) => n.output.some((o) => needed.has(o)) && n.input.some((i) => needed.has(i)));

  // How many gradient contributions each tensor will receive, so a lone one can be written under its final name.
  const expected = new Map<string, number>();
  const carriesGradient = (node: NodeProto, slot: number) => needed.has(node.input[slot]) && !RULES.get(node.opType)?.typeOnlyInputs?.includes(slot);
  for (const node of active) node.input.forEach((inp, slot) => { if (carriesGradient(node, slot)) expected.set(inp, (expected.get(inp) ?? 0) + 1); });
  const contributions = new Map<string, string[]>();
  const nodes: NodeProto[] = [];
  const initializers: TensorProto[] = [];

  const finalGradient = (tensor: string): string => {
    const parts = [...(seeds.has(tensor) ? [seeds.get(tensor)!] : []), ...(contributions.get(tensor) ?? [])];
    if (parts.length === 0) return '';
    if (parts.length === 1) return parts[0];
    const name = gradName(tensor);
    if (!nodes.some((n) => n.output[0] === name)) nodes.push(makeNode('Sum', parts, [name], {}, `${tensor}_Grad/Sum`));
    return name;
  };

  for (const node of [...active].reverse()) {
    const rule = RULES.get(node.opType);
    if (!rule) {
      throw new UserError(`no gradient rule for op '${node.opType}' (node '${node.name}') on the path to a trainable parameter`);
    }
    const { ctx, pending } = makeContext(node, rule, req, needed, initializers, expected, finalGradient);
    if (!node.output.some((_, i) => ctx.GO(i))) continue;
    nodes.push(...rule.grad(ctx));
    for (const { raw, target, input } of pending) nodes.push(...unbroadcast(ctx, raw, target, input));
    node.input.forEach((inp, slot) => {
      if (!carriesGradient(node, slot)) return;
      const list = contributions.get(inp) ?? [];
      list.push(contributionName(node, inp, slot, expected, seeds));
      contributions.set(inp, list);
    });
  }
  const gradients = new Map<string, string>();
  for (const w of req.wrt) {
    const g = finalGradient(w);
    if (!g) throw new UserError(`parameter '${w}' does not affect the loss, so it has no gradient`);
    gradients.set(w, g);
  }
  return { nodes: withoutPassThroughs(nodes, new Set(gradients.values())), initializers, gradients };
}

/**
 * Rules write each input gradient under its own name, often by an Identity (the gradient of an Add, of a
 * Gemm's bias before its un-broadcast). ONNX Runtime runs an Identity as a copy at a microsecond of overhead
 * each, so readers of an Identity's output read its input instead; only the named results keep theirs.
 */
function withoutPassThroughs(nodes: NodeProto[], results: Set<string>): NodeProto[] {
  const alias = new Map<string, string>();
  const resolve = (t: string) => alias.get(t) ?? t;
  const kept: NodeProto[] = [];
  for (const node of nodes) {
    node.input = node.input.map(resolve);
    if (node.opType === 'Identity' && !results.has(node.output[0])) alias.set(node.output[0], node.input[0]);
    else kept.push(node);
  }
  return kept;
}

/** Tensors reachable forward from wrt and backward from the seeds, float-typed. */
export function tensorsOnGradientPath(order: NodeProto[], wrt: string[], seeds: string[], isFloat: (t: string) => boolean): Set<string> {
  const fromWrt = new Set(wrt);
  for (const node of order) {
    if (node.input.some((i) => fromWrt.has(i))) for (const o of node.output) if (o && isFloat(o)) fromWrt.add(o);
  }
  const toSeeds = new Set(seeds);
  for (const node of [...order].reverse()) {
    if (node.output.some((o) => toSeeds.has(o))) for (const i of node.input) if (i && isFloat(i)) toSeeds.add(i);
  }
  return new Set([...fromWrt].filter((t) => toSeeds.has(t)));
}

function contributionName(node: NodeProto, input: string, slot: number, expected: Map<string, number>, seeds: Map<string, string>): string {
  return expected.get(input) === 1 && !seeds.has(input) ? gradName(input) : `${node.name}_Grad/${input}_grad_${slot}`;
}

function makeContext(node: NodeProto, rule: GradRule, req: BackwardRequest, needed: Set<string>, initializers: TensorProto[],
  expected: Map<string, number>, finalGradient: (t: string) => string) {
  const { infos, opset, seeds } = req;
  const pending: { raw: string; target: string; input: string }[] = [];
  const attr = (name: string) => node.attribute.find((a) => a.name === name);
  const dtype = infos.get(node.output[0])?.dtype ?? DataType.FLOAT;
  const emitter = createEmitter(`${node.name}_Grad`, dtype, opset, initializers);
  const shape = (t: string): Shape => infos.get(t)?.shape ?? null;
  const ctx: GradContext = {
    ...emitter,
    node,
    I: (i) => node.input[i] ?? '',
    O: (i) => node.output[i] ?? '',
    GO: (i) => (node.output[i] && needed.has(node.output[i]) ? finalGradient(node.output[i]) : ''),
    needsGrad: (i) => !!node.input[i] && needed.has(node.input[i]) && !rule.typeOnlyInputs?.includes(i),
    GI: (i) => {
      const input = node.input[i];
      const name = contributionName(node, input, i, expected, seeds);
      if (!rule.broadcastInputs?.includes(i) || !mayBroadcast(shape(node.output[0]), shape(input))) return name;
      const raw = emitter.tmp(`${input}_grad_${i}_unreduced`);
      if (!pending.some((p) => p.raw === raw)) pending.push({ raw, target: name, input });
      return raw;
    },
    GIAtInputShape: (i) => contributionName(node, node.input[i], i, expected, seeds),
    attr,
    attrInt: (name, fallback) => (attr(name) ? toNumber(attr(name)!.i) : fallback),
    attrFloat: (name, fallback) => (attr(name) ? attr(name)!.f : fallback),
    attrInts: (name) => attr(name)?.ints.map((v) => toNumber(v)),
    shape,
    dtypeOf: (t) => infos.get(t)?.dtype,
    rank: (t) => {
      const s = shape(t);
      if (!s) throw new UserError(`cannot infer the rank of '${t}' (input of node '${node.name}', ${node.opType}) to build its gradient`);
      return s.length;
    },
    intValues: (t) => constantInts(req.graph, t) ?? infos.get(t)?.values,
    values: (t) => constantValues(req.graph, t),
  };
  return { ctx, pending };
}

/** Could a gradient at the output's shape differ from the input's shape? (Unknown shapes: assume it could.) */
function mayBroadcast(out: Shape, inp: Shape): boolean {
  if (!out || !inp || out.length !== inp.length) return true;
  return inp.some((d, i) => (d === 1 && out[i] !== 1) || unknownBroadcast(d, out[i]));
}

/** An input axis of unknown size that may have been broadcast: its size is not known to match the output's. */
function unknownBroadcast(inDim: Dim, outDim: Dim): boolean {
  return inDim === null || (typeof inDim === 'string' && outDim !== inDim);
}

/**
 * Sums a gradient written at the output's shape back to an input's shape: the leading axes the input lacks,
 * then every axis where the input has size 1. Unknown ranks are an error. Where the input's size on an axis
 * is not known statically, the axes to sum are found at run time: those where the input has size 1 and the
 * output does not (reducing a size-1 axis is harmless).
 */
function unbroadcast(ctx: GradContext, raw: string, target: string, input: string): NodeProto[] {
  const outShape = ctx.shape(ctx.O(0));
  const inShape = ctx.shape(input);
  if (!outShape || !inShape) {
    throw new UserError(`cannot infer shapes around node '${ctx.node.name}' (${ctx.node.opType}) to undo its broadcasting of '${input}'`);
  }
  const lead = outShape.length - inShape.length;
  const leadAxes = Array.from({ length: lead }, (_, i) => i);
  const onesAxes = inShape.flatMap((d, i) => (d === 1 && outShape[i + lead] !== 1 ? [i] : []));
  const atRunTime = inShape.some((d, i) => unknownBroadcast(d, outShape[i + lead]));
  const nodes: NodeProto[] = [];
  let current = raw;
  if (leadAxes.length > 0) {
    const out = onesAxes.length > 0 || atRunTime ? `${raw}_lead` : target;
    nodes.push(reduceSum(ctx, current, leadAxes, false, out));
    current = out;
  }
  if (atRunTime) {
    const t = (suffix: string) => `${raw}_${suffix}`;
    nodes.push(
      ctx.make('Shape', [input], [t('in_shape')]),
      ctx.make('Shape', [current], [t('out_shape')]),
      ctx.make('Equal', [t('in_shape'), ctx.ints('unbroadcast_size_one', [1], [])], [t('in_one')]),
      ctx.make('Equal', [t('in_shape'), t('out_shape')], [t('same')]),
      ctx.make('Not', [t('same')], [t('differs')]),
      ctx.make('And', [t('in_one'), t('differs')], [t('broadcast')]),
      ctx.make('NonZero', [t('broadcast')], [t('broadcast_nz')]),
      ctx.make('Reshape', [t('broadcast_nz'), ctx.ints('unbroadcast_flat', [-1])], [t('axes')]),
      ctx.make('ReduceSum', [current, t('axes')], [target], { keepdims: 1, noop_with_empty_axes: 1 }),
    );
  } else if (onesAxes.length > 0) nodes.push(reduceSum(ctx, current, onesAxes, true, target));
  if (nodes.length === 0) nodes.push(ctx.make('Identity', [raw], [target]));
  return nodes;
}
