// Y = tanh(X): dX = dY * (1 - Y²).
import type { GradRule } from '../rule.js';

export const tanh: GradRule = {
  opType: 'Tanh',
  grad: (ctx) => [
    ctx.make('Mul', [ctx.O(0), ctx.O(0)], [ctx.tmp('Y2')]),
    ctx.make('Sub', [ctx.constant('one', [1]), ctx.tmp('Y2')], [ctx.tmp('dY_dX')]),
    ctx.make('Mul', [ctx.GO(0), ctx.tmp('dY_dX')], [ctx.GI(0)]),
  ],
};
