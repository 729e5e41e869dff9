// Static shape inference over the ops the project understands. A dim is a number, a symbol (e.g. 'batch')
// or null when unknown; a shape is null when even the rank is unknown. The backward pass uses it to know
// ranks and which axes were broadcast.
import { onnx, toNumber, type AttributeProto, type GraphProto, type NodeProto, type ValueInfoProto } from '../onnx/proto.js';
import { tensorDims, tensorValues } from '../onnx/tensor.js';
import type { Dim } from '../onnx/builder.js';
import type { GraphIndex } from './graph-index.js';
import { axisWindows, windowAttributes } from './windows.js';
import { foldIntValues } from './int-values.js';

export type Shape = Dim[] | null;
export interface TensorInfo {
  dtype: number;
  shape: Shape;
  /** Values of a small integer tensor computed from constants and static shapes (src/graph/int-values.ts). */
  values?: number[];
  /** The same with symbolic sizes and unknowns (null) where numbers are not known: a shape being computed. */
  symbols?: Dim[];
}

export interface ShapeEnv {
  info(name: string): TensorInfo | undefined;
  /** Integer values of a constant tensor (initializer or Constant node), when known. */
  intValues(name: string): number[] | undefined;
  node: NodeProto;
  opset: number;
  attr(name: string): AttributeProto | undefined;
}

type ShapeFn = (env: ShapeEnv) => TensorInfo[];

export function valueInfoShape(v: ValueInfoProto): TensorInfo | undefined {
  const tt = v.type?.tensorType;
  if (!tt) return undefined;
  const shape = tt.shape ? tt.shape.dim!.map((d) => (d.dimParam ? d.dimParam : d.dimValue !== undefined && d.dimValue !== null && toNumber(d.dimValue) > 0 ? toNumber(d.dimValue) : null)) : null;
  return { dtype: tt.elemType ?? 0, shape };
}

const INT_TYPES = new Set<number>([onnx.TensorProto.DataType.INT64, onnx.TensorProto.DataType.INT32, onnx.TensorProto.DataType.BOOL]);

/** Integer (or boolean, as 0 / 1) values of an initializer or Constant node output, if `name` is one. */
export function constantInts(graph: GraphProto, name: string): number[] | undefined {
  const init = graph.initializer.find((t) => t.name === name);
  const node = init ? undefined : graph.node.find((n) => n.opType === 'Constant' && n.output[0] === name);
  const tensor = init ?? node?.attribute.find((a) => a.name === 'value')?.t;
  if (tensor) return INT_TYPES.has(tensor.dataType) ? Array.from(tensorValues(tensor), Number) : undefined;
  const ints = node?.attribute.find((a) => a.name === 'value_ints' || a.name === 'value_int');
  if (!ints) return undefined;
  return ints.name === 'value_int' ? [toNumber(ints.i)] : ints.ints.map((v) => toNumber(v));
}

/** Values of a constant (initializer or Constant node output) of any numeric or boolean type, if `name` is one. */
export function constantValues(graph: GraphProto, name: string): number[] | undefined {
  const init = graph.initializer.find((t) => t.name === name);
  const tensor = init ?? graph.node.find((n) => n.opType === 'Constant' && n.output[0] === name)?.attribute.find((a) => a.name === 'value')?.t;
  if (!tensor) return undefined;
  try {
    return Array.from(tensorValues(tensor) as ArrayLike<number | bigint>, Number);
  } catch {
    return undefined;
  }
}

