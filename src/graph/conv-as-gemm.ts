// Convs over small maps, rewritten in the train graph as one Gemm over the whole batch. onnxruntime runs a Conv
// whose weight it cannot pre-pack (a trainable weight is a graph input) as one matrix product per example, with
// as many columns as the output map has positions: on ResNet's last stages at 32×32 (1×1 to 8×8 maps) that is
// nearly a matrix-vector product that reads the whole weight N times, and its ConvTranspose input gradient and
// the Conv-plus-Transpose weight gradient are as slow. As a Gemm over [N·positions] rows the weight is read
// once, and the existing Gather, Slice, Reshape, Transpose, MatMul and Gemm rules give a backward pass as cheap.
//   one output position (3×3 convs over 1×1 maps): Y[n, m] = Σ W[m, c, taps] · X[n, c, window] over the taps
//     whose window position falls on real input (the rest read padding zeros): X's window by Slice, those
//     taps of W by a 0/1 MatMul, then Reshapes and a Gemm;
//   up to SMALL_MAP_POSITIONS positions: im2col by Gather, then Gemm (columnsGemm); with one input channel,
//     im2col by a Conv with a constant one-hot kernel and a MatMul (oneHotColumns);
//   depthwise convs (group = channels) over maps of up to DEPTHWISE_MAP_PAIRS input × output positions: per
//     channel, a product by an [output, input positions] matrix built from the weight (depthwiseProducts).
// Other grouped convs, and the Gather form below opset 16 (Gather's gradient needs ScatterND with
// reduction=add), stay Conv.
// The sums are the same up to float rounding order.
import { DataType, makeNode, makeTensor } from '../onnx/builder.js';
import { elementCount } from '../onnx/tensor.js';
import { toNumber, type NodeProto, type TensorProto } from '../onnx/proto.js';
import type { TensorInfo } from './shapes.js';
import { axisWindows, windowAttributes, type AxisWindows } from './windows.js';

/** The nodes with every eligible Conv replaced; the constants the replacements read are appended to `initializers`. */
export function convsAsGemms(nodes: NodeProto[], shapes: ReadonlyMap<string, TensorInfo>, initializers: TensorProto[], opset = 17): NodeProto[] {
  return nodes.flatMap((node) => (node.opType === 'Conv' ? lowerConv(node, shapes, initializers, opset) ?? [node] : [node]));
}

/**
 * Output maps of at most this many positions (but more than one) are gathered into columns for one Gemm.
 * Measured on ResNet-18's step at 32×32 (median ms over 3 interleaved runs): lowering maps up to 4 positions
 * 175, 16: 169, 64 (layer1's 8×8 too): 163, 256 (conv1's 16×16 as well): 169.
 */
const SMALL_MAP_POSITIONS = 64;

/**
 * Depthwise convs (group = channels, one filter each) whose input positions × output positions are at most
 * this: onnxruntime runs a grouped Conv as one small product per group and example (EfficientNet-B0's 5×5
 * depthwise conv over 672 channels of a 2×2 map took 21 ms forward and as much again for each gradient, batch 32).
 * EfficientNet-B0's step at 32×32, batch 32, CPU ms, medians of 3 interleaved runs on a busy machine: Conv
 * throughout 377; a broadcast Mul and ReduceSum over [N, C, P, Q] instead of the batched MatMul, up to 16 pairs
 * 217 (up to 64: 302, 256: 272: their batch-axis ReduceSum and Expand cost more than the Conv); the batched
 * MatMul up to 16 pairs 215, 256 (4×4 maps) 192, 4096 (8×8) 157 and 170, 16384 163, 65536 (16×16) 165.
 */
const DEPTHWISE_MAP_PAIRS = 4096;

const staticShape = (info: TensorInfo | undefined) => (info?.shape?.every((d) => typeof d === 'number') ? (info.shape as number[]) : undefined);

