// Y = Where(C, A, B) (broadcast): dA = dY where C, dB = dY where not C (zeros elsewhere). C gets no gradient.
import type { GradRule } from '../rule.js';

export const where: GradRule = {
  opType: 'Where',
  broadcastInputs: [1, 2],
  grad(ctx) {
    const [C, dY] = [ctx.I(0), ctx.GO(0)];
    const zero = ctx.constant('zero', [0]);
    const nodes = [];
    if (ctx.needsGrad(1)) nodes.push(ctx.make('Where', [C, dY, zero], [ctx.GI(1)]));
    if (ctx.needsGrad(2)) nodes.push(ctx.make('Where', [C, zero, dY], [ctx.GI(2)]));
    return nodes;
  },
};
