// Y = X if X > 0 else alpha * X: dX = dY where X > 0, else alpha * dY.
import type { GradRule } from '../rule.js';

export const leakyRelu: GradRule = {
  opType: 'LeakyRelu',
  grad: (ctx) => [
    ctx.make('Greater', [ctx.I(0), ctx.constant('zero', [0])], [ctx.tmp('positive')]),
    ctx.make('Mul', [ctx.GO(0), ctx.constant('alpha', [ctx.attrFloat('alpha', 0.01)])], [ctx.tmp('scaled')]),
    ctx.make('Where', [ctx.tmp('positive'), ctx.GO(0), ctx.tmp('scaled')], [ctx.GI(0)]),
  ],
};
