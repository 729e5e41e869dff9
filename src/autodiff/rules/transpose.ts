// Y = transpose(X, perm): dX = transpose(dY, perm⁻¹). Without perm the axes are reversed, its own inverse.
import type { GradRule } from '../rule.js';

export const transpose: GradRule = {
  opType: 'Transpose',
  grad(ctx) {
    const perm = ctx.attrInts('perm');
    const inverse = perm ? perm.map((_, i) => perm.indexOf(i)) : undefined;
    return [ctx.make('Transpose', [ctx.GO(0)], [ctx.GI(0)], { perm: inverse })];
  },
};
