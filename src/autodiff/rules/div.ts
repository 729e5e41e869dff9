// Y = A / B: dA = dY / B, dB = -dY * A / B² = -dY * Y / B.
import type { GradRule } from '../rule.js';

export const div: GradRule = {
  opType: 'Div',
  broadcastInputs: [0, 1],
  grad(ctx) {
    const [B, Y, dY] = [ctx.I(1), ctx.O(0), ctx.GO(0)];
    const nodes = [];
    if (ctx.needsGrad(0)) nodes.push(ctx.make('Div', [dY, B], [ctx.GI(0)]));
    if (ctx.needsGrad(1)) {
      nodes.push(ctx.make('Div', [Y, B], [ctx.tmp('Y_over_B')]));
      nodes.push(ctx.make('Mul', [dY, ctx.tmp('Y_over_B')], [ctx.tmp('dY_Y_over_B')]));
      nodes.push(ctx.make('Neg', [ctx.tmp('dY_Y_over_B')], [ctx.GI(1)]));
    }
    return nodes;
  },
};
