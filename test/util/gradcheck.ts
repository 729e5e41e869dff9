// A finite-difference gradient checker (after onnxruntime's orttraining gradient checker).
//
// A small forward graph, built in float64, computes y from its inputs. The backward driver builds dX for each
// checked input X, seeded with a graph input `y_grad` that holds a fixed random upstream gradient v, so the
// analytic result is the gradient of the scalar f = sum(y · v). Each element of it is compared with a central
// difference of f, run through a forward-only session:
//
//   numeric_i = (f(x + h e_i) - f(x - h e_i)) / 2h,   h = 1e-6 · max(1, |x_i|)
//   |analytic_i - numeric_i| / max(|numeric_i|, 1e-3 · max_j |numeric_j|) <= 1e-5
//
// In float64 the truncation error (h²) and the rounding error (1e-16 / h) are both around 1e-10, far below the
// tolerance. All random values come from a seeded generator, so a failure reproduces exactly.
//
// Ops without double kernels. onnxruntime-node's CPU provider has no float64 kernel for Conv, ConvTranspose,
// AveragePool, GlobalAveragePool, GlobalMaxPool or Erf (hence Gelu). A case for such an op brings `reference`:
// an independent float64 JavaScript implementation of its forward. Then
//   - the numeric gradient is the central difference of the reference, in float64 as above;
//   - the ORT forward runs in float32 and must agree with the reference (to 1e-6 of the output's largest
//     magnitude), which ties the reference to onnxruntime's semantics (pads, ceil_mode, auto_pad, divisors);
//   - the backward graph runs in float64 when it needs no such op (`float32: 'forward'`: the graph is pruned to
//     the nodes the gradients read, so the forward op itself drops out), else in float32 (`float32: 'both'`).
// Every input and v is then drawn on a grid of 1/64 with |x| in [13/64, 77/64]: exactly representable in float32,
// so both sides see the same numbers. The criterion stays the one above, unchanged, even for float32 backward
// graphs, because on such data their rounding error is far below it:
//   - Conv, ConvTranspose, Gemm, Transpose, ReduceSum: a product of two grid values is a multiple of 2^-12 below
//     1.5 (of three, in the CNN chain case, 2^-18 below 2), and the sums in these cases stay far enough below
//     2^11 (2^5) that every partial sum fits float32's 24-bit significand: the float32 gradient is exact, in any
//     summation order (test/gradients-nn.test.ts checks this bit for bit). What error remains (~1e-6 at most,
//     on elements near the 1e-3 floor) is the float64 central difference's own rounding, as in any case;
//   - AveragePool divides by window counts (a rounding of u = 2^-24 each); its cases draw v positive, so the
//     at most 10 same-signed terms of a gradient element are off by at most 10 u < 1e-6 relative;
//   - Erf and Exp in float32 are good to a few u, so Gelu' = Φ + xφ is off by a few u · (|Φ| + |xφ|). The Gelu
//     cases keep x off the zero of Gelu' (x ≈ -0.75), where that would be large relative to Gelu' itself; at
//     their x the ratio (|Φ| + |xφ|) / |Gelu'| is at most 3, so the error stays near 1e-6 at worst (8e-7 seen).
import { DataType, makeGraph, makeModel, makeTensor, makeValueInfo, OPSET, type Dim } from '../../src/onnx/builder.js';
import { tensorDims, tensorValues } from '../../src/onnx/tensor.js';
import { onnx, type ModelProto, type NodeProto, type TensorProto } from '../../src/onnx/proto.js';
import { indexGraph, nameNodes } from '../../src/graph/graph-index.js';
import { inferShapes, type TensorInfo } from '../../src/graph/shapes.js';
import { buildBackward, type BackwardResult } from '../../src/autodiff/backward.js';
import { Rng } from '../../src/train/rng.js';
import { createSession, ort } from '../../src/runtime/session.js';

export const TOLERANCE = 1e-5;
export const UPSTREAM = 'y_grad';

export { Rng };

/** A stable seed from a case name, so each case draws its own reproducible values. */
export function seedFrom(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h >>> 0;
}

/**
 * How to draw an input's values. 'nonzero' (the default) keeps |x| in [0.2, 1.2] with a random sign, away
 * from the kinks of Relu and LeakyRelu and from the poles of Div; 'positive' is the same range, positive (Log).
 */
export type Draw = 'nonzero' | 'positive';

