// Y = max(0, min(1, αX + β)): dX = α · dY where 0 < αX + β < 1, else 0 (at the kinks too, as PyTorch's
// hardsigmoid_backward, whose -3 < x < 3 is this with α = 1/6, β = 1/2). Computed from X, not Y, so the
// backward graph does not need the forward op.
import type { GradRule } from '../rule.js';

export const hardSigmoid: GradRule = {
  opType: 'HardSigmoid',
  grad(ctx) {
    const [X, dY] = [ctx.I(0), ctx.GO(0)];
    const alpha = ctx.constant('alpha', [ctx.attrFloat('alpha', 0.2)]);
    const t = ctx.tmp;
    return [
      ctx.make('Mul', [X, alpha], [t('alpha_X')]),
      ctx.make('Add', [t('alpha_X'), ctx.constant('beta', [ctx.attrFloat('beta', 0.5)])], [t('linear')]),
      ctx.make('Greater', [t('linear'), ctx.constant('zero', [0])], [t('above_zero')]),
      ctx.make('Less', [t('linear'), ctx.constant('one', [1])], [t('below_one')]),
      ctx.make('And', [t('above_zero'), t('below_one')], [t('sloped')]),
      ctx.make('Mul', [dY, alpha], [t('alpha_dY')]),
      ctx.make('Where', [t('sloped'), t('alpha_dY'), ctx.constant('zero', [0])], [ctx.GI(0)]),
    ];
  },
};
