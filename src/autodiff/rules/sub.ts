// Y = A - B: dA = dY, dB = -dY.
import type { GradRule } from '../rule.js';

export const sub: GradRule = {
  opType: 'Sub',
  broadcastInputs: [0, 1],
  grad(ctx) {
    const nodes = [];
    if (ctx.needsGrad(0)) nodes.push(ctx.make('Identity', [ctx.GO(0)], [ctx.GI(0)]));
    if (ctx.needsGrad(1)) nodes.push(ctx.make('Neg', [ctx.GO(0)], [ctx.GI(1)]));
    return nodes;
  },
};
