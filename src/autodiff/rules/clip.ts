// Y = min(max(X, lo), hi), lo and hi optional scalar inputs (opset 11+): where min > max onnxruntime (like PyTorch)
// gives hi everywhere. As PyTorch's clamp backward: X gets dY where lo <= X <= hi (the bounds themselves pass
// the gradient through); lo gets Σ dY where X < lo <= hi; hi gets Σ dY where max(X, lo) > hi.
import type { GradRule } from '../rule.js';

export const clip: GradRule = {
  opType: 'Clip',
  grad(ctx) {
    const [X, lo, hi, dY] = [ctx.I(0), ctx.I(1), ctx.I(2), ctx.GO(0)];
    const zero = ctx.constant('zero', [0]);
    const nodes = [];
    if (ctx.needsGrad(0)) {
      const masks = [];
      if (lo) {
        nodes.push(ctx.make('GreaterOrEqual', [X, lo], [ctx.tmp('above_lo')]));
        masks.push(ctx.tmp('above_lo'));
      }
      if (hi) {
        nodes.push(ctx.make('LessOrEqual', [X, hi], [ctx.tmp('below_hi')]));
        masks.push(ctx.tmp('below_hi'));
      }
      if (masks.length === 2) nodes.push(ctx.make('And', masks, [ctx.tmp('inside')]));
      const inside = masks.length === 2 ? ctx.tmp('inside') : masks[0];
      nodes.push(inside ? ctx.make('Where', [inside, dY, zero], [ctx.GI(0)]) : ctx.make('Identity', [dY], [ctx.GI(0)]));
    }
    if (ctx.needsGrad(1)) {
      nodes.push(ctx.make('Less', [X, lo], [ctx.tmp('below_lo')]));
      let held = ctx.tmp('below_lo');
      if (hi) {
        nodes.push(ctx.make('LessOrEqual', [lo, hi], [ctx.tmp('ordered')]), ctx.make('And', [held, ctx.tmp('ordered')], [ctx.tmp('held_at_lo')]));
        held = ctx.tmp('held_at_lo');
      }
      nodes.push(ctx.make('Where', [held, dY, zero], [ctx.tmp('dlo_all')]), ctx.make('ReduceSum', [ctx.tmp('dlo_all')], [ctx.GI(1)], { keepdims: 0 }));
    }
    if (ctx.needsGrad(2)) {
      let floor = X;
      if (lo) {
        nodes.push(ctx.make('Max', [X, lo], [ctx.tmp('X_above_lo')]));
        floor = ctx.tmp('X_above_lo');
      }
      nodes.push(
        ctx.make('Greater', [floor, hi], [ctx.tmp('held_at_hi')]),
        ctx.make('Where', [ctx.tmp('held_at_hi'), dY, zero], [ctx.tmp('dhi_all')]),
        ctx.make('ReduceSum', [ctx.tmp('dhi_all')], [ctx.GI(2)], { keepdims: 0 }),
      );
    }
    return nodes;
  },
};