export function inferShapes(graph: GraphProto, index: GraphIndex, opset: number): Map<string, TensorInfo> {
  const infos = new Map<string, TensorInfo>();
  for (const t of graph.initializer) infos.set(t.name, { dtype: t.dataType, shape: tensorDims(t) });
  for (const v of [...graph.input, ...graph.valueInfo, ...graph.output]) {
    const info = valueInfoShape(v);
    if (info && !infos.has(v.name)) infos.set(v.name, info);
  }
  for (const node of index.order) {
    const attr = (name: string) => node.attribute.find((a) => a.name === name);
    const fn = SHAPE_FUNCTIONS[node.opType];
    const intValues = (n: string) => (n ? constantInts(graph, n) ?? infos.get(n)?.values : undefined);
    const env: ShapeEnv = { info: (n) => infos.get(n), intValues, node, opset, attr };
    const first = infos.get(node.input[0]);
    const results = fn ? fn(env) : node.output.map(() => ({ dtype: first?.dtype ?? 0, shape: null }));
    node.output.forEach((out, i) => {
      // Declared value_info from the file wins over what we infer only where we know less.
      const known = infos.get(out);
      const inferred = results[i] ?? { dtype: first?.dtype ?? 0, shape: null };
      if (!known || (known.shape === null && inferred.shape !== null)) infos.set(out, inferred);
    });
    const out0 = node.output[0] ? infos.get(node.output[0]) : undefined;
    const symbolValues = (n: string) => (n ? constantInts(graph, n) ?? infos.get(n)?.symbols : undefined);
    const symbols = out0 && foldIntValues({ node, attr, values: symbolValues, shape: (n) => infos.get(n)?.shape }, out0.dtype);
    if (out0 && symbols) {
      const values = symbols.every((d) => typeof d === 'number') ? symbols as number[] : undefined;
      infos.set(node.output[0], { ...out0, symbols, ...(values ? { values } : {}) });
    }
  }
  return infos;
}

const attrInt = (env: ShapeEnv, name: string, fallback: number) => {
  const a = env.attr(name);
  return a ? toNumber(a.i) : fallback;
};
const attrInts = (env: ShapeEnv, name: string): number[] | undefined => env.attr(name)?.ints.map((v) => toNumber(v));
const input = (env: ShapeEnv, i: number): TensorInfo => env.info(env.node.input[i]) ?? { dtype: 0, shape: null };

export function broadcastShapes(shapes: Shape[]): Shape {
  if (shapes.some((s) => s === null)) return null;
  const rank = Math.max(...shapes.map((s) => s!.length));
  const out: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    const dims = shapes.map((s) => s![s!.length - rank + i]).filter((d) => d !== undefined && d !== 1);
    out.push(dims.length === 0 ? 1 : dims.find((d) => typeof d === 'number') ?? dims.find((d) => typeof d === 'string') ?? null);
  }
  return out;
}

const sameAsInput: ShapeFn = (env) => [input(env, 0)];
const elementwise: ShapeFn = (env) => [{ dtype: input(env, 0).dtype, shape: broadcastShapes(env.node.input.map((_, i) => input(env, i).shape)) }];
const comparison: ShapeFn = (env) => [{ dtype: onnx.TensorProto.DataType.BOOL, shape: broadcastShapes([input(env, 0).shape, input(env, 1).shape]) }];

function normalizeAxis(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}

/** Axes of a Reduce, Squeeze or Unsqueeze node: an attribute before opset 13 (18 for most reductions), an input after. */
export function axesOf(env: Pick<ShapeEnv, 'node' | 'attr' | 'intValues'>): number[] | undefined {
  return attrInts(env as ShapeEnv, 'axes') ?? (env.node.input[1] ? env.intValues(env.node.input[1]) : undefined);
}

function reduce(env: ShapeEnv): TensorInfo[] {
  const x = input(env, 0);
  if (!x.shape) return [{ dtype: x.dtype, shape: null }];
  const keep = attrInt(env, 'keepdims', 1) === 1;
  const axesValue = axesOf(env);
  const hasAxesInput = env.node.input[1] !== undefined && env.node.input[1] !== '';
  if (axesValue === undefined && hasAxesInput) return [{ dtype: x.dtype, shape: null }];
  const noop = attrInt(env, 'noop_with_empty_axes', 0) === 1;
  const axes = (axesValue ?? []).length === 0 ? (noop ? [] : x.shape.map((_, i) => i)) : axesValue!.map((a) => normalizeAxis(a, x.shape!.length));
  const shape = x.shape.flatMap((d, i) => (axes.includes(i) ? (keep ? [1] : []) : [d]));
  return [{ dtype: x.dtype, shape }];
}