function lowerConv(node: NodeProto, shapes: ReadonlyMap<string, TensorInfo>, initializers: TensorProto[], opset: number): NodeProto[] | undefined {
  const [X, W, B] = node.input;
  const attr = (name: string) => node.attribute.find((a) => a.name === name);
  const weight = staticShape(shapes.get(W));
  const spatial = shapes.get(X)?.shape?.slice(2);
  const group = toNumber(attr('group')?.i ?? 1);
  if (!weight || !spatial?.every((d) => typeof d === 'number')) return undefined;
  const kernel = weight.slice(2);
  const attrs = windowAttributes(attr, kernel);
  const axes = (spatial as number[]).map((size, i) => axisWindows(attrs, i, size));
  const positions = elementCount(axes.map((a) => a.out));
  if (group !== 1) {
    const depthwise = group === weight[0] && weight[1] === 1 && opset >= 13 && axes.every((a) => a.head >= 0);
    return depthwise && elementCount(spatial as number[]) * positions <= DEPTHWISE_MAP_PAIRS ? depthwiseProducts(node, weight, axes, initializers, shapes.get(W)!.dtype) : undefined;
  }
  if (positions > 1) {
    const small = positions <= SMALL_MAP_POSITIONS && axes.every((a) => a.head >= 0 && a.tail >= 0);
    if (small && weight[1] === 1) return oneHotColumns(node, weight, axes, initializers, shapes.get(W)!.dtype);
    return small && opset >= 16 ? columnsGemm(node, weight, axes, initializers) : undefined;
  }
  // Per axis, the taps j of the one window whose input position j·d - head lies inside [0, size).
  const taps = axes.map((a) => {
    const first = Math.max(0, Math.ceil(a.head / a.dilation));
    const last = Math.min(a.kernel - 1, Math.floor((a.size - 1 + a.head) / a.dilation));
    return { first, last, start: first * a.dilation - a.head, end: last * a.dilation - a.head + 1, step: a.dilation };
  });
  if (taps.some((t) => t.last < t.first)) return undefined;
  const { tmp, ints } = namer(node, initializers);
  const spatialAxes = axes.map((_, i) => i + 2);
  const out: NodeProto[] = [];
  const slice = (input: string, which: string, starts: number[], ends: number[], steps: number[], full: boolean[]) => {
    if (full.every(Boolean)) return input;
    out.push(makeNode('Slice', [input, ints(`${which}_starts`, starts), ints(`${which}_ends`, ends), ints(`${which}_axes`, spatialAxes), ints(`${which}_steps`, steps)],
      [tmp(`${which}_window`)], {}, tmp(`${which}_Slice`)));
    return tmp(`${which}_window`);
  };
  const xWindow = slice(X, 'X', taps.map((t) => t.start), taps.map((t) => t.end), taps.map((t) => t.step),
    taps.map((t, i) => t.start === 0 && t.end === axes[i].size && (t.step === 1 || axes[i].size === 1)));
  out.push(makeNode('Reshape', [xWindow, ints('rows_shape', [0, -1])], [tmp('X_rows')], {}, tmp('X_Reshape')));
  let wRows = W;
  if (!taps.every((t, i) => t.first === 0 && t.last === kernel[i] - 1)) {
    // The taps that see input, picked by a product with a 0/1 matrix rather than a Slice: its gradient is then
    // a product with the transpose, which writes the zero-padded weight gradient at memory speed (a Pad of
    // a [512, 512, 1, 1] gradient to 3×3 costs onnxruntime twice as long).
    const picked = windowTaps(kernel, taps);
    const select = new Array<number>(elementCount(kernel) * picked.length).fill(0);
    picked.forEach((tap, column) => (select[tap * picked.length + column] = 1));
    initializers.push(makeTensor(tmp('tap_select'), shapes.get(W)!.dtype, [elementCount(kernel), picked.length], select));
    out.push(makeNode('Reshape', [W, ints('taps_shape', [-1, elementCount(kernel)])], [tmp('W_taps')], {}, tmp('W_taps_Reshape')));
    out.push(makeNode('MatMul', [tmp('W_taps'), tmp('tap_select')], [tmp('W_window')], {}, tmp('W_MatMul')));
    wRows = tmp('W_window');
  }
  out.push(makeNode('Reshape', [wRows, ints('weight_shape', [weight[0], -1])], [tmp('W_rows')], {}, tmp('W_Reshape')));
  out.push(makeNode('Gemm', [tmp('X_rows'), tmp('W_rows'), ...(B ? [B] : [])], [tmp('Y_rows')], { transB: 1 }, tmp('Gemm')));
  out.push(makeNode('Reshape', [tmp('Y_rows'), ints('output_shape', [0, weight[0], ...axes.map(() => 1)])], [node.output[0]], {}, tmp('Y_Reshape')));
  return out;
}

