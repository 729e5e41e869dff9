// Y = X · max(0, min(1, X/6 + 1/2)): dX = dY · (0 if X < -3; X/3 + 1/2 if X <= 3; 1 above), PyTorch's
// hardswish_backward, kinks included.
import type { GradRule } from '../rule.js';

export const hardSwish: GradRule = {
  opType: 'HardSwish',
  grad(ctx) {
    const [X, dY] = [ctx.I(0), ctx.GO(0)];
    const c = (name: string, v: number) => ctx.constant(name, [v]);
    const t = ctx.tmp;
    return [
      ctx.make('Mul', [X, c('third', 1 / 3)], [t('X_third')]),
      ctx.make('Add', [t('X_third'), c('half', 0.5)], [t('ramp')]),
      ctx.make('LessOrEqual', [X, c('three', 3)], [t('not_above')]),
      ctx.make('Where', [t('not_above'), t('ramp'), c('one', 1)], [t('upper')]),
      ctx.make('Less', [X, c('minus_three', -3)], [t('below')]),
      ctx.make('Where', [t('below'), c('zero', 0), t('upper')], [t('slope')]),
      ctx.make('Mul', [dY, t('slope')], [ctx.GI(0)]),
    ];
  },
};
