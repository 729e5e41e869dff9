// Y = A * B: dA = dY * B, dB = dY * A.
import type { GradRule } from '../rule.js';

export const mul: GradRule = {
  opType: 'Mul',
  broadcastInputs: [0, 1],
  grad(ctx) {
    const nodes = [];
    if (ctx.needsGrad(0)) nodes.push(ctx.make('Mul', [ctx.GO(0), ctx.I(1)], [ctx.GI(0)]));
    if (ctx.needsGrad(1)) nodes.push(ctx.make('Mul', [ctx.GO(0), ctx.I(0)], [ctx.GI(1)]));
    return nodes;
  },
};
