// Y = X[start : end : step] along some axes: dX is dY put back where it was taken from, zeros elsewhere.
// Starts, ends, axes and steps must be constants, and the sliced axes' sizes known, to resolve negative and
// clamped indices. Axes sliced with step 1 are undone together by one Pad; any other step (negative ones too)
// by ScatterElements of the gradient into zeros along that axis, at the indices start + k·step.
import { UserError } from '../../errors.js';
import { sliceParameters, sliceRange } from '../../graph/shapes.js';
import type { GradRule } from '../rule.js';

const WHOLE_AXIS_END = 2 ** 31 - 1;

export const slice: GradRule = {
  opType: 'Slice',
  grad(ctx) {
    const X = ctx.I(0);
    const shape = ctx.shape(X);
    const rank = ctx.rank(X);
    const params = sliceParameters({ node: ctx.node, intValues: ctx.intValues }, rank);
    if (!params) throw new UserError(`Slice node '${ctx.node.name}': starts, ends, axes and steps must be constants to build its gradient`);
    const nodes = [];
    const padBegin = new Array<number>(rank).fill(0), padEnd = new Array<number>(rank).fill(0);
    const scatters: { axis: number; size: number; indices: number[] }[] = [];
    for (const p of params) {
      const size = shape![p.axis];
      if (typeof size !== 'number') {
        // An axis of unknown size can only be taken whole.
        if (p.step === 1 && p.start === 0 && p.end >= WHOLE_AXIS_END) continue;
        throw new UserError(`Slice node '${ctx.node.name}': the size of axis ${p.axis} of '${X}' must be known to build its gradient`);
      }
      const r = sliceRange(size, p.start, p.end, p.step);
      if (r.count === 0) {
        // Nothing was taken: the gradient is zero everywhere.
        return [ctx.make('Shape', [X], [ctx.tmp('X_shape')]), ctx.make('Expand', [ctx.constant('zero', [0]), ctx.tmp('X_shape')], [ctx.GI(0)])];
      }
      if (r.step === 1) {
        padBegin[p.axis] = r.start;
        padEnd[p.axis] = size - r.start - r.count;
      } else {
        scatters.push({ axis: p.axis, size, indices: Array.from({ length: r.count }, (_, k) => r.start + k * r.step) });
      }
    }
    const padded = padBegin.some(Boolean) || padEnd.some(Boolean);
    let current = ctx.GO(0);
    scatters.forEach((s, i) => {
      const out = i === scatters.length - 1 && !padded ? ctx.GI(0) : ctx.tmp(`scattered_${s.axis}`);
      const indexDims = Array.from({ length: rank }, (_, a) => (a === s.axis ? s.indices.length : 1));
      const keep = Array.from({ length: rank }, (_, a) => (a === s.axis ? 0 : 1));
      const put = Array.from({ length: rank }, (_, a) => (a === s.axis ? s.size : 0));
      nodes.push(
        ctx.make('Shape', [current], [ctx.tmp(`shape_${s.axis}`)]),
        // The zeros' shape: the current one with this axis at its full size.
        ctx.make('Mul', [ctx.tmp(`shape_${s.axis}`), ctx.ints(`keep_${s.axis}`, keep)], [ctx.tmp(`kept_${s.axis}`)]),
        ctx.make('Add', [ctx.tmp(`kept_${s.axis}`), ctx.ints(`full_${s.axis}`, put)], [ctx.tmp(`full_shape_${s.axis}`)]),
        ctx.make('Expand', [ctx.constant('zero', [0]), ctx.tmp(`full_shape_${s.axis}`)], [ctx.tmp(`zeros_${s.axis}`)]),
        ctx.make('Expand', [ctx.ints(`indices_${s.axis}`, s.indices, indexDims), ctx.tmp(`shape_${s.axis}`)], [ctx.tmp(`indices_${s.axis}_full`)]),
        ctx.make('ScatterElements', [ctx.tmp(`zeros_${s.axis}`), ctx.tmp(`indices_${s.axis}_full`), current], [out], { axis: s.axis }),
      );
      current = out;
    });
    if (padded) {
      nodes.push(ctx.make('Pad', [current, ctx.ints('pads', [...padBegin, ...padEnd])], [ctx.GI(0)], { mode: 'constant' }));
    } else if (scatters.length === 0) {
      nodes.push(ctx.make('Identity', [current], [ctx.GI(0)]));
    }
    return nodes;
  },
};