/** Flat (row-major) indices into the kernel of the taps in each axis's [first, last], in row-major order. */
function windowTaps(kernel: number[], taps: { first: number; last: number }[]): number[] {
  let flat = [0];
  kernel.forEach((k, i) => {
    const range = Array.from({ length: taps[i].last - taps[i].first + 1 }, (_, j) => taps[i].first + j);
    flat = flat.flatMap((f) => range.map((j) => f * k + j));
  });
  return flat;
}

function namer(node: NodeProto, initializers: TensorProto[]) {
  const name = node.name || node.output[0];
  const tmp = (suffix: string) => `${name}/as_gemm/${suffix}`;
  const ints = (suffix: string, values: number[], dims = [values.length]) => {
    initializers.push(makeTensor(tmp(suffix), DataType.INT64, dims, values));
    return tmp(suffix);
  };
  return { tmp, ints };
}

/** [N, channels, positions] with the bias (if any) added per channel, reshaped to the Conv's output [N, channels, ...outs]. */
function channelsFirstOutput(node: NodeProto, y: string, bias: string | undefined, [channels, ...outs]: number[], initializers: TensorProto[]): NodeProto[] {
  const { tmp, ints } = namer(node, initializers);
  const out: NodeProto[] = [];
  if (bias) {
    out.push(makeNode('Reshape', [bias, ints('bias_shape', [channels, 1])], [tmp('bias_column')], {}, tmp('bias_Reshape')));
    out.push(makeNode('Add', [y, tmp('bias_column')], [tmp('Y_biased')], {}, tmp('bias_Add')));
    y = tmp('Y_biased');
  }
  out.push(makeNode('Reshape', [y, ints('output_shape', [0, channels, ...outs])], [node.output[0]], {}, tmp('Y_Reshape')));
  return out;
}

/**
 * A Conv over a small map as one Gemm over gathered columns (im2col): X channels-last and padded, its positions
 * flattened to [N, positions, C], and for each output position p and kernel tap t the padded position it reads
 * gathered into [N, P, T, C] (whole channel rows, so the Gather and its gradient's scatter copy contiguous
 * blocks); as rows [N·P, T·C] they multiply the channels-last weight [M, T·C]. Gather's gradient adds the
 * columns' gradients back where they were read.
 */
