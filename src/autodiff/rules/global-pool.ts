// GlobalAveragePool: Y[n, c] = mean of X[n, c, ...] over the spatial axes, so dX = dY spread over them / their size
// (the count is |X| / |dY|, read at run time).
// GlobalMaxPool: Y[n, c] = the first maximum of X[n, c, ...] (ArgMax picks the first, as PyTorch's adaptive
// max pool does); dX = dY at that element, 0 elsewhere, by ScatterElements along the flattened spatial axis.
import type { GradRule } from '../rule.js';

export const globalAveragePool: GradRule = {
  opType: 'GlobalAveragePool',
  grad: (ctx) => [
    ctx.make('Shape', [ctx.I(0)], [ctx.tmp('X_shape')]),
    ctx.make('Expand', [ctx.GO(0), ctx.tmp('X_shape')], [ctx.tmp('dY_spread')]),
    ctx.make('Size', [ctx.I(0)], [ctx.tmp('X_size')]),
    ctx.make('Size', [ctx.GO(0)], [ctx.tmp('dY_size')]),
    ctx.make('Div', [ctx.tmp('X_size'), ctx.tmp('dY_size')], [ctx.tmp('count_int')]),
    ctx.make('Cast', [ctx.tmp('count_int')], [ctx.tmp('count')], { to: ctx.dtype }),
    ctx.make('Div', [ctx.tmp('dY_spread'), ctx.tmp('count')], [ctx.GI(0)]),
  ],
};

export const globalMaxPool: GradRule = {
  opType: 'GlobalMaxPool',
  grad: (ctx) => [
    ctx.make('Reshape', [ctx.I(0), ctx.ints('flat_spatial', [0, 0, -1])], [ctx.tmp('X_flat')]),
    ctx.make('ArgMax', [ctx.tmp('X_flat')], [ctx.tmp('argmax')], { axis: 2, keepdims: 1 }),
    ctx.make('Reshape', [ctx.GO(0), ctx.ints('one_spatial', [0, 0, 1])], [ctx.tmp('dY_flat')]),
    ctx.make('Shape', [ctx.tmp('X_flat')], [ctx.tmp('X_flat_shape')]),
    ctx.make('Expand', [ctx.constant('zero', [0]), ctx.tmp('X_flat_shape')], [ctx.tmp('zeros')]),
    ctx.make('ScatterElements', [ctx.tmp('zeros'), ctx.tmp('argmax'), ctx.tmp('dY_flat')], [ctx.tmp('dX_flat')], { axis: 2 }),
    ctx.make('Shape', [ctx.I(0)], [ctx.tmp('X_shape')]),
    ctx.make('Reshape', [ctx.tmp('dX_flat'), ctx.tmp('X_shape')], [ctx.GI(0)]),
  ],
};