/** Values snapped to multiples of 1/64 (exact in float32), keeping |x| within [13/64, 77/64] as drawn. */
export function onGrid(values: Float64Array): Float64Array {
  return values.map((v) => Math.sign(v) * Math.min(77, Math.max(13, Math.round(Math.abs(v) * 64))) / 64);
}

export function draw(rng: Rng, count: number, kind: Draw = 'nonzero'): Float64Array {
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const magnitude = rng.uniform(0.2, 1.2);
    out[i] = kind === 'positive' || rng.next() < 0.5 ? magnitude : -magnitude;
  }
  return out;
}

export interface Feed {
  dims: number[];
  data: Float64Array | BigInt64Array;
}
export type Feeds = Record<string, Feed>;

export const size = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);

/** Feeds as onnxruntime tensors; float data as float64, or float32 for a float32 graph. */
export function toOrt(feeds: Feeds, floatType: number = DataType.DOUBLE): Record<string, ort.Tensor> {
  const out: Record<string, ort.Tensor> = {};
  for (const [name, f] of Object.entries(feeds)) {
    out[name] = f.data instanceof BigInt64Array ? new ort.Tensor('int64', f.data, f.dims)
      : floatType === DataType.FLOAT ? new ort.Tensor('float32', Float32Array.from(f.data), f.dims) : new ort.Tensor('float64', f.data, f.dims);
  }
  return out;
}

/** A float64 forward in JavaScript: y from the current values of the float inputs. */
export type Reference = (inputs: Record<string, Float64Array>) => Float64Array;

function floatInputs(feeds: Feeds): Record<string, Float64Array> {
  return Object.fromEntries(Object.entries(feeds).flatMap(([name, f]) => (f.data instanceof Float64Array ? [[name, f.data]] : [])));
}

export interface InputSpec {
  name: string;
  dims: number[];
  /** The shape the graph declares, when it differs from the fed dims (a symbolic batch: ['batch', 3]). */
  shape?: Dim[];
  /** Fixed values; drawn from the case's generator when omitted. */
  values?: ArrayLike<number>;
  draw?: Draw;
  /** 'int64' inputs are fed as-is and never differentiated. */
  type?: 'double' | 'int64';
}

export interface GradCheckSpec {
  name: string;
  /** Forward nodes; unnamed ones are named `<opType>_<i>` as the project does. */
  nodes: NodeProto[];
  inputs: InputSpec[];
  /** Initializers: constant axes, shapes, and float constants that are not checked. */
  constants?: TensorProto[];
  /** The tensor y whose weighted sum is differentiated. */
  output: string;
  /** Inputs to differentiate with respect to; every double input by default. */
  wrt?: string[];
  opset?: number;
  /** The upstream gradient v; drawn from the case's generator when omitted. */
  upstream?: ArrayLike<number>;
  /** How v is drawn (default 'nonzero'). */
  upstreamDraw?: Draw;
  tolerance?: number;
  /**
   * An independent float64 JavaScript forward, for ops onnxruntime has no double kernel for (see the top of the
   * file): the numeric gradient comes from it, and the float32 ORT forward must agree with it.
   */
  reference?: Reference;
  /** Which ORT graphs need float32: 'forward' (only the forward op) or 'both'. Requires `reference`. */
  float32?: 'forward' | 'both';
}

export interface Built {
  forward: ModelProto;
  backward: ModelProto;
  /** Float element type of each model (DataType.DOUBLE or DataType.FLOAT). */
  forwardType: number;
  backwardType: number;
  result: BackwardResult;
  infos: Map<string, TensorInfo>;
  feeds: Feeds;
  wrt: string[];
  rng: Rng;
}

