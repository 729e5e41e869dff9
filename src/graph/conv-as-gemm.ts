// A Conv whose output map is a single position (ResNet's last stage on small images: 3×3 convs over 1×1
// maps) is one matrix product: Y[n, m] = Σ W[m, c, taps] · X[n, c, window], over the taps whose window
// position falls on real input (the rest read padding zeros). onnxruntime runs such a Conv, with weights it
// cannot pre-pack (a trainable one is a graph input), as one matrix-vector product per example, reading the
// whole weight N times; as Slice + Reshape + Gemm it reads the weight once, and the backward pass the
// existing Slice, Reshape and Gemm rules give is as cheap. The sums are the same up to float rounding order.
import { DataType, makeNode, makeTensor } from '../onnx/builder.js';
import { elementCount } from '../onnx/tensor.js';
import { toNumber, type NodeProto, type TensorProto } from '../onnx/proto.js';
import type { TensorInfo } from './shapes.js';
import { axisWindows, windowAttributes } from './windows.js';

/** The nodes with every eligible Conv replaced; the constants the replacements read are appended to `initializers`. */
export function convsAsGemms(nodes: NodeProto[], shapes: ReadonlyMap<string, TensorInfo>, initializers: TensorProto[]): NodeProto[] {
  return nodes.flatMap((node) => (node.opType === 'Conv' ? lowerConv(node, shapes, initializers) ?? [node] : [node]));
}

const staticShape = (info: TensorInfo | undefined) => (info?.shape?.every((d) => typeof d === 'number') ? (info.shape as number[]) : undefined);

function lowerConv(node: NodeProto, shapes: ReadonlyMap<string, TensorInfo>, initializers: TensorProto[]): NodeProto[] | undefined {
  const [X, W, B] = node.input;
  const attr = (name: string) => node.attribute.find((a) => a.name === name);
  const weight = staticShape(shapes.get(W));
  const spatial = shapes.get(X)?.shape?.slice(2);
  if (!weight || !spatial?.every((d) => typeof d === 'number') || toNumber(attr('group')?.i ?? 1) !== 1) return undefined;
  const kernel = weight.slice(2);
  const attrs = windowAttributes(attr, kernel);
  const axes = (spatial as number[]).map((size, i) => axisWindows(attrs, i, size));
  if (!axes.every((a) => a.out === 1)) return undefined;
  // Per axis, the taps j of the one window whose input position j·d - head lies inside [0, size).
  const taps = axes.map((a) => {
    const first = Math.max(0, Math.ceil(a.head / a.dilation));
    const last = Math.min(a.kernel - 1, Math.floor((a.size - 1 + a.head) / a.dilation));
    return { first, last, start: first * a.dilation - a.head, end: last * a.dilation - a.head + 1, step: a.dilation };
  });
  if (taps.some((t) => t.last < t.first)) return undefined;
  const name = node.name || node.output[0];
  const tmp = (suffix: string) => `${name}/as_gemm/${suffix}`;
  const ints = (suffix: string, values: number[]) => {
    initializers.push(makeTensor(tmp(suffix), DataType.INT64, [values.length], values));
    return tmp(suffix);
  };
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
