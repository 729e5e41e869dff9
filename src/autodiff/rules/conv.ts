// Y = Conv(X, W, B), per group g of G, spatial position o and kernel tap j (Cg = C / G input channels and
// Mg = M / G output channels a group):
//   Y[n, g·Mg + m, o] = Σ_c Σ_j W[g·Mg + m, c, j] · Xpad[n, g·Cg + c, o·s + j·d] + B[g·Mg + m]
// dX: ConvTranspose(dY, W) with the same strides, dilations and group. Its pads crop the forward padding
//     off again and output_padding restores the trailing input positions no window reached (their gradient is 0).
// dW: dW[g·Mg + m, c, j] = Σ_n Σ_o dY[n, g·Mg + m, o] · Xpad[n, g·Cg + c, o·s + j·d], itself a grouped
//     Conv: X with batch and channels swapped ([Cg, G·N, ...]) by dY as the weight ([M, N, ...]), the forward
//     dilation as stride and the forward stride as dilation; gives [Cg, M, k] (cut to k when the input had
//     positions past the last window), then transposed to [M, Cg, k].
// dB: dY summed over the batch and spatial axes.
// The kernel comes from W's static shape and the spatial sizes of X must be known (they fix pads and remainders).
import { UserError } from '../../errors.js';
import { axisWindows, transposedPlacement, windowAttributes } from '../../graph/windows.js';
import { reduceSum } from '../emit.js';
import type { GradContext, GradRule } from '../rule.js';

/** Static sizes of a tensor's axes from `from` on; a clear error names the node when one is unknown. */
export function staticDims(ctx: GradContext, tensor: string, from: number, what: string): number[] {
  const shape = ctx.shape(tensor);
  const dims = shape?.slice(from);
  if (!shape || !dims!.every((d) => typeof d === 'number')) {
    throw new UserError(`${ctx.node.opType} node '${ctx.node.name}': the ${what} of '${tensor}' must be known to build its gradient ` +
      `(shape inference found [${shape ? shape.map((d) => d ?? '?').join(', ') : 'unknown rank'}])`);
  }
  return dims as number[];
}

export const conv: GradRule = {
  opType: 'Conv',
  grad(ctx) {
    const [X, W, dY] = [ctx.I(0), ctx.I(1), ctx.GO(0)];
    const weight = staticDims(ctx, W, 0, 'shape');
    const spatial = staticDims(ctx, X, 2, 'spatial size');
    const group = ctx.attrInt('group', 1);
    const kernel = weight.slice(2);
    const attrs = windowAttributes(ctx.attr, kernel);
    const axes = spatial.map((size, i) => axisWindows(attrs, i, size));
    const spatialAxes = spatial.map((_, i) => i + 2);
    const swapFirstTwo = [1, 0, ...spatialAxes];
    const nodes = [];
    if (ctx.needsGrad(0)) {
      const place = axes.map(transposedPlacement);
      nodes.push(ctx.make('ConvTranspose', [dY, W], [ctx.GI(0)], {
        group,
        strides: attrs.strides,
        dilations: attrs.dilations,
        pads: [...place.map((p) => p.head), ...place.map((p) => p.end)],
        output_padding: place.some((p) => p.extra > 0) ? place.map((p) => p.extra) : undefined,
      }));
    }
    if (ctx.needsGrad(1)) {
      const cg = weight[1];
      if (group === 1) {
        nodes.push(ctx.make('Transpose', [X], [ctx.tmp('X_T')], { perm: swapFirstTwo }));
      } else {
        nodes.push(ctx.make('Reshape', [X, ctx.ints('X_groups_shape', [-1, group, cg, ...spatial])], [ctx.tmp('X_groups')]));
        nodes.push(ctx.make('Transpose', [ctx.tmp('X_groups')], [ctx.tmp('X_groups_T')], { perm: [2, 1, 0, ...spatial.map((_, i) => i + 3)] }));
        nodes.push(ctx.make('Reshape', [ctx.tmp('X_groups_T'), ctx.ints('X_T_shape', [cg, -1, ...spatial])], [ctx.tmp('X_T')]));
      }
      nodes.push(ctx.make('Transpose', [dY], [ctx.tmp('dY_T')], { perm: swapFirstTwo }));
      // Trailing padding that makes the correlation exactly k long; past the last window there may be more input than that.
      const surplus = axes.map((a) => a.size + a.head - a.stride * (a.out - 1) - 1 - a.dilation * (a.kernel - 1));
      const cut = axes.map((a, i) => (surplus[i] > 0 ? Math.floor(surplus[i] / a.dilation) : 0));
      const raw = cut.some((c) => c > 0) ? ctx.tmp('dW_T_uncut') : ctx.tmp('dW_T');
      nodes.push(ctx.make('Conv', [ctx.tmp('X_T'), ctx.tmp('dY_T')], [raw], {
        group,
        strides: attrs.dilations,
        dilations: attrs.strides,
        pads: [...axes.map((a) => a.head), ...surplus.map((s) => Math.max(0, -s))],
      }));
      if (raw !== ctx.tmp('dW_T')) {
        nodes.push(ctx.make('Slice', [raw, ctx.ints('kernel_starts', kernel.map(() => 0)), ctx.ints('kernel_ends', kernel), ctx.ints('kernel_axes', spatialAxes)],
          [ctx.tmp('dW_T')]));
      }
      nodes.push(ctx.make('Transpose', [ctx.tmp('dW_T')], [ctx.GI(1)], { perm: swapFirstTwo }));
    }
    if (ctx.needsGrad(2)) nodes.push(reduceSum(ctx, dY, [0, ...spatialAxes], false, ctx.GI(2)));
    return nodes;
  },
};
