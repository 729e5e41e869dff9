// Y = GatherND(data, indices) (batch_dims 0): each row of indices' last axis addresses a slice of data.
// d data = ScatterND of dY into zeros at the same indices, adding where they repeat.
import type { NodeProto } from '../../onnx/proto.js';
import { UserError } from '../../errors.js';
import type { GradRule } from '../rule.js';
import { normalizedIndices, requireScatterAdd, zerosOfShape } from './scatter-add.js';

export const gatherND: GradRule = {
  opType: 'GatherND',
  grad(ctx) {
    if (!ctx.needsGrad(0)) return [];
    requireScatterAdd(ctx);
    if (ctx.attrInt('batch_dims', 0) !== 0) throw new UserError(`GatherND node '${ctx.node.name}': gradients are built only for batch_dims = 0`);
    const [data, indices, dY] = [ctx.I(0), ctx.I(1), ctx.GO(0)];
    const depth = ctx.shape(indices)?.[ctx.rank(indices) - 1];
    if (typeof depth !== 'number') throw new UserError(`GatherND node '${ctx.node.name}': the last axis of '${indices}' must have a known size to build its gradient`);
    const nodes: NodeProto[] = [
      ctx.make('Shape', [data], [ctx.tmp('data_shape')]),
      ctx.make('Slice', [ctx.tmp('data_shape'), ctx.ints('start', [0]), ctx.ints('depth', [depth])], [ctx.tmp('indexed_sizes')]),
    ];
    const idx = normalizedIndices(ctx, indices, ctx.tmp('indexed_sizes'), nodes);
    nodes.push(
      zerosOfShape(ctx, ctx.tmp('data_shape'), ctx.tmp('zeros')),
      ctx.make('ScatterND', [ctx.tmp('zeros'), idx, dY], [ctx.GI(0)], { reduction: 'add' }),
    );
    return nodes;
  },
};
