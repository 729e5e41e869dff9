// Y = erf(X): dX = dY · 2/√π · e^(-X²). (PyTorch's exporters write Gelu this way before opset 20.)
import type { GradRule } from '../rule.js';

export const erf: GradRule = {
  opType: 'Erf',
  grad: (ctx) => [
    ctx.make('Mul', [ctx.I(0), ctx.I(0)], [ctx.tmp('X2')]),
    ctx.make('Neg', [ctx.tmp('X2')], [ctx.tmp('minus_X2')]),
    ctx.make('Exp', [ctx.tmp('minus_X2')], [ctx.tmp('gauss')]),
    ctx.make('Mul', [ctx.tmp('gauss'), ctx.constant('two_over_sqrt_pi', [2 / Math.sqrt(Math.PI)])], [ctx.tmp('dY_dX')]),
    ctx.make('Mul', [ctx.GO(0), ctx.tmp('dY_dX')], [ctx.GI(0)]),
  ],
};
