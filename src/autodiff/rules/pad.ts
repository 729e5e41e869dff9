// Y = Pad(X, pads, value) in constant mode: X sits inside Y at offset pads_begin. dX = Pad(dY, -pads): negated
// amounts crop the padding off again, and put zeros back where a negative pad had cropped X (axes, from opset 18,
// carried over). d value = Σ dY - Σ dX: every element of Y that is not a copy of X is the constant.
import { UserError } from '../../errors.js';
import type { GradRule } from '../rule.js';

export const pad: GradRule = {
  opType: 'Pad',
  grad(ctx) {
    const mode = ctx.attr('mode')?.s;
    const modeName = mode && mode.length > 0 ? new TextDecoder().decode(mode) : 'constant';
    if (modeName !== 'constant') throw new UserError(`Pad node '${ctx.node.name}': gradients are built for mode 'constant' only, not '${modeName}'`);
    const [pads, axes, dY] = [ctx.I(1), ctx.I(3), ctx.GO(0)];
    const nodes = [];
    const known = ctx.intValues(pads);
    let negated: string;
    if (known) {
      negated = ctx.ints('negated_pads', known.map((p) => -p));
    } else {
      nodes.push(ctx.make('Neg', [pads], [ctx.tmp('negated_pads')]));
      negated = ctx.tmp('negated_pads');
    }
    const dX = ctx.needsGrad(0) ? ctx.GI(0) : ctx.tmp('dX');
    nodes.push(ctx.make('Pad', axes ? [dY, negated, '', axes] : [dY, negated], [dX], { mode: 'constant' }));
    if (ctx.needsGrad(2)) {
      nodes.push(
        ctx.make('ReduceSum', [dY], [ctx.tmp('sum_dY')], { keepdims: 0 }),
        ctx.make('ReduceSum', [dX], [ctx.tmp('sum_dX')], { keepdims: 0 }),
        ctx.make('Sub', [ctx.tmp('sum_dY'), ctx.tmp('sum_dX')], [ctx.tmp('dvalue')]),
        ctx.make('Reshape', [ctx.tmp('dvalue'), ctx.ints('value_shape', ctx.shape(ctx.I(2))?.map(() => 1) ?? [], [ctx.rank(ctx.I(2))])], [ctx.GI(2)]),
      );
    }
    return nodes;
  },
};
