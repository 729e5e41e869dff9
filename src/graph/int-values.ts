// Values of small integer tensors computed by shape subgraphs (Shape -> Gather -> Concat -> Reshape ...), folded
// statically. Exporters compute axes, target shapes and split sizes this way instead of writing constants; rules
// and shape inference need them. An element is a number, a symbolic size taken from a shape ('batch') or null
// when unknown, so a target shape [batch, 16, 2, 16] built from Shape(x) keeps what is known of it.
import { onnx, toNumber, type AttributeProto, type NodeProto } from '../onnx/proto.js';
import type { Dim } from '../onnx/builder.js';

const { INT64, INT32 } = onnx.TensorProto.DataType;
/** Larger integer tensors are data (token ids), not shapes: not folded. */
const MAX_FOLDED = 64;

export interface FoldEnv {
  node: NodeProto;
  /** Known values of an input (constant or folded), symbolic sizes included. */
  values(name: string): Dim[] | undefined;
  /** Static shape of an input, if known. */
  shape(name: string): Dim[] | null | undefined;
  attr(name: string): AttributeProto | undefined;
}

const attrInt = (env: FoldEnv, name: string, fallback: number) => (env.attr(name) ? toNumber(env.attr(name)!.i) : fallback);
const isNumbers = (dims: Dim[] | null | undefined): dims is number[] => !!dims && dims.every((d) => typeof d === 'number');

/** Values of the Constant node's output, for its integer forms (value, value_int, value_ints). */
function constantNodeInts(env: FoldEnv): number[] | undefined {
  const a = env.attr('value_ints') ?? env.attr('value_int');
  if (a) return a.name === 'value_int' ? [toNumber(a.i)] : a.ints.map((v) => toNumber(v));
  return undefined;
}

/** Arithmetic on numbers; a symbolic or unknown operand gives an unknown element. */
function elementwise(env: FoldEnv, f: (a: number, b: number) => number): Dim[] | undefined {
  const a = env.values(env.node.input[0]), b = env.values(env.node.input[1]);
  if (!a || !b) return undefined;
  if (a.length !== b.length && a.length !== 1 && b.length !== 1) return undefined;
  const n = Math.max(a.length, b.length);
  return Array.from({ length: n }, (_, i) => {
    const [x, y] = [a[a.length === 1 ? 0 : i], b[b.length === 1 ? 0 : i]];
    return typeof x === 'number' && typeof y === 'number' ? f(x, y) : null;
  });
}

const passThrough = (env: FoldEnv) => env.values(env.node.input[0]);

const FOLDS: Record<string, (env: FoldEnv) => Dim[] | undefined> = {
  Constant: constantNodeInts,
  Shape: (env) => {
    const dims = env.shape(env.node.input[0]);
    if (!dims) return undefined;
    const rank = dims.length;
    const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + rank : v, 0), rank);
    return dims.slice(clamp(attrInt(env, 'start', 0)), clamp(attrInt(env, 'end', rank)));
  },
  Size: (env) => {
    const dims = env.shape(env.node.input[0]);
    return isNumbers(dims) ? [dims.reduce((p, d) => p * d, 1)] : undefined;
  },
  Identity: passThrough, Reshape: passThrough, Unsqueeze: passThrough, Squeeze: passThrough, Flatten: passThrough,
  Cast: (env) => ([INT64, INT32].includes(attrInt(env, 'to', 0)) ? env.values(env.node.input[0])?.map((d) => (typeof d === 'number' ? Math.trunc(d) : d)) : undefined),
  Concat: (env) => {
    const parts = env.node.input.map((i) => env.values(i));
    return parts.every((p): p is Dim[] => !!p) ? parts.flat() : undefined;
  },
  Gather: (env) => {
    const data = env.values(env.node.input[0]), indices = numbers(env.values(env.node.input[1]));
    if (!data || !indices || (env.shape(env.node.input[0])?.length ?? 1) !== 1) return undefined;
    return indices.map((i) => data[i < 0 ? i + data.length : i] ?? null);
  },
  Slice: (env) => {
    const data = env.values(env.node.input[0]);
    const [starts, ends] = [numbers(env.values(env.node.input[1])), numbers(env.values(env.node.input[2]))];
    const steps = env.node.input[4] ? numbers(env.values(env.node.input[4])) : [1];
    if (!data || !starts || !ends || !steps || starts.length !== 1 || (env.shape(env.node.input[0])?.length ?? 1) !== 1) return undefined;
    const n = data.length;
    const step = steps[0];
    if (step === 0) return undefined;
    const norm = (v: number, lo: number, hi: number) => Math.min(Math.max(v < 0 ? v + n : v, lo), hi);
    const out: Dim[] = [];
    if (step > 0) for (let i = norm(starts[0], 0, n); i < norm(ends[0], 0, n); i += step) out.push(data[i]);
    else for (let i = norm(starts[0], 0, n - 1); i > norm(ends[0], -1, n - 1); i += step) out.push(data[i]);
    return out;
  },
  Add: (env) => elementwise(env, (a, b) => a + b),
  Sub: (env) => elementwise(env, (a, b) => a - b),
  Mul: (env) => elementwise(env, (a, b) => a * b),
  Div: (env) => elementwise(env, (a, b) => Math.trunc(a / b)),
  Max: (env) => elementwise(env, Math.max),
  Min: (env) => elementwise(env, Math.min),
  Range: (env) => {
    const [start, limit, delta] = env.node.input.map((i) => env.values(i)?.[0]);
    if (typeof start !== 'number' || typeof limit !== 'number' || typeof delta !== 'number' || delta === 0) return undefined;
    const count = Math.max(Math.ceil((limit - start) / delta), 0);
    return count <= MAX_FOLDED ? Array.from({ length: count }, (_, i) => start + i * delta) : undefined;
  },
};

const numbers = (values: Dim[] | undefined): number[] | undefined => (values && values.every((d) => typeof d === 'number') ? values as number[] : undefined);

/** Integer values of a node's first output, if it is a foldable op of integer type: unknown where all are. */
export function foldIntValues(env: FoldEnv, outputType: number): Dim[] | undefined {
  if (outputType !== INT64 && outputType !== INT32) return undefined;
  const values = FOLDS[env.node.opType]?.(env);
  if (!values || values.length > MAX_FOLDED || values.every((d) => d === null)) return undefined;
  return values.map((d) => (typeof d === 'number' && !Number.isFinite(d) ? null : d));
}
