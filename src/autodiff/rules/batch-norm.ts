// Y = scale · (X - mean) / √(var + ε) + B per channel (axis 1), the running statistics held fixed: inference
// mode, PyTorch's eval(), the usual way to fine-tune a BatchNorm layer. With σ = √(var + ε) and k = scale / σ,
// Σ running over every axis but the channel one:
//   dX = dY · k     dscale = Σ dY · (X - mean) / σ     dB = Σ dY
//   dmean = -k · Σ dY     dvar = -½ · scale / σ³ · Σ dY · (X - mean)
// (the statistics are normally constants and get no gradient; a model that trains them gets the exact one).
// Training mode normalizes with the batch's own statistics, a different function: the artifacts spell such a
// BatchNorm out in standard ops (src/artifacts/batch-norm-mode.ts), so reaching this rule with one is refused.
import { UserError } from '../../errors.js';
import { reduceSum, unsqueeze } from '../emit.js';
import type { GradContext, GradRule } from '../rule.js';

export const batchNormalization: GradRule = {
  opType: 'BatchNormalization',
  grad(ctx) {
    if (ctx.attrInt('training_mode', 0) === 1 || ctx.node.output.slice(1).some(Boolean)) {
      throw new UserError(`BatchNormalization node '${ctx.node.name}' runs in training mode (batch statistics); ` +
        'gradients are built for the inference form only, with the running statistics fixed (PyTorch eval())');
    }
    const [X, scale, mean, variance, dY] = [ctx.I(0), ctx.I(1), ctx.I(3), ctx.I(4), ctx.GO(0)];
    const rank = ctx.rank(X);
    const others = [0, ...Array.from({ length: rank - 2 }, (_, i) => i + 2)];
    const nodes = [];
    /** A per-channel [C] tensor shaped [C, 1, ...] to broadcast against X. */
    const perChannel = (t: string) => {
      if (rank <= 2) return t;
      nodes.push(unsqueeze(ctx, t, Array.from({ length: rank - 2 }, (_, i) => i + 1), ctx.tmp(`${t}_bc`)));
      return ctx.tmp(`${t}_bc`);
    };
    nodes.push(
      ctx.make('Add', [variance, ctx.constant('epsilon', [ctx.attrFloat('epsilon', 1e-5)])], [ctx.tmp('var_eps')]),
      ctx.make('Sqrt', [ctx.tmp('var_eps')], [ctx.tmp('sigma')]),
      ctx.make('Div', [scale, ctx.tmp('sigma')], [ctx.tmp('k')]),
    );
    if (ctx.needsGrad(0)) nodes.push(ctx.make('Mul', [dY, perChannel(ctx.tmp('k'))], [ctx.GI(0)]));
    const sumDY = ctx.needsGrad(2) ? ctx.GI(2) : ctx.tmp('sum_dY');
    if (ctx.needsGrad(2) || ctx.needsGrad(3)) nodes.push(reduceSum(ctx, dY, others, false, sumDY));
    if (ctx.needsGrad(3)) {
      nodes.push(ctx.make('Mul', [sumDY, ctx.tmp('k')], [ctx.tmp('k_sum_dY')]), ctx.make('Neg', [ctx.tmp('k_sum_dY')], [ctx.GI(3)]));
    }
    if (ctx.needsGrad(1) || ctx.needsGrad(4)) {
      nodes.push(
        ctx.make('Sub', [X, perChannel(mean)], [ctx.tmp('centered')]),
        ctx.make('Mul', [dY, ctx.tmp('centered')], [ctx.tmp('dY_centered')]),
        reduceSum(ctx, ctx.tmp('dY_centered'), others, false, ctx.tmp('sum_dY_centered')),
      );
      if (ctx.needsGrad(1)) nodes.push(ctx.make('Div', [ctx.tmp('sum_dY_centered'), ctx.tmp('sigma')], [ctx.GI(1)]));
      if (ctx.needsGrad(4)) nodes.push(...varianceGradient(ctx, scale));
    }
    return nodes;
  },
};

function varianceGradient(ctx: GradContext, scale: string) {
  return [
    ctx.make('Mul', [ctx.tmp('var_eps'), ctx.tmp('sigma')], [ctx.tmp('sigma3')]),
    ctx.make('Div', [scale, ctx.tmp('sigma3')], [ctx.tmp('scale_over_sigma3')]),
    ctx.make('Mul', [ctx.tmp('scale_over_sigma3'), ctx.constant('minus_half', [-0.5])], [ctx.tmp('dvar_factor')]),
    ctx.make('Mul', [ctx.tmp('sum_dY_centered'), ctx.tmp('dvar_factor')], [ctx.GI(4)]),
  ];
}
