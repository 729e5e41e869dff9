// Y = A + B: each input receives dY (reduced over the axes it was broadcast along).
import type { GradRule } from '../rule.js';

export const add: GradRule = {
  opType: 'Add',
  broadcastInputs: [0, 1],
  grad: (ctx) => [0, 1].filter((i) => ctx.needsGrad(i)).map((i) => ctx.make('Identity', [ctx.GO(0)], [ctx.GI(i)])),
};
