// Emitters for ops whose signature changed between opsets, so rules and losses work on imported models at
// opset 13-18 as well as on the project's own opset 17 graphs.
import type { NodeProto } from '../onnx/proto.js';
import type { Emitter as FullEmitter } from '../graph/emitter.js';

type Emitter = Pick<FullEmitter, 'make' | 'ints' | 'opset'>;

/** ReduceSum takes axes as an input from opset 13. */
export function reduceSum(ctx: Emitter, x: string, axes: number[], keepdims: boolean, out: string): NodeProto {
  return ctx.make('ReduceSum', [x, ctx.ints(`axes_${axes.join('_')}`, axes)], [out], { keepdims: keepdims ? 1 : 0 });
}

/** ReduceMean takes axes as an input from opset 18; no axes means all of them. */
export function reduceMean(ctx: Emitter, x: string, axes: number[], keepdims: boolean, out: string): NodeProto {
  return reduceFrom18('ReduceMean', ctx, x, axes, keepdims, out);
}

/** ReduceLogSumExp, like ReduceMean, takes axes as an input from opset 18. */
export function reduceLogSumExp(ctx: Emitter, x: string, axes: number[], keepdims: boolean, out: string): NodeProto {
  return reduceFrom18('ReduceLogSumExp', ctx, x, axes, keepdims, out);
}

function reduceFrom18(op: string, ctx: Emitter, x: string, axes: number[], keepdims: boolean, out: string): NodeProto {
  if (axes.length === 0) return ctx.make(op, [x], [out], { keepdims: keepdims ? 1 : 0 });
  if (ctx.opset >= 18) return ctx.make(op, [x, ctx.ints(`axes_${axes.join('_')}`, axes)], [out], { keepdims: keepdims ? 1 : 0 });
  return ctx.make(op, [x], [out], { axes, keepdims: keepdims ? 1 : 0 });
}

export function unsqueeze(ctx: Emitter, x: string, axes: number[], out: string): NodeProto {
  return ctx.make('Unsqueeze', [x, ctx.ints(`axes_${axes.join('_')}`, axes)], [out]);
}

export const MIN_OPSET = 13;