function matmulShape(a: Shape, b: Shape): Shape {
  if (!a || !b) return null;
  const a2 = a.length === 1 ? [1, a[0]] : a;
  const b2 = b.length === 1 ? [b[0], 1] : b;
  const batch = broadcastShapes([a2.slice(0, -2), b2.slice(0, -2)])!;
  const out: Dim[] = [...batch, a2[a2.length - 2], b2[b2.length - 1]];
  if (a.length === 1) out.splice(out.length - 2, 1);
  if (b.length === 1) out.pop();
  return out;
}

const isNumber = (d: Dim | undefined): d is number => typeof d === 'number';

/** Output shape of Conv and the pools: [N, channels, windows per spatial axis] (null where a size is unknown). */
function windowedShape(env: ShapeEnv, kernel: number[] | null, channels: Dim): Shape {
  const x = input(env, 0).shape;
  if (!x) return null;
  if (!kernel) return [x[0], channels, ...x.slice(2).map(() => null)];
  const w = windowAttributes(env.attr, kernel);
  return [x[0], channels, ...x.slice(2).map((d, i) => (isNumber(d) ? axisWindows(w, i, d).out : null))];
}

function convKernel(env: ShapeEnv): number[] | null {
  const w = input(env, 1).shape;
  const fromWeight = w && w.slice(2).every(isNumber) ? (w.slice(2) as number[]) : null;
  return attrInts(env, 'kernel_shape') ?? fromWeight;
}

const pool: ShapeFn = (env) => {
  const x = input(env, 0);
  const shape = windowedShape(env, attrInts(env, 'kernel_shape') ?? null, x.shape?.[1] ?? null);
  return [{ dtype: x.dtype, shape }, { dtype: onnx.TensorProto.DataType.INT64, shape }];
};

const globalPool: ShapeFn = (env) => {
  const x = input(env, 0);
  return [{ dtype: x.dtype, shape: x.shape ? [x.shape[0], x.shape[1], ...x.shape.slice(2).map(() => 1)] : null }];
};

function convTransposeShape(env: ShapeEnv): TensorInfo[] {
  const x = input(env, 0), w = input(env, 1).shape;
  const kernel = convKernel(env);
  const group = attrInt(env, 'group', 1);
  const channels = w && isNumber(w[1]) ? w[1] * group : null;
  if (!x.shape) return [{ dtype: x.dtype, shape: null }];
  const explicit = attrInts(env, 'output_shape');
  const n = x.shape.length - 2;
  const spatial = x.shape.slice(2).map((d, i): Dim => {
    if (explicit) return explicit[explicit.length - n + i];
    if (!isNumber(d) || !kernel) return null;
    const a = windowAttributes(env.attr, kernel);
    const outputPadding = attrInts(env, 'output_padding')?.[i] ?? 0;
    if (a.autoPad === 'SAME_UPPER' || a.autoPad === 'SAME_LOWER') return d * a.strides[i];
    const pads = a.autoPad === 'VALID' ? 0 : a.pads[i] + a.pads[i + n];
    return a.strides[i] * (d - 1) + outputPadding + (kernel[i] - 1) * a.dilations[i] + 1 - pads;
  });
  return [{ dtype: x.dtype, shape: [x.shape[0], channels, ...spatial] }];
}

/** One axis of a Slice: the first index taken, the step, and how many indices (ONNX's clamping rules). */
export function sliceRange(size: number, start: number, end: number, step: number): { start: number; step: number; count: number } {
  if (step === 0) throw new Error('Slice step cannot be 0');
  const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
  let s = start < 0 ? start + size : start;
  let e = end < 0 ? end + size : end;
  if (step > 0) {
    s = clamp(s, 0, size);
    e = clamp(e, 0, size);
  } else {
    s = clamp(s, 0, size - 1);
    e = clamp(e, -1, size - 1);
  }
  return { start: s, step, count: Math.max(0, Math.ceil((e - s) / step)) };
}

