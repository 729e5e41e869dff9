// Y = X when not training (no training_mode input, or a false one: the usual exported eval model): dX = dY.
// Y = X · mask / (1 - ratio) in training mode: dX = dY · mask / (1 - ratio), with the mask the node drew, read
// from its own mask output. A rule cannot add that output to the forward node, so a training-mode Dropout
// without one is refused: whoever builds the training graph must give it a mask output (or feed the mask).
// A training_mode that is not a constant is honoured at run time (the mask is all true when not training).
import { UserError } from '../../errors.js';
import type { GradRule } from '../rule.js';

export const dropout: GradRule = {
  opType: 'Dropout',
  grad(ctx) {
    const [dY, mode, ratio, mask] = [ctx.GO(0), ctx.I(2), ctx.I(1), ctx.O(1)];
    const constantMode = mode ? ctx.intValues(mode) : [0];
    if (constantMode && constantMode[0] === 0) return [ctx.make('Identity', [dY], [ctx.GI(0)])];
    if (!mask) {
      throw new UserError(`Dropout node '${ctx.node.name}' runs in training mode without its mask output, and the gradient needs ` +
        'the mask it drew: give the node a second output (the mask)');
    }
    const nodes = [ctx.make('Where', [mask, dY, ctx.constant('zero', [0])], [ctx.tmp('dY_kept')])];
    const ratioValue = ratio ? ctx.values(ratio) : [0.5];
    let scale: string;
    if (ratioValue) {
      scale = ctx.constant('scale', [1 / (1 - ratioValue[0])]);
    } else {
      nodes.push(
        ctx.make('Cast', [ratio], [ctx.tmp('ratio')], { to: ctx.dtype }),
        ctx.make('Sub', [ctx.constant('one', [1]), ctx.tmp('ratio')], [ctx.tmp('keep')]),
        ctx.make('Div', [ctx.constant('one', [1]), ctx.tmp('keep')], [ctx.tmp('scale')]),
      );
      scale = ctx.tmp('scale');
    }
    if (!constantMode) {
      nodes.push(ctx.make('Where', [mode, scale, ctx.constant('one', [1])], [ctx.tmp('scale_if_training')]));
      scale = ctx.tmp('scale_if_training');
    }
    nodes.push(ctx.make('Mul', [ctx.tmp('dY_kept'), scale], [ctx.GI(0)]));
    return nodes;
  },
};
