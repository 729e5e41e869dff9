// Y = e^X: dX = dY * Y.
import type { GradRule } from '../rule.js';

export const exp: GradRule = {
  opType: 'Exp',
  grad: (ctx) => [ctx.make('Mul', [ctx.GO(0), ctx.O(0)], [ctx.GI(0)])],
};