/** Constant starts, ends, axes and steps of a Slice node (opset 10+: all inputs), axes normalized; undefined if any is not constant. */
export function sliceParameters(env: Pick<ShapeEnv, 'node' | 'intValues'>, rank: number): { axis: number; start: number; end: number; step: number }[] | undefined {
  const [, startsName, endsName, axesName, stepsName] = env.node.input;
  const starts = env.intValues(startsName), ends = env.intValues(endsName);
  const axes = axesName ? env.intValues(axesName) : starts?.map((_, i) => i);
  const steps = stepsName ? env.intValues(stepsName) : starts?.map(() => 1);
  if (!starts || !ends || !axes || !steps) return undefined;
  return axes.map((a, i) => ({ axis: normalizeAxis(a, rank), start: starts[i], end: ends[i], step: steps[i] }));
}

function sliceShape(env: ShapeEnv): TensorInfo[] {
  const x = input(env, 0);
  if (!x.shape) return [{ dtype: x.dtype, shape: null }];
  const params = sliceParameters(env, x.shape.length);
  if (!params) return [{ dtype: x.dtype, shape: x.shape.map(() => null) }];
  const shape = [...x.shape];
  for (const p of params) {
    const d = x.shape[p.axis];
    shape[p.axis] = isNumber(d) ? sliceRange(d, p.start, p.end, p.step).count : null;
  }
  return [{ dtype: x.dtype, shape }];
}

/** Per-axis [begin, end] padding of a Pad node (pads and, from opset 18, axes as constant inputs). */
export function padAmounts(env: Pick<ShapeEnv, 'node' | 'intValues'>, rank: number): [number, number][] | undefined {
  const pads = env.intValues(env.node.input[1]);
  if (!pads) return undefined;
  const axes = env.node.input[3] ? env.intValues(env.node.input[3])?.map((a) => normalizeAxis(a, rank)) : Array.from({ length: rank }, (_, i) => i);
  if (!axes || pads.length !== 2 * axes.length) return undefined;
  const amounts: [number, number][] = Array.from({ length: rank }, () => [0, 0]);
  axes.forEach((a, i) => { amounts[a] = [pads[i], pads[i + axes.length]]; });
  return amounts;
}

function padShape(env: ShapeEnv): TensorInfo[] {
  const x = input(env, 0);
  if (!x.shape) return [{ dtype: x.dtype, shape: null }];
  const amounts = padAmounts(env, x.shape.length);
  if (!amounts) return [{ dtype: x.dtype, shape: x.shape.map(() => null) }];
  return [{ dtype: x.dtype, shape: x.shape.map((d, i) => (amounts[i][0] === 0 && amounts[i][1] === 0 ? d : isNumber(d) ? d + amounts[i][0] + amounts[i][1] : null)) }];
}

function concatShape(env: ShapeEnv): TensorInfo[] {
  const parts = env.node.input.map((_, i) => input(env, i));
  const first = parts.find((p) => p.shape) ?? parts[0];
  if (!first.shape) return [{ dtype: first.dtype, shape: null }];
  const rank = first.shape.length;
  const axis = normalizeAxis(attrInt(env, 'axis', 0), rank);
  const shape = first.shape.map((_, i): Dim => {
    if (i === axis) {
      const sizes = parts.map((p) => p.shape?.[axis]);
      return sizes.every(isNumber) ? sizes.reduce((a, b) => a + b, 0) : null;
    }
    return parts.map((p) => p.shape?.[i]).find(isNumber) ?? parts.map((p) => p.shape?.[i]).find((d) => typeof d === 'string') ?? null;
  });
  return [{ dtype: first.dtype, shape }];
}

const { INT64, BOOL, FLOAT } = onnx.TensorProto.DataType;
const ofType = (dtype: number): ShapeFn => (env) => [{ dtype, shape: input(env, 0).shape }];
const boolElementwise: ShapeFn = (env) => [{ dtype: BOOL, shape: broadcastShapes(env.node.input.map((_, i) => input(env, i).shape)) }];

