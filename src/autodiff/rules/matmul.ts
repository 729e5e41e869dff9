// Y = A · B over the last two axes, batch axes broadcast: dA = dY · Bᵀ, dB = Aᵀ · dY (then un-broadcast).
import { UserError } from '../../errors.js';
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
    if (ctx.needsGrad(1)) {
      nodes.push(transposeLastTwo(ctx, A, ctx.tmp('A_T')));
      nodes.push(ctx.make('MatMul', [ctx.tmp('A_T'), dY], [ctx.GI(1)]));
    }
    return nodes;
  },
};
