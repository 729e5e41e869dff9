// Y = X: dX = dY.
import type { GradRule } from '../rule.js';

export const identity: GradRule = {
  opType: 'Identity',
  grad: (ctx) => [ctx.make('Identity', [ctx.GO(0)], [ctx.GI(0)])],
};