/** Builds the forward-check model (every node output is a graph output) and the backward model for a spec. */
export function buildCase(spec: GradCheckSpec): Built {
  const opset = spec.opset ?? OPSET;
  if (spec.float32 && !spec.reference) throw new Error(`${spec.name}: a float32 case needs a float64 reference forward`);
  const grid = !!spec.reference;
  const forwardType = spec.float32 ? DataType.FLOAT : DataType.DOUBLE;
  const backwardType = spec.float32 === 'both' ? DataType.FLOAT : DataType.DOUBLE;
  const rng = new Rng(seedFrom(spec.name));
  const feeds: Feeds = {};
  for (const input of spec.inputs) {
    const count = size(input.dims);
    if (input.values && input.values.length !== count) throw new Error(`${spec.name}: ${input.values.length} values for '${input.name}' [${input.dims}]`);
    if (grid && input.values && Array.from(input.values).some((v) => Math.fround(v) !== v)) throw new Error(`${spec.name}: values of '${input.name}' are not exact in float32`);
    const drawn = () => (grid ? onGrid(draw(rng, count, input.draw)) : draw(rng, count, input.draw));
    const data = input.type === 'int64'
      ? BigInt64Array.from(Array.from(input.values ?? new Array<number>(count).fill(0), (v) => BigInt(v)))
      : input.values ? Float64Array.from(input.values) : drawn();
    feeds[input.name] = { dims: input.dims, data };
  }
  const wrt = spec.wrt ?? spec.inputs.filter((i) => i.type !== 'int64').map((i) => i.name);
  const inputsOf = (floatType: number) => spec.inputs.map((i) => makeValueInfo(i.name, i.type === 'int64' ? DataType.INT64 : floatType, i.shape ?? i.dims));
  const constantsOf = (floatType: number) => (spec.constants ?? []).map((t) => withFloatType(t, floatType));
  // Copies, so that naming them leaves the spec untouched and two builds of one spec start equal.
  const nodes = spec.nodes.map((n) => onnx.NodeProto.decode(onnx.NodeProto.encode(n as never).finish()) as unknown as NodeProto);
  const graph = makeGraph(nodes, spec.name, inputsOf(backwardType), [makeValueInfo(spec.output, backwardType, null)], constantsOf(backwardType));
  nameNodes(graph);
  const index = indexGraph(graph);
  const infos = inferShapes(graph, index, opset);

  // Sequences cannot be declared as tensor outputs; the tensors read from them are checked.
  const allOutputs = [...new Set(graph.node.filter((n) => !SEQUENCE_MAKERS.has(n.opType)).flatMap((n) => n.output.filter(Boolean)))];
  const forwardElem = (t: string) => (infos.get(t)?.dtype === backwardType || infos.get(t)?.dtype === undefined ? forwardType : infos.get(t)!.dtype);
  const forward = makeModel(makeGraph(graph.node, spec.name, inputsOf(forwardType),
    [spec.output, ...allOutputs.filter((o) => o !== spec.output)].map((o) => makeValueInfo(o, forwardElem(o), null)),
    constantsOf(forwardType)), { opset });

  const result = buildBackward({ graph, index, infos, opset, seeds: new Map([[spec.output, UPSTREAM]]), wrt });
  const yShape = infos.get(spec.output)?.shape ?? null;
  const gradientNames = wrt.map((w) => result.gradients.get(w)!);
  const backward = makeModel(makeGraph(readBy([...graph.node, ...result.nodes], gradientNames), `${spec.name}_backward`,
    [...inputsOf(backwardType), makeValueInfo(UPSTREAM, backwardType, yShape)],
    gradientNames.map((g) => makeValueInfo(g, backwardType, null)),
    [...constantsOf(backwardType), ...result.initializers]), { opset });
  return { forward, backward, forwardType, backwardType, result, infos, feeds, wrt, rng };
}

const SEQUENCE_MAKERS = new Set(['SplitToSequence', 'SequenceConstruct', 'SequenceInsert', 'SequenceErase', 'SequenceEmpty']);

/** The nodes that the given tensors depend on (nodes in topological order). */
function readBy(nodes: NodeProto[], outputs: string[]): NodeProto[] {
  const needed = new Set(outputs);
  const kept = new Set<NodeProto>();
  for (const node of [...nodes].reverse()) {
    if (!node.output.some((o) => needed.has(o))) continue;
    kept.add(node);
    for (const i of node.input) if (i) needed.add(i);
  }
  return nodes.filter((n) => kept.has(n));
}

/** A float constant of the spec in the graph's float type (integer constants as they are). */
function withFloatType(t: TensorProto, floatType: number): TensorProto {
  if (t.dataType !== DataType.DOUBLE || floatType === DataType.DOUBLE) return t;
  const values = Array.from(tensorValues(t) as Float64Array);
  if (values.some((v) => Math.fround(v) !== v)) throw new Error(`constant '${t.name}' is not exact in float32`);
  return makeTensor(t.name, DataType.FLOAT, tensorDims(t), values);
}

export interface GradientComparison {
  tensor: string;
  analytic: Float64Array;
  numeric: Float64Array;
  /** Largest elementwise relative error (see the criterion above). */
  maxError: number;
}

