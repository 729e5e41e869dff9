// Y = Expand(X, shape): X broadcast to the shape. dX = dY summed back to X's shape, which the driver's
// un-broadcasting does.
import type { GradRule } from '../rule.js';

export const expand: GradRule = {
  opType: 'Expand',
  broadcastInputs: [0],
  grad: (ctx) => [ctx.make('Identity', [ctx.GO(0)], [ctx.GI(0)])],
};
