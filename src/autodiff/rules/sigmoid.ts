// Y = 1 / (1 + e^-X): dX = dY * Y * (1 - Y).
import type { GradRule } from '../rule.js';

export const sigmoid: GradRule = {
  opType: 'Sigmoid',
  grad: (ctx) => [
    ctx.make('Sub', [ctx.constant('one', [1]), ctx.O(0)], [ctx.tmp('one_minus_Y')]),
    ctx.make('Mul', [ctx.O(0), ctx.tmp('one_minus_Y')], [ctx.tmp('dY_dX')]),
    ctx.make('Mul', [ctx.GO(0), ctx.tmp('dY_dX')], [ctx.GI(0)]),
  ],
};