function columnsGemm(node: NodeProto, weight: number[], axes: AxisWindows[], initializers: TensorProto[]): NodeProto[] {
  const [X, W, B] = node.input;
  const { tmp, ints } = namer(node, initializers);
  const [M, C] = weight;
  const kernel = axes.map((a) => a.kernel), outs = axes.map((a) => a.out);
  const padded = axes.map((a) => a.size + a.head + a.tail);
  const P = elementCount(outs), T = elementCount(kernel);
  // Row-major flat offsets into the padded map, per output position and tap.
  const indices: number[] = [];
  for (let p = 0; p < P; p++) {
    for (let t = 0; t < T; t++) {
      let flat = 0;
      for (let i = 0, po = p, pt = t, outRest = P, kernelRest = T; i < axes.length; i++) {
        outRest /= outs[i];
        kernelRest /= kernel[i];
        const o = Math.floor(po / outRest), j = Math.floor(pt / kernelRest);
        po %= outRest;
        pt %= kernelRest;
        flat = flat * padded[i] + o * axes[i].stride + j * axes[i].dilation;
      }
      indices.push(flat);
    }
  }
  const out: NodeProto[] = [];
  const channelsLast = [0, ...axes.map((_, i) => i + 2), 1];
  out.push(makeNode('Transpose', [X], [tmp('X_last')], { perm: channelsLast }, tmp('X_Transpose')));
  let source = tmp('X_last');
  if (axes.some((a) => a.head > 0 || a.tail > 0)) {
    out.push(makeNode('Pad', [source, ints('pads', [0, ...axes.map((a) => a.head), 0, 0, ...axes.map((a) => a.tail), 0])], [tmp('X_padded')], {}, tmp('Pad')));
    source = tmp('X_padded');
  }
  out.push(makeNode('Reshape', [source, ints('flat_shape', [0, -1, C])], [tmp('X_flat')], {}, tmp('X_flat_Reshape')));
  out.push(makeNode('Gather', [tmp('X_flat'), ints('columns', indices, [P, T])], [tmp('X_columns')], { axis: 1 }, tmp('Gather')));
  out.push(makeNode('Reshape', [tmp('X_columns'), ints('rows_shape', [-1, C * T])], [tmp('X_rows')], {}, tmp('X_Reshape')));
  out.push(makeNode('Transpose', [W], [tmp('W_last')], { perm: channelsLast }, tmp('W_Transpose')));
  out.push(makeNode('Reshape', [tmp('W_last'), ints('weight_shape', [M, C * T])], [tmp('W_rows')], {}, tmp('W_Reshape')));
  out.push(makeNode('Gemm', [tmp('X_rows'), tmp('W_rows'), ...(B ? [B] : [])], [tmp('Y_rows')], { transB: 1 }, tmp('Gemm')));
  out.push(makeNode('Reshape', [tmp('Y_rows'), ints('positions_shape', [-1, P, M])], [tmp('Y_positions')], {}, tmp('Y_positions_Reshape')));
  out.push(makeNode('Transpose', [tmp('Y_positions')], [tmp('Y_channels')], { perm: [0, 2, 1] }, tmp('Y_Transpose')));
  // The batch size from X's shape rather than a -1: shape inference then keeps it symbolic ('batch'), and the
  // gradients of the layers after it need no run-time broadcast checks.
  out.push(makeNode('Shape', [X], [tmp('X_shape')], { end: 1 }, tmp('X_Shape')));
  out.push(makeNode('Concat', [tmp('X_shape'), ints('output_dims', [M, ...outs])], [tmp('output_shape')], { axis: 0 }, tmp('Concat')));
  out.push(makeNode('Reshape', [tmp('Y_channels'), tmp('output_shape')], [node.output[0]], {}, tmp('Y_Reshape')));
  return out;
}

/**
 * A depthwise conv over a small map as products: per channel c, Y[n, c, p] = Σ_q A[c, p, q] · X[n, c, q] with
 * A[c, p, q] = Σ_t W[c, t] · S[t, p, q], where S[t, p, q] = 1 when output position p's tap t reads input
 * position q (taps on padding read nothing). A is one MatMul of W [C, T] by the constant S [T, P·Q]; then one
 * MatMul batched over the channels, A [C, P, Q] by the examples as columns [C, Q, N], and Transposes around it.
 * The MatMul and Transpose rules give the gradients: per channel, dA = dY · Xᵀ and dX = Aᵀ · dY, and dW = dA · Sᵀ.
 */
