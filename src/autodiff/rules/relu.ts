// Y = max(X, 0): dX = dY where X > 0, else 0 (PyTorch's threshold_backward).
import type { GradRule } from '../rule.js';

export const relu: GradRule = {
  opType: 'Relu',
  grad: (ctx) => [
    ctx.make('Greater', [ctx.I(0), ctx.constant('zero', [0])], [ctx.tmp('positive')]),
    ctx.make('Where', [ctx.tmp('positive'), ctx.GO(0), ctx.constant('zero', [0])], [ctx.GI(0)]),
  ],
};
