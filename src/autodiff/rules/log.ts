// Y = ln X: dX = dY / X.
import type { GradRule } from '../rule.js';

export const log: GradRule = {
  opType: 'Log',
  grad: (ctx) => [ctx.make('Div', [ctx.GO(0), ctx.I(0)], [ctx.GI(0)])],
};
