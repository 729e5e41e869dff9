// Y = AveragePool(X): Y[o] = (Σ of the window's taps that fall inside X) / D[o], where D counts the taps inside
// [-head, size + tail) with count_include_pad, inside X without, per spatial axis, multiplied over the axes
// (onnxruntime's rules, ceil_mode and the padding of auto_pad included; a window with no tap inside X gives 0).
// dX[i] = Σ over the windows o holding i of dY[o] / D[o]: a ConvTranspose of dY / D by a kernel of ones, each
// channel on its own (N·C folded into the batch axis), with the pads and output_padding that undo the padding.
// D is a constant computed here, so the spatial sizes of X must be known.
import { axisWindows, transposedPlacement, windowAttributes, type AxisWindows } from '../../graph/windows.js';
import type { GradRule } from '../rule.js';
import { staticDims } from './conv.js';

/** Per window along one axis: how many of its taps count towards the divisor. */
function divisors(a: AxisWindows, includePad: boolean): number[] {
  const [lo, hi] = includePad ? [-a.head, a.size + a.tail] : [0, a.size];
  return Array.from({ length: a.out }, (_, o) => {
    let count = 0;
    for (let j = 0; j < a.kernel; j++) {
      const at = o * a.stride - a.head + j * a.dilation;
      if (at >= lo && at < hi) count++;
    }
    return count;
  });
}

export const averagePool: GradRule = {
  opType: 'AveragePool',
  grad(ctx) {
    const X = ctx.I(0);
    const spatial = staticDims(ctx, X, 2, 'spatial size');
    const attrs = windowAttributes(ctx.attr, ctx.attrInts('kernel_shape') ?? []);
    const axes = spatial.map((size, i) => axisWindows(attrs, i, size));
    const includePad = ctx.attrInt('count_include_pad', 0) === 1;
    // The divisor of every window, the outer product of the per-axis counts (a window with none: any nonzero value).
    let D = [1];
    for (const a of axes) D = D.flatMap((d) => divisors(a, includePad).map((c) => d * c));
    D = D.map((d) => (d === 0 ? 1 : d));
    const uniform = D.every((d) => d === D[0]);
    const divisor = uniform ? ctx.constant(`divisor_${D[0]}`, [D[0]]) : ctx.constant('divisors', D, axes.map((a) => a.out));
    const place = axes.map(transposedPlacement);
    const ones = ctx.constant('ones', new Array<number>(attrs.kernel.reduce((p, k) => p * k, 1)).fill(1), [1, 1, ...attrs.kernel]);
    return [
      ctx.make('Div', [ctx.GO(0), divisor], [ctx.tmp('dY_scaled')]),
      ctx.make('Reshape', [ctx.tmp('dY_scaled'), ctx.ints('channels_as_batch', [-1, 1, ...axes.map((a) => a.out)])], [ctx.tmp('dY_1ch')]),
      ctx.make('ConvTranspose', [ctx.tmp('dY_1ch'), ones],
        [ctx.tmp('dX_1ch')], {
          strides: attrs.strides,
          dilations: attrs.dilations,
          pads: [...place.map((p) => p.head), ...place.map((p) => p.end)],
          output_padding: place.some((p) => p.extra > 0) ? place.map((p) => p.extra) : undefined,
        }),
      ctx.make('Shape', [X], [ctx.tmp('X_shape')]),
      ctx.make('Reshape', [ctx.tmp('dX_1ch'), ctx.tmp('X_shape')], [ctx.GI(0)]),
    ];
  },
};