function shapeOfShape(env: ShapeEnv): TensorInfo[] {
  const rank = input(env, 0).shape?.length;
  if (rank === undefined) return [{ dtype: INT64, shape: [null] }];
  const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + rank : v, 0), rank);
  return [{ dtype: INT64, shape: [Math.max(0, clamp(attrInt(env, 'end', rank)) - clamp(attrInt(env, 'start', 0)))] }];
}

/** The shape a 1-D shape tensor describes: its values (symbolic ones too) when known, else only its length (the rank). */
function shapeFromTensor(env: ShapeEnv, name: string): Shape {
  const values = env.intValues(name) ?? env.info(name)?.symbols;
  if (values) return values;
  const length = env.info(name)?.shape?.[0];
  // A rank beyond any real tensor's is a hostile declaration, not a shape.
  return isNumber(length) && length <= 64 ? new Array<Dim>(length).fill(null) : null;
}

/**
 * The size Reshape's -1 stands for: the input's element count over the other target sizes. Symbolic sizes
 * cancel by name; one left over on the input's side is the answer ([batch, 3, 2] -> [-1, 6] gives batch).
 */
function inferredDim(from: Dim[], others: Dim[]): Dim {
  if (from.some((d) => d === null) || others.some((d) => d === null)) return null;
  const symbols = from.filter((d): d is string => typeof d === 'string');
  for (const d of others) {
    if (typeof d !== 'string') continue;
    const k = symbols.indexOf(d);
    if (k < 0) return null;
    symbols.splice(k, 1);
  }
  const product = (dims: Dim[]) => dims.reduce<number>((p, d) => p * (typeof d === 'number' ? d : 1), 1);
  const [total, known] = [product(from), product(others)];
  if (symbols.length === 0) return known === 0 ? 0 : Number.isInteger(total / known) ? total / known : null;
  return symbols.length === 1 && total === known ? symbols[0] : null;
}

function gatherShape(env: ShapeEnv): TensorInfo[] {
  const data = input(env, 0), indices = input(env, 1).shape;
  if (!data.shape || !indices) return [{ dtype: data.dtype, shape: null }];
  const axis = normalizeAxis(attrInt(env, 'axis', 0), data.shape.length);
  return [{ dtype: data.dtype, shape: [...data.shape.slice(0, axis), ...indices, ...data.shape.slice(axis + 1)] }];
}

function gatherNDShape(env: ShapeEnv): TensorInfo[] {
  const data = input(env, 0), indices = input(env, 1).shape;
  const depth = indices?.[indices.length - 1];
  if (!data.shape || !indices || !isNumber(depth)) return [{ dtype: data.dtype, shape: null }];
  return [{ dtype: data.dtype, shape: [...indices.slice(0, -1), ...data.shape.slice(attrInt(env, 'batch_dims', 0) + depth)] }];
}

function layerNormShape(env: ShapeEnv): TensorInfo[] {
  const x = input(env, 0);
  const statsType = attrInt(env, 'stash_type', 1) === 1 ? FLOAT : x.dtype;
  if (!x.shape) return [x, { dtype: statsType, shape: null }, { dtype: statsType, shape: null }];
  const axis = normalizeAxis(attrInt(env, 'axis', -1), x.shape.length);
  const stats = x.shape.map((d, i) => (i < axis ? d : 1));
  return [x, { dtype: statsType, shape: stats }, { dtype: statsType, shape: stats }];
}

/** Sizes of a Split's outputs along its axis: the split input (opset 13+) or attribute, or equal parts. */
export function splitSizes(env: Pick<ShapeEnv, 'node' | 'attr' | 'intValues'>, axisSize: Dim): number[] | undefined {
  const explicit = env.node.input[1] ? env.intValues(env.node.input[1]) : attrInts(env as ShapeEnv, 'split');
  if (explicit) return explicit;
  if (env.node.input[1] || !isNumber(axisSize)) return undefined;
  const parts = env.node.output.length;
  const chunk = Math.ceil(axisSize / parts);
  return Array.from({ length: parts }, (_, i) => Math.max(0, Math.min(chunk, axisSize - i * chunk)));
}

