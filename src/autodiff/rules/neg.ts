// Y = -X: dX = -dY.
import type { GradRule } from '../rule.js';

export const neg: GradRule = {
  opType: 'Neg',
  grad: (ctx) => [ctx.make('Neg', [ctx.GO(0)], [ctx.GI(0)])],
};