function depthwiseProducts(node: NodeProto, weight: number[], axes: AxisWindows[], initializers: TensorProto[], dtype: number): NodeProto[] {
  const [X, W, B] = node.input;
  const { tmp, ints } = namer(node, initializers);
  const C = weight[0];
  const sizes = axes.map((a) => a.size), outs = axes.map((a) => a.out), kernel = axes.map((a) => a.kernel);
  const Q = elementCount(sizes), P = elementCount(outs), T = elementCount(kernel);
  const select = new Array<number>(T * Q * P).fill(0);
  for (let p = 0; p < P; p++) {
    for (let t = 0; t < T; t++) {
      let q = 0, inside = true;
      for (let i = 0, po = p, pt = t, outRest = P, kernelRest = T; i < axes.length; i++) {
        outRest /= outs[i];
        kernelRest /= kernel[i];
        const o = Math.floor(po / outRest), j = Math.floor(pt / kernelRest);
        po %= outRest;
        pt %= kernelRest;
        const at = o * axes[i].stride + j * axes[i].dilation - axes[i].head;
        inside &&= at >= 0 && at < sizes[i];
        q = q * sizes[i] + at;
      }
      if (inside) select[(t * P + p) * Q + q] = 1;
    }
  }
  initializers.push(makeTensor(tmp('tap_positions'), dtype, [T, P * Q], select));
  // Per channel, [P, Q] by the example's input positions as columns: one batched MatMul over the channels.
  const out: NodeProto[] = [
    makeNode('Reshape', [W, ints('taps_shape', [C, T])], [tmp('W_taps')], {}, tmp('W_Reshape')),
    makeNode('MatMul', [tmp('W_taps'), tmp('tap_positions')], [tmp('A_flat')], {}, tmp('A_MatMul')),
    makeNode('Reshape', [tmp('A_flat'), ints('A_shape', [C, P, Q])], [tmp('A')], {}, tmp('A_Reshape')),
    makeNode('Reshape', [X, ints('X_shape', [0, C, Q])], [tmp('X_positions')], {}, tmp('X_Reshape')),
    makeNode('Transpose', [tmp('X_positions')], [tmp('X_columns')], { perm: [1, 2, 0] }, tmp('X_Transpose')),
    makeNode('MatMul', [tmp('A'), tmp('X_columns')], [tmp('Y_columns')], {}, tmp('MatMul')),
    makeNode('Transpose', [tmp('Y_columns')], [tmp('Y_positions')], { perm: [2, 0, 1] }, tmp('Y_Transpose')),
  ];
  return [...out, ...channelsFirstOutput(node, tmp('Y_positions'), B, [C, ...outs], initializers)];
}

/**
 * A one-channel conv over a small map (a first layer on grey images: the digits CNN's) as im2col by a Conv with
 * a constant one-hot kernel, [N, 1, H, W] → columns [N, T, P], then one MatMul by the weight as rows [M, T]:
 * [N, M, P], already channels-first. Gathering single floats (columnsGemm) cost more than the Conv; the
 * weight's gradient is the MatMul's (dY · columnsᵀ, summed over the batch), and the input's, where wanted,
 * the one-hot Conv's ConvTranspose (col2im). Digits CNN step, CPU ms, medians of 5 interleaved runs: Gather
 * 1.2, this 0.9 (and 0.64 against 0.87 for this form on the second conv's 8 channels as images too: no).
 */
function oneHotColumns(node: NodeProto, weight: number[], axes: AxisWindows[], initializers: TensorProto[], dtype: number): NodeProto[] {
  const [X, W, B] = node.input;
  const { tmp, ints } = namer(node, initializers);
  const M = weight[0], kernel = axes.map((a) => a.kernel), outs = axes.map((a) => a.out);
  const T = elementCount(kernel), P = elementCount(outs);
  const oneHot = new Array<number>(T * T).fill(0);
  for (let t = 0; t < T; t++) oneHot[t * T + t] = 1;
  initializers.push(makeTensor(tmp('one_hot_taps'), dtype, [T, 1, ...kernel], oneHot));
  const out: NodeProto[] = [
    makeNode('Conv', [X, tmp('one_hot_taps')], [tmp('X_taps')], {
      strides: axes.map((a) => a.stride), dilations: axes.map((a) => a.dilation), pads: [...axes.map((a) => a.head), ...axes.map((a) => a.tail)],
    }, tmp('Columns_Conv')),
    makeNode('Reshape', [tmp('X_taps'), ints('columns_shape', [0, T, P])], [tmp('X_columns')], {}, tmp('X_Reshape')),
    makeNode('Reshape', [W, ints('weight_shape', [M, T])], [tmp('W_rows')], {}, tmp('W_Reshape')),
    makeNode('MatMul', [tmp('W_rows'), tmp('X_columns')], [tmp('Y_positions')], {}, tmp('MatMul')),
  ];
  return [...out, ...channelsFirstOutput(node, tmp('Y_positions'), B, [M, ...outs], initializers)];
}
