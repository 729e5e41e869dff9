// Y = max(X, 0): dX = dY where Y > 0, else 0 (PyTorch's threshold_backward on the result). Reading Y rather
// than X leaves X with one consumer, so ONNX Runtime can still fuse the producing Gemm/Conv with the Relu.
import type { GradRule } from '../rule.js';

export const relu: GradRule = {
  opType: 'Relu',
  grad: (ctx) => [
    ctx.make('Greater', [ctx.O(0), ctx.constant('zero', [0])], [ctx.tmp('positive')]),
    ctx.make('Where', [ctx.tmp('positive'), ctx.GO(0), ctx.constant('zero', [0])], [ctx.GI(0)]),
  ],
};
