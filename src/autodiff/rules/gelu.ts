// Gelu (an op from opset 20), as PyTorch differentiates it:
//   approximate 'none': Y = X · Φ(X), Φ(x) = ½ (1 + erf(x / √2)):  dX = dY · (Φ(X) + X · φ(X)), φ(x) = e^(-x²/2) / √(2π)
//   approximate 'tanh': Y = ½ X (1 + t), t = tanh(β (X + κ X³)), β = √(2/π), κ = 0.044715:
//                       dX = dY · (½ (1 + t) + ½ X (1 - t²) β (1 + 3κ X²))
import type { GradRule } from '../rule.js';

export const gelu: GradRule = {
  opType: 'Gelu',
  grad(ctx) {
    const [X, dY] = [ctx.I(0), ctx.GO(0)];
    const mode = ctx.attr('approximate')?.s;
    const approximate = mode && mode.length > 0 ? new TextDecoder().decode(mode) : 'none';
    const c = (name: string, value: number) => ctx.constant(name, [value]);
    const m = (op: string, inputs: string[], out: string) => ctx.make(op, inputs, [ctx.tmp(out)]);
    const t = ctx.tmp;
    if (approximate === 'tanh') {
      const [beta, kappa] = [Math.sqrt(2 / Math.PI), 0.044715];
      return [
        m('Mul', [X, X], 'X2'),
        m('Mul', [t('X2'), X], 'X3'),
        m('Mul', [t('X3'), c('kappa', kappa)], 'kX3'),
        m('Add', [X, t('kX3')], 'inner_sum'),
        m('Mul', [t('inner_sum'), c('beta', beta)], 'inner'),
        m('Tanh', [t('inner')], 't'),
        m('Add', [t('t'), c('one', 1)], 'one_plus_t'),
        m('Mul', [t('one_plus_t'), c('half', 0.5)], 'left'),
        m('Mul', [t('t'), t('t')], 't2'),
        m('Sub', [c('one', 1), t('t2')], 'one_minus_t2'),
        m('Mul', [t('X2'), c('three_kappa', 3 * kappa)], 'three_kX2'),
        m('Add', [t('three_kX2'), c('one', 1)], 'inner_slope'),
        m('Mul', [t('inner_slope'), c('half_beta', 0.5 * beta)], 'half_beta_slope'),
        m('Mul', [X, t('one_minus_t2')], 'X_sech2'),
        m('Mul', [t('X_sech2'), t('half_beta_slope')], 'right'),
        m('Add', [t('left'), t('right')], 'dY_dX'),
        ctx.make('Mul', [dY, t('dY_dX')], [ctx.GI(0)]),
      ];
    }
    return [
      m('Mul', [X, c('rsqrt2', Math.SQRT1_2)], 'X_rsqrt2'),
      m('Erf', [t('X_rsqrt2')], 'erf'),
      m('Add', [t('erf'), c('one', 1)], 'one_plus_erf'),
      m('Mul', [t('one_plus_erf'), c('half', 0.5)], 'cdf'),
      m('Mul', [X, X], 'X2'),
      m('Mul', [t('X2'), c('minus_half', -0.5)], 'exponent'),
      m('Exp', [t('exponent')], 'gauss'),
      m('Mul', [t('gauss'), c('rsqrt_2pi', 1 / Math.sqrt(2 * Math.PI))], 'pdf'),
      m('Mul', [X, t('pdf')], 'X_pdf'),
      m('Add', [t('cdf'), t('X_pdf')], 'dY_dX'),
      ctx.make('Mul', [dY, t('dY_dX')], [ctx.GI(0)]),
    ];
  },
};
