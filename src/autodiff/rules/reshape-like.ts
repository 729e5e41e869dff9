// Ops that only change a tensor's shape (Reshape, with or without allowzero, Flatten at any axis, Squeeze,
// Unsqueeze): dX = dY reshaped to X's shape. That shape is literal, so from opset 14 the Reshape says allowzero=1:
// a 0 in it is a size-0 axis, not "copy dY's size" (which would break on empty tensors).
import type { GradContext, GradRule } from '../rule.js';

function reshapeBack(ctx: GradContext) {
  return [
    ctx.make('Shape', [ctx.I(0)], [ctx.tmp('X_shape')]),
    ctx.make('Reshape', [ctx.GO(0), ctx.tmp('X_shape')], [ctx.GI(0)], { allowzero: ctx.opset >= 14 ? 1 : undefined }),
  ];
}

export const reshape: GradRule = { opType: 'Reshape', grad: reshapeBack };
export const flatten: GradRule = { opType: 'Flatten', grad: reshapeBack };
export const squeeze: GradRule = { opType: 'Squeeze', grad: reshapeBack };
export const unsqueeze: GradRule = { opType: 'Unsqueeze', grad: reshapeBack };
