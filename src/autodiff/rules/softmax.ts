// Softmax and LogSoftmax along one axis (opset 13 semantics; the default axis is the last), Σ along that axis:
//   Y = softmax(X):     dX = Y · (dY - Σ dY · Y)
//   Y = log_softmax(X): dX = dY - e^Y · Σ dY
import { UserError } from '../../errors.js';
import { reduceSum } from '../emit.js';
import type { GradContext, GradRule } from '../rule.js';

function axisOf(ctx: GradContext): number {
  if (ctx.opset < 13) {
    throw new UserError(`${ctx.node.opType} node '${ctx.node.name}': before opset 13 it normalizes over all axes from 'axis' on; ` +
      'gradients are built for opset 13 and later');
  }
  const axis = ctx.attrInt('axis', -1);
  return axis < 0 ? axis + ctx.rank(ctx.I(0)) : axis;
}

export const softmax: GradRule = {
  opType: 'Softmax',
  grad(ctx) {
    const [Y, dY] = [ctx.O(0), ctx.GO(0)];
    return [
      ctx.make('Mul', [dY, Y], [ctx.tmp('dY_Y')]),
      reduceSum(ctx, ctx.tmp('dY_Y'), [axisOf(ctx)], true, ctx.tmp('sum_dY_Y')),
      ctx.make('Sub', [dY, ctx.tmp('sum_dY_Y')], [ctx.tmp('centered')]),
      ctx.make('Mul', [Y, ctx.tmp('centered')], [ctx.GI(0)]),
    ];
  },
};

export const logSoftmax: GradRule = {
  opType: 'LogSoftmax',
  grad(ctx) {
    const [Y, dY] = [ctx.O(0), ctx.GO(0)];
    return [
      reduceSum(ctx, dY, [axisOf(ctx)], true, ctx.tmp('sum_dY')),
      ctx.make('Exp', [Y], [ctx.tmp('softmax')]),
      ctx.make('Mul', [ctx.tmp('softmax'), ctx.tmp('sum_dY')], [ctx.tmp('spread')]),
      ctx.make('Sub', [dY, ctx.tmp('spread')], [ctx.GI(0)]),
    ];
  },
};
