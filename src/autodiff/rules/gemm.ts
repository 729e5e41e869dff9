// Y = alpha * op(A) * op(B) + beta * C, where op transposes when transA / transB is set.
import type { GradRule } from '../rule.js';

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
    if (ctx.needsGrad(1)) {
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