export interface GradCheckReport {
  name: string;
  y: Float64Array;
  yDims: number[];
  upstream: Float64Array;
  gradients: Map<string, GradientComparison>;
  built: Built;
}

interface Evaluated {
  built: Built;
  forwardSession: ort.InferenceSession;
  y: Float64Array;
  yDims: number[];
  upstream: Float64Array;
  gradients: Map<string, Feed>;
}

/** Runs the forward and backward graphs once; the forward session stays open for the caller to release. */
async function evaluate(spec: GradCheckSpec): Promise<Evaluated> {
  const built = buildCase(spec);
  const forwardSession = await createSession(built.forward);
  const base = await forwardSession.run(toOrt(built.feeds, built.forwardType));
  checkInferredShapes(spec.name, built.infos, base);
  const yTensor = base[spec.output];
  const yDims = yTensor.dims.map(Number);
  const y = Float64Array.from(yTensor.data as Float64Array);
  if (spec.reference) checkReference(spec.name, y, spec.reference(floatInputs(built.feeds)), built.forwardType);
  const drawn = draw(built.rng, size(yDims), spec.upstreamDraw);
  const upstream = spec.upstream ? Float64Array.from(spec.upstream) : spec.reference ? onGrid(drawn) : drawn;
  if (upstream.length !== size(yDims)) throw new Error(`${spec.name}: upstream has ${upstream.length} values, y has shape [${yDims}]`);
  const backwardSession = await createSession(built.backward);
  const out = await backwardSession.run(toOrt({ ...built.feeds, [UPSTREAM]: { dims: yDims, data: upstream } }, built.backwardType));
  await backwardSession.release();
  const gradients = new Map<string, Feed>();
  for (const w of built.wrt) {
    const t = out[built.result.gradients.get(w)!];
    gradients.set(w, { dims: t.dims.map(Number), data: Float64Array.from(t.data as Float64Array) });
  }
  return { built, forwardSession, y, yDims, upstream, gradients };
}

/** The ORT forward must compute the reference's function: to rounding in float64, to 1e-6 of max |y| in float32. */
function checkReference(name: string, y: Float64Array, expected: Float64Array, floatType: number): void {
  if (expected.length !== y.length) throw new Error(`${name}: the reference gives ${expected.length} values, onnxruntime ${y.length}`);
  const scale = Math.max(1e-3, ...Array.from(expected, Math.abs));
  const bound = (floatType === DataType.FLOAT ? 1e-6 : 1e-12) * scale;
  expected.forEach((e, i) => {
    if (!(Math.abs(y[i] - e) <= bound)) throw new Error(`${name}: onnxruntime's forward gives y[${i}] = ${y[i]}, the reference ${e}`);
  });
}

/** Runs the backward graph of a spec and returns y, v and each analytic gradient (no finite differences). */
export async function runBackward(spec: GradCheckSpec): Promise<Omit<Evaluated, 'forwardSession'>> {
  const { forwardSession, ...rest } = await evaluate(spec);
  await forwardSession.release();
  return rest;
}

/** The full check: analytic gradients from the backward graph against central differences. Throws on failure. */
export async function gradCheck(spec: GradCheckSpec): Promise<GradCheckReport> {
  const { built, forwardSession, y, yDims, upstream, gradients } = await evaluate(spec);
  try {
    for (const w of built.wrt) {
      const g = gradients.get(w)!, dims = built.feeds[w].dims;
      if (g.dims.join(',') !== dims.join(',')) throw new Error(`${spec.name}: gradient of '${w}' has shape [${g.dims}], '${w}' has shape [${dims}]`);
    }
    const comparisons = await finiteDifferenceCheck({
      name: spec.name, output: spec.output, feeds: built.feeds, upstream, analytic: gradients, tolerance: spec.tolerance,
      ...(spec.reference ? { reference: spec.reference } : { session: forwardSession }),
    });
    return { name: spec.name, y, yDims, upstream, gradients: comparisons, built };
  } finally {
    await forwardSession.release();
  }
}

export interface FiniteDifferenceRequest {
  name: string;
  /** A float64 session computing `output` from `feeds` (extra outputs are not fetched)... */
  session?: ort.InferenceSession;
  /** ...or a float64 JavaScript forward computing it. */
  reference?: Reference;
  output: string;
  feeds: Feeds;
  /** v in f = sum(y · v); all ones when omitted. */
  upstream?: Float64Array;
  /** Tensor -> analytic gradient of f; each must be a float64 feed. */
  analytic: Map<string, Feed>;
  tolerance?: number;
  /** Check at most this many elements of each tensor (a seeded sample); all by default. */
  maxElements?: number;
}

