// Ops that only change a tensor's shape (Reshape, Flatten, Squeeze, Unsqueeze): dX = dY reshaped to X's shape.
import type { GradContext, GradRule } from '../rule.js';

function reshapeBack(ctx: GradContext) {
  return [
    ctx.make('Shape', [ctx.I(0)], [ctx.tmp('X_shape')]),
    ctx.make('Reshape', [ctx.GO(0), ctx.tmp('X_shape')], [ctx.GI(0)]),
  ];
}

export const reshape: GradRule = { opType: 'Reshape', grad: reshapeBack };
export const flatten: GradRule = { opType: 'Flatten', grad: reshapeBack };
export const squeeze: GradRule = { opType: 'Squeeze', grad: reshapeBack };
export const unsqueeze: GradRule = { opType: 'Unsqueeze', grad: reshapeBack };
