// Shared by the gradients of the gather family (Gather, GatherElements, GatherND): each reads elements of its
// data by index, so the data's gradient is the incoming gradient added back at those indices into zeros
// (ScatterND / ScatterElements with reduction 'add', so repeated indices accumulate). Indices get no gradient.
import type { NodeProto } from '../../onnx/proto.js';
import { DataType } from '../../onnx/builder.js';
import { UserError } from '../../errors.js';
import type { GradContext } from '../rule.js';

/** Scatter's reduction attribute exists from opset 16. */
export function requireScatterAdd(ctx: GradContext): void {
  if (ctx.opset < 16) {
    throw new UserError(`${ctx.node.opType} node '${ctx.node.name}': its gradient needs ScatterND/ScatterElements with reduction 'add' ` +
      `(opset 16 or later); the model is opset ${ctx.opset}: re-export it with opset_version=17`);
  }
}

/**
 * Indices as int64 with negative ones counted from the end: idx + size where idx < 0. `size` is a tensor that
 * broadcasts against the indices (one axis's size as a scalar, or the leading sizes for GatherND).
 */
export function normalizedIndices(ctx: GradContext, indices: string, size: string, nodes: NodeProto[]): string {
  const known = ctx.intValues(indices);
  if (known && known.every((i) => i >= 0) && ctx.dtypeOf(indices) === DataType.INT64) return indices;
  let idx = indices;
  if (ctx.dtypeOf(indices) !== DataType.INT64) {
    nodes.push(ctx.make('Cast', [indices], [ctx.tmp('indices_int64')], { to: DataType.INT64 }));
    idx = ctx.tmp('indices_int64');
  }
  nodes.push(
    ctx.make('Less', [idx, ctx.ints('zero_index', [0], [])], [ctx.tmp('negative')]),
    ctx.make('Add', [idx, size], [ctx.tmp('wrapped')]),
    ctx.make('Where', [ctx.tmp('negative'), ctx.tmp('wrapped'), idx], [ctx.tmp('indices_normalized')]),
  );
  return ctx.tmp('indices_normalized');
}

/**
 * Gather's and GatherElements' indices into `data` along `axis`, normalized: pushes `data_shape` (the data's
 * shape, which the caller reads for its zeros) and the axis's size onto `nodes`.
 */
export function indicesAlongAxis(ctx: GradContext, data: string, indices: string, axis: number, nodes: NodeProto[]): string {
  nodes.push(
    ctx.make('Shape', [data], [ctx.tmp('data_shape')]),
    ctx.make('Gather', [ctx.tmp('data_shape'), ctx.ints('axis_index', [axis], [])], [ctx.tmp('axis_size')], { axis: 0 }),
  );
  return normalizedIndices(ctx, indices, ctx.tmp('axis_size'), nodes);
}

/** Zeros of the given shape (a 1-D int64 tensor), in the gradient's type. */
export function zerosOfShape(ctx: GradContext, shape: string, out: string): NodeProto {
  return ctx.make('Expand', [ctx.constant('zero', [0]), shape], [out]);
}
