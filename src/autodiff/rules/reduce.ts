// ReduceSum / ReduceMean: dX = dY with the reduced axes restored and expanded to X's shape
// (divided by the number of elements averaged, for the mean).
import { axesOf } from '../../graph/shapes.js';
import { UserError } from '../../errors.js';
import { unsqueeze } from '../emit.js';
import type { GradContext, GradRule } from '../rule.js';

function spreadBack(ctx: GradContext, out: string) {
  const X = ctx.I(0);
  const axes = axesOf({ node: ctx.node, attr: ctx.attr, intValues: ctx.intValues });
  const noop = ctx.attrInt('noop_with_empty_axes', 0) === 1;
  if (ctx.node.input[1] && !axes) throw new UserError(`${ctx.node.opType} node '${ctx.node.name}': axes must be a constant to build its gradient`);
  if (noop && (!axes || axes.length === 0)) return [ctx.make('Identity', [ctx.GO(0)], [out])];
  let dY = ctx.GO(0);
  const nodes = [];
  if (ctx.attrInt('keepdims', 1) === 0 && axes && axes.length > 0) {
    const rank = ctx.rank(X);
    nodes.push(unsqueeze(ctx, dY, axes.map((a) => (a < 0 ? a + rank : a)).sort((a, b) => a - b), ctx.tmp('dY_kept')));
    dY = ctx.tmp('dY_kept');
  }
  nodes.push(ctx.make('Shape', [X], [ctx.tmp('X_shape')]));
  nodes.push(ctx.make('Expand', [dY, ctx.tmp('X_shape')], [out]));
  return nodes;
}

export const reduceSum: GradRule = {
  opType: 'ReduceSum',
  grad: (ctx) => spreadBack(ctx, ctx.GI(0)),
};

export const reduceMean: GradRule = {
  opType: 'ReduceMean',
  grad: (ctx) => [
    ...spreadBack(ctx, ctx.tmp('dX_sum')),
    ctx.make('Size', [ctx.I(0)], [ctx.tmp('X_size')]),
    ctx.make('Size', [ctx.O(0)], [ctx.tmp('Y_size')]),
    ctx.make('Div', [ctx.tmp('X_size'), ctx.tmp('Y_size')], [ctx.tmp('count_int')]),
    ctx.make('Cast', [ctx.tmp('count_int')], [ctx.tmp('count')], { to: ctx.dtype }),
    ctx.make('Div', [ctx.tmp('dX_sum'), ctx.tmp('count')], [ctx.GI(0)]),
  ],
};