function splitShape(env: ShapeEnv): TensorInfo[] {
  const x = input(env, 0);
  if (!x.shape) return env.node.output.map(() => ({ dtype: x.dtype, shape: null }));
  const axis = normalizeAxis(attrInt(env, 'axis', 0), x.shape.length);
  const sizes = splitSizes(env, x.shape[axis]);
  return env.node.output.map((_, i) => ({ dtype: x.dtype, shape: x.shape!.map((d, a) => (a === axis ? sizes?.[i] ?? null : d)) }));
}

/** A sequence's info describes its elements: SplitToSequence's chunks, with a null size where they differ. */
function splitToSequenceShape(env: ShapeEnv): TensorInfo[] {
  const x = input(env, 0);
  if (!x.shape) return [{ dtype: x.dtype, shape: null }];
  const axis = normalizeAxis(attrInt(env, 'axis', 0), x.shape.length);
  const size = x.shape[axis];
  let chunk: Dim = null;
  if (!env.node.input[1]) {
    if (attrInt(env, 'keepdims', 1) === 0) return [{ dtype: x.dtype, shape: x.shape.filter((_, i) => i !== axis) }];
    chunk = 1;
  } else {
    const sizes = env.intValues(env.node.input[1]);
    const scalar = env.info(env.node.input[1])?.shape?.length === 0;
    if (sizes && sizes.every((d) => d === sizes[0]) && (!scalar || (isNumber(size) && size % sizes[0] === 0))) chunk = sizes[0];
  }
  return [{ dtype: x.dtype, shape: x.shape.map((d, i) => (i === axis ? chunk : d)) }];
}

function argReduceShape(env: ShapeEnv): TensorInfo[] {
  const x = input(env, 0).shape;
  if (!x) return [{ dtype: INT64, shape: null }];
  const axis = normalizeAxis(attrInt(env, 'axis', 0), x.length);
  const keep = attrInt(env, 'keepdims', 1) === 1;
  return [{ dtype: INT64, shape: x.flatMap((d, i) => (i === axis ? (keep ? [1] : []) : [d])) }];
}

/** Parsed Einsum equation: one subscript string per operand and the output's (implicit output spelled out). */
export function einsumTerms(equation: string): { inputs: string[]; output: string } {
  const [lhs, rhs] = equation.replace(/\s/g, '').split('->');
  const inputs = lhs.split(',');
  if (rhs !== undefined) return { inputs, output: rhs };
  const letters = inputs.join('').replace(/\.\.\./g, '').split('');
  const once = [...new Set(letters)].filter((c) => letters.indexOf(c) === letters.lastIndexOf(c)).sort();
  return { inputs, output: (lhs.includes('...') ? '...' : '') + once.join('') };
}

function einsumShape(env: ShapeEnv): TensorInfo[] {
  const dtype = input(env, 0).dtype;
  const equation = env.attr('equation')?.s;
  if (!equation) return [{ dtype, shape: null }];
  const { inputs, output } = einsumTerms(new TextDecoder().decode(equation));
  if (output.includes('...')) return [{ dtype, shape: null }];
  const sizes = new Map<string, Dim>();
  inputs.forEach((term, k) => {
    const shape = input(env, k).shape;
    [...term].forEach((c, i) => {
      const d = shape?.[i] ?? null;
      if (!sizes.has(c) || (sizes.get(c) === 1 || sizes.get(c) === null)) sizes.set(c, d);
    });
  });
  return [{ dtype, shape: [...output].map((c) => sizes.get(c) ?? null) }];
}