/** Central differences of f = sum(y · v) with respect to each tensor in `analytic`, compared elementwise. */
export async function finiteDifferenceCheck(req: FiniteDifferenceRequest): Promise<Map<string, GradientComparison>> {
  const tolerance = req.tolerance ?? TOLERANCE;
  if (!req.session === !req.reference) throw new Error(`${req.name}: give finite differences one forward, a session or a reference`);
  const f = async (): Promise<number> => {
    const y = req.reference ? req.reference(floatInputs(req.feeds)) : (await req.session!.run(toOrt(req.feeds), [req.output]))[req.output].data as Float64Array;
    let sum = 0;
    for (let i = 0; i < y.length; i++) sum += y[i] * (req.upstream ? req.upstream[i] : 1);
    return sum;
  };
  const results = new Map<string, GradientComparison>();
  const rng = new Rng(seedFrom(`${req.name}/sample`));
  for (const [tensor, grad] of req.analytic) {
    const feed = req.feeds[tensor];
    if (!(feed?.data instanceof Float64Array)) throw new Error(`${req.name}: '${tensor}' is not a float64 feed`);
    const x = feed.data;
    const analytic = Float64Array.from(grad.data as Float64Array);
    if (analytic.length !== x.length) throw new Error(`${req.name}: gradient of '${tensor}' has ${analytic.length} elements, '${tensor}' has ${x.length}`);
    const indices = sampleIndices(x.length, req.maxElements ?? Infinity, rng);
    const numeric = new Float64Array(x.length).fill(NaN);
    for (const i of indices) {
      const original = x[i];
      const h = 1e-6 * Math.max(1, Math.abs(original));
      x[i] = original + h;
      const plus = await f();
      x[i] = original - h;
      const minus = await f();
      x[i] = original;
      numeric[i] = (plus - minus) / (2 * h);
    }
    const maxError = compare(req.name, tensor, analytic, numeric, indices, tolerance);
    results.set(tensor, { tensor, analytic, numeric, maxError });
  }
  return results;
}

function sampleIndices(n: number, max: number, rng: Rng): number[] {
  const all = Array.from({ length: n }, (_, i) => i);
  if (n <= max) return all;
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [all[i], all[j]] = [all[j], all[i]];
  }
  return all.slice(0, max).sort((a, b) => a - b);
}

/** The elementwise criterion; throws naming the worst element. Returns the largest relative error. */
function compare(name: string, tensor: string, analytic: Float64Array, numeric: Float64Array, indices: number[], tolerance: number): number {
  const scale = Math.max(...indices.map((i) => Math.abs(numeric[i])));
  // A tensor whose numeric gradient is zero everywhere (a Relu that is off) must get zeros, up to rounding.
  const floor = Math.max(1e-3 * scale, 1e-9);
  let worst = -1, maxError = 0;
  for (const i of indices) {
    const a = analytic[i], n = numeric[i];
    const error = Math.abs(a - n) / Math.max(Math.abs(n), floor);
    if (!(error <= maxError)) {
      maxError = error;
      worst = i;
    }
  }
  if (!(maxError <= tolerance)) {
    throw new Error(`${name}: d/d${tensor}[${worst}] analytic ${analytic[worst]} vs numeric ${numeric[worst]} ` +
      `(relative error ${maxError.toExponential(2)} > ${tolerance})\n  analytic [${Array.from(analytic).map((v) => v.toPrecision(6))}]\n` +
      `  numeric  [${Array.from(numeric).map((v) => v.toPrecision(6))}]`);
  }
  return maxError;
}

/** Static shape inference must agree with what onnxruntime computes, wherever it claims a fully known shape. */
function checkInferredShapes(name: string, infos: Map<string, TensorInfo>, actual: Record<string, ort.Tensor>): void {
  for (const [tensor, value] of Object.entries(actual)) {
    const shape = infos.get(tensor)?.shape;
    if (!shape) continue;
    const dims = value.dims.map(Number);
    const agrees = shape.length === dims.length && shape.every((d, i) => typeof d !== 'number' || d === dims[i]);
    if (!agrees) throw new Error(`${name}: shape inference says '${tensor}' is [${shape}], onnxruntime computed [${dims}]`);
  }
}
