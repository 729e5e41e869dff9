// Y = erf(X): dX = dY · 2/√π · e^(-X²) (PyTorch's exporters write Gelu this way before opset 20), computed as
// dY · e^(ln(2/√π) - X²): one Sub instead of a Neg and a Mul by 2/√π, a pass fewer over X (Neg is slow in
// onnxruntime: as long as a Mul of two tensors).
import type { GradRule } from '../rule.js';

export const erf: GradRule = {
  opType: 'Erf',
  grad: (ctx) => [
    ctx.make('Mul', [ctx.I(0), ctx.I(0)], [ctx.tmp('X2')]),
    ctx.make('Sub', [ctx.constant('log_two_over_sqrt_pi', [Math.log(2 / Math.sqrt(Math.PI))]), ctx.tmp('X2')], [ctx.tmp('exponent')]),
    ctx.make('Exp', [ctx.tmp('exponent')], [ctx.tmp('dY_dX')]),
    ctx.make('Mul', [ctx.GO(0), ctx.tmp('dY_dX')], [ctx.GI(0)]),
  ],
};