export const SHAPE_FUNCTIONS: Record<string, ShapeFn> = {
  Identity: sameAsInput, Relu: sameAsInput, LeakyRelu: sameAsInput, Sigmoid: sameAsInput, Tanh: sameAsInput,
  Exp: sameAsInput, Log: sameAsInput, Neg: sameAsInput, Abs: sameAsInput, Sqrt: sameAsInput, Erf: sameAsInput,
  Softmax: sameAsInput, LogSoftmax: sameAsInput, Dropout: (env) => [input(env, 0), { dtype: onnx.TensorProto.DataType.BOOL, shape: input(env, 0).shape }],
  Clip: sameAsInput, Gelu: sameAsInput, Softplus: sameAsInput,
  Add: elementwise, Sub: elementwise, Mul: elementwise, Div: elementwise, Pow: (env) => [{ dtype: input(env, 0).dtype, shape: broadcastShapes([input(env, 0).shape, input(env, 1).shape]) }],
  Sum: elementwise, Max: elementwise, Min: elementwise,
  Where: (env) => [{ dtype: input(env, 1).dtype, shape: broadcastShapes([input(env, 0).shape, input(env, 1).shape, input(env, 2).shape]) }],
  Equal: comparison, Greater: comparison, Less: comparison, GreaterOrEqual: comparison, LessOrEqual: comparison,
  Cast: (env) => [{ dtype: attrInt(env, 'to', 0), shape: input(env, 0).shape }],
  Shape: shapeOfShape,
  Size: () => [{ dtype: onnx.TensorProto.DataType.INT64, shape: [] }],
  Gemm: (env) => {
    const a = input(env, 0).shape, b = input(env, 1).shape;
    const m = a ? a[attrInt(env, 'transA', 0) ? 1 : 0] : null;
    const n = b ? b[attrInt(env, 'transB', 0) ? 0 : 1] : null;
    return [{ dtype: input(env, 0).dtype, shape: [m ?? null, n ?? null] }];
  },
  MatMul: (env) => [{ dtype: input(env, 0).dtype, shape: matmulShape(input(env, 0).shape, input(env, 1).shape) }],
  Flatten: (env) => {
    const x = input(env, 0);
    if (!x.shape) return [{ dtype: x.dtype, shape: [null, null] }];
    const axis = normalizeAxis(attrInt(env, 'axis', 1), x.shape.length);
    const product = (dims: Dim[]) => (dims.every((d) => typeof d === 'number') ? (dims as number[]).reduce((p, d) => p * d, 1) : dims.length === 1 ? dims[0] : null);
    return [{ dtype: x.dtype, shape: [product(x.shape.slice(0, axis)), product(x.shape.slice(axis))] }];
  },
  Reshape: (env) => {
    const x = input(env, 0);
    const target: Dim[] | undefined = env.intValues(env.node.input[1]) ?? env.info(env.node.input[1])?.symbols;
    if (!target) return [{ dtype: x.dtype, shape: shapeFromTensor(env, env.node.input[1]) }];
    const allowZero = attrInt(env, 'allowzero', 0) === 1;
    const shape: Dim[] = target.map((d, i) => (d === 0 && !allowZero ? x.shape?.[i] ?? null : d === -1 ? null : d));
    const inferIndex = target.indexOf(-1);
    if (inferIndex >= 0 && x.shape) shape[inferIndex] = inferredDim(x.shape, shape.filter((_, i) => i !== inferIndex));
    return [{ dtype: x.dtype, shape }];
  },
  Transpose: (env) => {
    const x = input(env, 0);
    if (!x.shape) return [{ dtype: x.dtype, shape: null }];
    const perm = attrInts(env, 'perm') ?? x.shape.map((_, i) => x.shape!.length - 1 - i);
    return [{ dtype: x.dtype, shape: perm.map((p) => x.shape![p]) }];
  },
  Unsqueeze: (env) => {
    const x = input(env, 0);
    const axes = axesOf(env);
    if (!x.shape || !axes) return [{ dtype: x.dtype, shape: null }];
    const rank = x.shape.length + axes.length;
    const positions = axes.map((a) => normalizeAxis(a, rank));
    const rest = [...x.shape];
    return [{ dtype: x.dtype, shape: Array.from({ length: rank }, (_, i) => (positions.includes(i) ? 1 : rest.shift()!)) }];
  },
  Squeeze: (env) => {
    const x = input(env, 0);
    if (!x.shape) return [{ dtype: x.dtype, shape: null }];
    const axes = axesOf(env)?.map((a) => normalizeAxis(a, x.shape!.length));
    if (!axes && x.shape.some((d) => d === null || typeof d === 'string')) return [{ dtype: x.dtype, shape: null }];
    return [{ dtype: x.dtype, shape: x.shape.filter((d, i) => (axes ? !axes.includes(i) : d !== 1)) }];
  },
  ReduceSum: reduce, ReduceMean: reduce, ReduceMax: reduce, ReduceMin: reduce,
  Constant: (env) => {
    const t = env.attr('value')?.t;
    if (t) return [{ dtype: t.dataType, shape: tensorDims(t) }];
    const list = env.attr('value_ints') ?? env.attr('value_floats');
    const dtype = env.attr('value_int') || env.attr('value_ints') ? INT64 : env.attr('value_float') || env.attr('value_floats') ? FLOAT : 0;
    return [{ dtype, shape: list ? [(list.ints.length || list.floats.length)] : dtype ? [] : null }];
  },
  GatherElements: (env) => [{ dtype: input(env, 0).dtype, shape: input(env, 1).shape }],
  Conv: (env) => [{ dtype: input(env, 0).dtype, shape: windowedShape(env, convKernel(env), input(env, 1).shape?.[0] ?? null) }],
  ConvTranspose: convTransposeShape,
  MaxPool: pool, AveragePool: pool, GlobalAveragePool: globalPool, GlobalMaxPool: globalPool,
  BatchNormalization: (env) => [input(env, 0), input(env, 3), input(env, 4), input(env, 3), input(env, 4)],
  Concat: concatShape, Slice: sliceShape, Pad: padShape,
  HardSwish: sameAsInput, HardSigmoid: sameAsInput, Floor: sameAsInput, Ceil: sameAsInput, Round: sameAsInput,
  Sign: sameAsInput, Reciprocal: sameAsInput, Trilu: sameAsInput, CumSum: sameAsInput, Mod: elementwise,
  ScatterND: sameAsInput, ScatterElements: sameAsInput,
  Not: ofType(BOOL), IsNaN: ofType(BOOL), IsInf: ofType(BOOL), And: boolElementwise, Or: boolElementwise, Xor: boolElementwise,
  CastLike: (env) => [{ dtype: input(env, 1).dtype, shape: input(env, 0).shape }],
  Gather: gatherShape, GatherND: gatherNDShape, LayerNormalization: layerNormShape, Split: splitShape, Einsum: einsumShape,
  Expand: (env) => [{ dtype: input(env, 0).dtype, shape: broadcastShapes([input(env, 0).shape, shapeFromTensor(env, env.node.input[1])]) }],
  ConstantOfShape: (env) => [{ dtype: env.attr('value')?.t?.dataType ?? FLOAT, shape: shapeFromTensor(env, env.node.input[0]) }],
  Range: (env) => {
    const [start, limit, delta] = env.node.input.map((i) => env.intValues(i)?.[0]);
    const known = start !== undefined && limit !== undefined && delta !== undefined && delta !== 0;
    return [{ dtype: input(env, 0).dtype, shape: [known ? Math.max(Math.ceil((limit - start) / delta), 0) : null] }];
  },
  SplitToSequence: splitToSequenceShape, SequenceAt: (env) => [input(env, 0)],
  ArgMax: argReduceShape, ArgMin: argReduceShape,
  NonZero: (env) => [{ dtype: INT64, shape: [input(env, 0).shape?.length ?? null, null] }],
  Tile: (env) => {
    const x = input(env, 0), repeats = env.intValues(env.node.input[1]);
    return [{ dtype: x.dtype, shape: x.shape?.map((d, i) => (isNumber(d) && isNumber(repeats?.[i]) ? d * repeats![i] : repeats?.[i] === 1 ? d : null)) ?? null }];
  },
};
