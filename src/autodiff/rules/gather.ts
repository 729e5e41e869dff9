// Y = Gather(data, indices, axis): embedding lookups (data = weight [V, D], indices of any shape) and index
// selects (x[:, 0]: rank-0 indices). d data = dY added back at the gathered positions into zeros (repeated
// indices accumulate). For axis > 0 the gathered axis is moved to the front first, so one ScatterND on
// indices [..., 1] does it, and moved back after.
import type { NodeProto } from '../../onnx/proto.js';
import type { GradRule } from '../rule.js';
import { indicesAlongAxis, requireScatterAdd, zerosOfShape } from './scatter-add.js';

export const gather: GradRule = {
  opType: 'Gather',
  grad(ctx) {
    if (!ctx.needsGrad(0)) return [];
    requireScatterAdd(ctx);
    const [data, indices, dY] = [ctx.I(0), ctx.I(1), ctx.GO(0)];
    const rank = ctx.rank(data), q = ctx.rank(indices);
    const attrAxis = ctx.attrInt('axis', 0);
    const axis = attrAxis < 0 ? attrAxis + rank : attrAxis;
    const nodes: NodeProto[] = [];
    const idx = indicesAlongAxis(ctx, data, indices, axis, nodes);
    nodes.push(ctx.make('Unsqueeze', [idx, ctx.ints('last_axis', [-1])], [ctx.tmp('indices_nd')]));
    if (axis === 0) {
      nodes.push(
        zerosOfShape(ctx, ctx.tmp('data_shape'), ctx.tmp('zeros')),
        ctx.make('ScatterND', [ctx.tmp('zeros'), ctx.tmp('indices_nd'), dY], [ctx.GI(0)], { reduction: 'add' }),
      );
      return nodes;
    }
    // dY's axes are data[:axis] + indices + data[axis+1:]: bring the indices' axes to the front.
    const range = (from: number, to: number) => Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i);
    const dYPerm = [...range(axis, axis + q), ...range(0, axis), ...range(axis + q, rank - 1 + q)];
    const dataPerm = [axis, ...range(0, axis), ...range(axis + 1, rank)];
    nodes.push(
      ctx.make('Transpose', [dY], [ctx.tmp('dY_moved')], { perm: dYPerm }),
      ctx.make('Gather', [ctx.tmp('data_shape'), ctx.ints('data_perm', dataPerm)], [ctx.tmp('moved_shape')], { axis: 0 }),
      zerosOfShape(ctx, ctx.tmp('moved_shape'), ctx.tmp('zeros')),
      ctx.make('ScatterND', [ctx.tmp('zeros'), ctx.tmp('indices_nd'), ctx.tmp('dY_moved')], [ctx.tmp('scattered')], { reduction: 'add' }),
      ctx.make('Transpose', [ctx.tmp('scattered')], [ctx.GI(0)], { perm: dataPerm.map((_, i) => dataPerm.indexOf(i)) }),
    );
    return nodes;
  },
};
