// Cast and CastLike between float types: dX = dY cast back to X's type. Casts from or to integer and boolean
// types never reach a rule: the driver keeps only float tensors on a gradient path.
import type { GradRule } from '../rule.js';

export const cast: GradRule = {
  opType: 'Cast',
  grad: (ctx) => [ctx.make('Cast', [ctx.GO(0)], [ctx.GI(0)], { to: ctx.dtypeOf(ctx.I(0)) ?? ctx.dtype })],
};

/** CastLike(X, target): the target only lends its type, and gets no gradient. */
export const castLike: GradRule = {
  opType: 'CastLike',
  typeOnlyInputs: [1],
  grad: (ctx) => (ctx.needsGrad(0) ? [ctx.make('CastLike', [ctx.GO(0), ctx.I(0)], [ctx.GI(0)])] : []),
};
