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
import { DataType, makeGraph, makeModel, makeValueInfo, OPSET, type Dim } from '../../src/onnx/builder.js';
import { onnx, type ModelProto, type NodeProto, type TensorProto } from '../../src/onnx/proto.js';
import { indexGraph, nameNodes } from '../../src/graph/graph-index.js';
import { inferShapes, type TensorInfo } from '../../src/graph/shapes.js';
import { buildBackward, type BackwardResult } from '../../src/autodiff/backward.js';
import { createSession, ort } from '../../src/runtime/session.js';

export const TOLERANCE = 1e-5;
export const UPSTREAM = 'y_grad';

/** mulberry32: a tiny seeded generator, enough for test data. */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}

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

export function toOrt(feeds: Feeds): Record<string, ort.Tensor> {
  const out: Record<string, ort.Tensor> = {};
  for (const [name, f] of Object.entries(feeds)) {
    out[name] = f.data instanceof BigInt64Array ? new ort.Tensor('int64', f.data, f.dims) : new ort.Tensor('float64', f.data, f.dims);
  }
  return out;
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
  tolerance?: number;
}

export interface Built {
  forward: ModelProto;
  backward: ModelProto;
  result: BackwardResult;
  infos: Map<string, TensorInfo>;
  feeds: Feeds;
  wrt: string[];
  rng: Rng;
}

/** Builds the forward-check model (every node output is a graph output) and the backward model for a spec. */
export function buildCase(spec: GradCheckSpec): Built {
  const opset = spec.opset ?? OPSET;
  const rng = new Rng(seedFrom(spec.name));
  const feeds: Feeds = {};
  for (const input of spec.inputs) {
    const count = size(input.dims);
    if (input.values && input.values.length !== count) throw new Error(`${spec.name}: ${input.values.length} values for '${input.name}' [${input.dims}]`);
    const data = input.type === 'int64'
      ? BigInt64Array.from(Array.from(input.values ?? new Array<number>(count).fill(0), (v) => BigInt(v)))
      : input.values ? Float64Array.from(input.values) : draw(rng, count, input.draw);
    feeds[input.name] = { dims: input.dims, data };
  }
  const wrt = spec.wrt ?? spec.inputs.filter((i) => i.type !== 'int64').map((i) => i.name);
  const graphInputs = spec.inputs.map((i) => makeValueInfo(i.name, i.type === 'int64' ? DataType.INT64 : DataType.DOUBLE, i.shape ?? i.dims));
  // Copies, so that naming them leaves the spec untouched and two builds of one spec start equal.
  const nodes = spec.nodes.map((n) => onnx.NodeProto.decode(onnx.NodeProto.encode(n as never).finish()) as unknown as NodeProto);
  const graph = makeGraph(nodes, spec.name, graphInputs, [makeValueInfo(spec.output, DataType.DOUBLE, null)], spec.constants ?? []);
  nameNodes(graph);
  const index = indexGraph(graph);
  const infos = inferShapes(graph, index, opset);

  const allOutputs = [...new Set(graph.node.flatMap((n) => n.output.filter(Boolean)))];
  const forward = makeModel(makeGraph(graph.node, spec.name, graphInputs,
    [spec.output, ...allOutputs.filter((o) => o !== spec.output)].map((o) => makeValueInfo(o, infos.get(o)?.dtype ?? DataType.DOUBLE, null)),
    spec.constants ?? []), { opset });

  const result = buildBackward({ graph, index, infos, opset, seeds: new Map([[spec.output, UPSTREAM]]), wrt });
  const yShape = infos.get(spec.output)?.shape ?? null;
  const backward = makeModel(makeGraph([...graph.node, ...result.nodes], `${spec.name}_backward`,
    [...graphInputs, makeValueInfo(UPSTREAM, DataType.DOUBLE, yShape)],
    wrt.map((w) => makeValueInfo(result.gradients.get(w)!, DataType.DOUBLE, null)),
    [...(spec.constants ?? []), ...result.initializers]), { opset });
  return { forward, backward, result, infos, feeds, wrt, rng };
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
  const base = await forwardSession.run(toOrt(built.feeds));
  checkInferredShapes(spec.name, built.infos, base);
  const yTensor = base[spec.output];
  const yDims = yTensor.dims.map(Number);
  const upstream = spec.upstream ? Float64Array.from(spec.upstream) : draw(built.rng, size(yDims));
  if (upstream.length !== size(yDims)) throw new Error(`${spec.name}: upstream has ${upstream.length} values, y has shape [${yDims}]`);
  const backwardSession = await createSession(built.backward);
  const out = await backwardSession.run(toOrt({ ...built.feeds, [UPSTREAM]: { dims: yDims, data: upstream } }));
  await backwardSession.release();
  const gradients = new Map<string, Feed>();
  for (const w of built.wrt) {
    const t = out[built.result.gradients.get(w)!];
    gradients.set(w, { dims: t.dims.map(Number), data: Float64Array.from(t.data as Float64Array) });
  }
  return { built, forwardSession, y: Float64Array.from(yTensor.data as Float64Array), yDims, upstream, gradients };
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
      name: spec.name, session: forwardSession, output: spec.output, feeds: built.feeds, upstream, analytic: gradients, tolerance: spec.tolerance,
    });
    return { name: spec.name, y, yDims, upstream, gradients: comparisons, built };
  } finally {
    await forwardSession.release();
  }
}

export interface FiniteDifferenceRequest {
  name: string;
  /** A session computing `output` from `feeds` (extra outputs are not fetched). */
  session: ort.InferenceSession;
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
  const f = async (): Promise<number> => {
    const out = await req.session.run(toOrt(req.feeds), [req.output]);
    const y = out[req.output].data as Float64Array;
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
