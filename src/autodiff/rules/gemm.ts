// Y = alpha * op(A) * op(B) + beta * C, where op transposes when transA / transB is set.
import { elementCount } from '../../onnx/tensor.js';
import type { GradContext, GradRule } from '../rule.js';

/**
 * Weights of at least this many elements get their gradient from a plain MatMul on a transposed copy of
 * the left operand rather than a Gemm with transA: MLAS multiplies a transposed left operand 10-15% slower
 * than it copies one. Smaller weights keep the Gemm, one node and the rounding PyTorch's parity tests expect.
 */
const TRANSPOSED_COPY_MIN_ELEMENTS = 1 << 16;

function elements(ctx: GradContext, tensor: string): number {
  const shape = ctx.shape(tensor);
  return shape?.every((d) => typeof d === 'number') ? elementCount(shape as number[]) : 0;
}

export const gemm: GradRule = {
  opType: 'Gemm',
  broadcastInputs: [2],
  grad(ctx) {
    const alpha = ctx.attrFloat('alpha', 1), beta = ctx.attrFloat('beta', 1);
    const transA = ctx.attrInt('transA', 0), transB = ctx.attrInt('transB', 0);
    const [A, B, dY] = [ctx.I(0), ctx.I(1), ctx.GO(0)];
    const nodes = [];
    if (ctx.needsGrad(0)) {
      // dA = alpha * dY * op(B)^T, or its transpose when A was transposed.
      nodes.push(transA
        ? ctx.make('Gemm', [B, dY], [ctx.GI(0)], { alpha, transA: transB, transB: 1 })
        : ctx.make('Gemm', [dY, B], [ctx.GI(0)], { alpha, transA: 0, transB: transB ? 0 : 1 }));
    }
    if (ctx.needsGrad(1) && alpha === 1 && !transA && elements(ctx, B) >= TRANSPOSED_COPY_MIN_ELEMENTS) {
      // dB = dYᵀ·A (transB, as nn.Linear exports) or Aᵀ·dY. ONNX Runtime would fold a Transpose that feeds
      // a MatMul back into it (FusedMatMul, transA); the Flatten, a no-op on a matrix, keeps them apart.
      const [left, right] = transB ? [dY, A] : [A, dY];
      nodes.push(
        ctx.make('Transpose', [left], [ctx.tmp('left_T')], { perm: [1, 0] }),
        ctx.make('Flatten', [ctx.tmp('left_T')], [ctx.tmp('left_T_kept')], { axis: 1 }),
        ctx.make('MatMul', [ctx.tmp('left_T_kept'), right], [ctx.GI(1)]),
      );
    } else if (ctx.needsGrad(1)) {
      // dB = alpha * op(A)^T * dY, or its transpose when B was transposed.
      nodes.push(transB
        ? ctx.make('Gemm', [dY, A], [ctx.GI(1)], { alpha, transA: 1, transB: transA })
        : ctx.make('Gemm', [A, dY], [ctx.GI(1)], { alpha, transA: transA ? 0 : 1, transB: 0 }));
    }
    if (ctx.needsGrad(2)) {
      nodes.push(beta === 1
        ? ctx.make('Identity', [dY], [ctx.GI(2)])
        : ctx.make('Mul', [dY, ctx.constant('beta', [beta])], [ctx.GI(2)]));
    }
    return nodes;
  },
};
