// Y = GatherElements(data, indices, axis): Y[i][j] = data[indices[i][j]][j] (axis 0). d data = ScatterElements
// of dY into zeros at the same indices, adding where indices repeat.
import type { NodeProto } from '../../onnx/proto.js';
import type { GradRule } from '../rule.js';
import { indicesAlongAxis, requireScatterAdd, zerosOfShape } from './scatter-add.js';

export const gatherElements: GradRule = {
  opType: 'GatherElements',
  grad(ctx) {
    if (!ctx.needsGrad(0)) return [];
    requireScatterAdd(ctx);
    const [data, indices, dY] = [ctx.I(0), ctx.I(1), ctx.GO(0)];
    const attrAxis = ctx.attrInt('axis', 0);
    const axis = attrAxis < 0 ? attrAxis + ctx.rank(data) : attrAxis;
    const nodes: NodeProto[] = [];
    const idx = indicesAlongAxis(ctx, data, indices, axis, nodes);
    nodes.push(
      zerosOfShape(ctx, ctx.tmp('data_shape'), ctx.tmp('zeros')),
      ctx.make('ScatterElements', [ctx.tmp('zeros'), idx, dY], [ctx.GI(0)], { axis, reduction: 'add' }),
    );
    return nodes;
  },
};
