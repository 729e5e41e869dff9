// Y = √X: dX = dY / (2 Y).
import type { GradRule } from '../rule.js';

export const sqrt: GradRule = {
  opType: 'Sqrt',
  grad: (ctx) => [
    ctx.make('Mul', [ctx.O(0), ctx.constant('two', [2])], [ctx.tmp('two_Y')]),
    ctx.make('Div', [ctx.GO(0), ctx.tmp('two_Y')], [ctx.GI(0)]),
  ],
};
