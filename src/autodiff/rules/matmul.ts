// Y = A · B over the last two axes, batch axes broadcast: dA = dY · Bᵀ, dB = Aᵀ · dY (then un-broadcast).
import { UserError } from '../../errors.js';
import type { Dim } from '../../onnx/builder.js';
import type { GradContext, GradRule } from '../rule.js';

function transposeLastTwo(ctx: GradContext, x: string, out: string) {
  const rank = ctx.rank(x);
  const perm = [...Array.from({ length: rank - 2 }, (_, i) => i), rank - 1, rank - 2];
  return ctx.make('Transpose', [x], [out], { perm });
}

export const matmul: GradRule = {
  opType: 'MatMul',
  broadcastInputs: [0, 1],
  grad(ctx) {
    const [A, B, dY] = [ctx.I(0), ctx.I(1), ctx.GO(0)];
    if (ctx.rank(A) < 2 || ctx.rank(B) < 2) {
      throw new UserError(`MatMul node '${ctx.node.name}': gradients need inputs of rank 2 or more`);
    }
    const nodes = [];
    if (ctx.needsGrad(0)) {
      nodes.push(transposeLastTwo(ctx, B, ctx.tmp('B_T')));
      nodes.push(ctx.make('MatMul', [dY, ctx.tmp('B_T')], [ctx.GI(0)]));
    }
    if (ctx.needsGrad(1) && ctx.rank(B) === 2 && ctx.rank(A) > 2) {
      nodes.push(...sharedWeightGradient(ctx, A, B, dY));
    } else if (ctx.needsGrad(1)) {
      nodes.push(transposeLastTwo(ctx, A, ctx.tmp('A_T')));
      nodes.push(ctx.make('MatMul', [ctx.tmp('A_T'), dY], [ctx.GI(1)]));
    }
    return nodes;
  },
};

/**
 * A 2-D B (a Linear layer's weight on [batch, sequence, features]) is shared by every row of A: dB = Aᵀ · dY
 * with the batch axes folded into the rows, one product, rather than one per batch element summed after
 * (which writes and reads a [batch, K, M] tensor). It is written at B's own shape: at the output's rank, with
 * leading ones, the driver's un-broadcast would undo them with a ReduceSum that copies it.
 */
function sharedWeightGradient(ctx: GradContext, A: string, B: string, dY: string) {
  const [k, n] = ctx.shape(B) ?? [];
  return [
    ctx.make('Shape', [A], [ctx.tmp('A_rows_shape_tail')], { start: -1 }),
    ctx.make('Concat', [ctx.ints('minus_one', [-1]), ctx.tmp('A_rows_shape_tail')], [ctx.tmp('A_rows_shape')], { axis: 0 }),
    ctx.make('Reshape', [A, ctx.tmp('A_rows_shape')], [ctx.tmp('A_rows')]),
    ctx.make('Shape', [dY], [ctx.tmp('dY_rows_shape_tail')], { start: -1 }),
    ctx.make('Concat', [ctx.ints('minus_one', [-1]), ctx.tmp('dY_rows_shape_tail')], [ctx.tmp('dY_rows_shape')], { axis: 0 }),
    ctx.make('Reshape', [dY, ctx.tmp('dY_rows_shape')], [ctx.tmp('dY_rows')]),
    ...rowsProduct(ctx, ctx.tmp('A_rows'), ctx.tmp('dY_rows'), k, n, ctx.GIAtInputShape(1)),
  ];
}

/**
 * Aᵀ · dY over the rows, [K, N]. onnxruntime's transposed-A product is slower the wider its output: with N > K
 * (a Linear layer that widens, BERT's intermediate dense) (dYᵀ · A)ᵀ, the narrow product and a transpose of
 * the small result, is faster (1.7 against 2.0 ms for 2048 rows, K 128, N 512). Same sums.
 */
function rowsProduct(ctx: GradContext, aRows: string, dYRows: string, k: Dim | undefined, n: Dim | undefined, out: string) {
  if (typeof k === 'number' && typeof n === 'number' && n > k) {
    return [
      ctx.make('Transpose', [dYRows], [ctx.tmp('dY_rows_T')], { perm: [1, 0] }),
      ctx.make('MatMul', [ctx.tmp('dY_rows_T'), aRows], [ctx.tmp('dB_T')]),
      ctx.make('Transpose', [ctx.tmp('dB_T')], [out], { perm: [1, 0] }),
    ];
  }
  return [
    ctx.make('Transpose', [aRows], [ctx.tmp('A_rows_T')], { perm: [1, 0] }),
    ctx.make('MatMul', [ctx.tmp('A_rows_T'), dYRows], [out]),
  ];
}
