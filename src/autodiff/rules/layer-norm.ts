// LayerNormalization (opset 17) over the axes from `axis` on (N of them averaged):
//   x̂ = (X - μ) · r,  r = 1 / √(σ² + ε),  Y = x̂ · Scale + B
//   dScale = Σ dY · x̂,  dB = Σ dY  (over the leading axes: written at X's shape, the driver sums them away)
//   g = dY · Scale:  dX = r · (g - mean(g) - x̂ · mean(g · x̂))
// μ and r are recomputed from X rather than read from the optional Mean / InvStdDev outputs, which a model
// rarely keeps; a gradient arriving at those outputs is refused.
import { UserError } from '../../errors.js';
import { reduceMean } from '../emit.js';
import type { GradRule } from '../rule.js';

export const layerNormalization: GradRule = {
  opType: 'LayerNormalization',
  broadcastInputs: [1, 2],
  grad(ctx) {
    if (ctx.GO(1) || ctx.GO(2)) {
      throw new UserError(`LayerNormalization node '${ctx.node.name}': gradients through its Mean or InvStdDev outputs are not supported`);
    }
    const [X, scale, dY] = [ctx.I(0), ctx.I(1), ctx.GO(0)];
    const rank = ctx.rank(X);
    const attrAxis = ctx.attrInt('axis', -1);
    const axis = attrAxis < 0 ? attrAxis + rank : attrAxis;
    const axes = Array.from({ length: rank - axis }, (_, i) => axis + i);
    const t = ctx.tmp;
    const m = (op: string, inputs: string[], out: string) => ctx.make(op, inputs, [out]);
    if (!ctx.needsGrad(0) && !ctx.needsGrad(1)) return ctx.needsGrad(2) ? [ctx.make('Identity', [dY], [ctx.GI(2)])] : [];
    const nodes = [
      reduceMean(ctx, X, axes, true, t('mean')),
      m('Sub', [X, t('mean')], t('centered')),
      m('Mul', [t('centered'), t('centered')], t('squared')),
      reduceMean(ctx, t('squared'), axes, true, t('variance')),
      m('Add', [t('variance'), ctx.constant('epsilon', [ctx.attrFloat('epsilon', 1e-5)])], t('variance_eps')),
      m('Sqrt', [t('variance_eps')], t('std')),
      m('Reciprocal', [t('std')], t('inv_std')),
      m('Mul', [t('centered'), t('inv_std')], t('normalized')),
    ];
    if (ctx.needsGrad(0)) {
      nodes.push(
        m('Mul', [dY, scale], t('g')),
        reduceMean(ctx, t('g'), axes, true, t('mean_g')),
        m('Mul', [t('g'), t('normalized')], t('g_normalized')),
        reduceMean(ctx, t('g_normalized'), axes, true, t('mean_g_normalized')),
        m('Mul', [t('normalized'), t('mean_g_normalized')], t('projection')),
        m('Sub', [t('g'), t('mean_g')], t('g_centered')),
        m('Sub', [t('g_centered'), t('projection')], t('g_orthogonal')),
        ctx.make('Mul', [t('g_orthogonal'), t('inv_std')], [ctx.GI(0)]),
      );
    }
    if (ctx.needsGrad(1)) nodes.push(ctx.make('Mul', [dY, t('normalized')], [ctx.GI(1)]));
    if (ctx.needsGrad(2)) nodes.push(ctx.make('Identity', [dY], [ctx.GI(2)]));
    return nodes;
  },
};
