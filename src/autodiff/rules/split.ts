// Split (sizes as an input from opset 13, an attribute before, num_outputs from opset 18, equal parts by
// default): dX = the outputs' gradients concatenated along the axis, zeros for outputs no gradient reaches.
import type { GradRule } from '../rule.js';

export const split: GradRule = {
  opType: 'Split',
  grad(ctx) {
    const nodes = [];
    const parts = ctx.node.output.map((out, i) => {
      if (ctx.GO(i)) return ctx.GO(i);
      nodes.push(
        ctx.make('Shape', [out], [ctx.tmp(`shape_${i}`)]),
        ctx.make('Expand', [ctx.constant('zero', [0]), ctx.tmp(`shape_${i}`)], [ctx.tmp(`zeros_${i}`)]),
      );
      return ctx.tmp(`zeros_${i}`);
    });
    nodes.push(ctx.make('Concat', parts, [ctx.GI(0)], { axis: ctx.attrInt('axis', 0) }));
    return nodes;
  },
};
