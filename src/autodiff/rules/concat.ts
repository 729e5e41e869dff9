// Y = Concat(X_1, ..., X_n) along one axis: X_i's gradient is its own stretch of dY, all cut apart by one Split
// (sizes from the static shapes, or read at run time when one is not known).
import type { GradRule } from '../rule.js';

export const concat: GradRule = {
  opType: 'Concat',
  grad(ctx) {
    const inputs = ctx.node.input;
    const rank = ctx.rank(inputs[0]);
    const attrAxis = ctx.attrInt('axis', 0);
    const axis = attrAxis < 0 ? attrAxis + rank : attrAxis;
    const sizes = inputs.map((x) => ctx.shape(x)?.[axis]);
    const nodes = [];
    let split: string;
    if (sizes.every((d): d is number => typeof d === 'number')) {
      split = ctx.ints(`split_${sizes.join('_')}`, sizes);
    } else {
      inputs.forEach((x, i) => {
        nodes.push(ctx.make('Shape', [x], [ctx.tmp(`shape_${i}`)]));
        nodes.push(ctx.make('Gather', [ctx.tmp(`shape_${i}`), ctx.ints('axis', [axis])], [ctx.tmp(`size_${i}`)], { axis: 0 }));
      });
      nodes.push(ctx.make('Concat', inputs.map((_, i) => ctx.tmp(`size_${i}`)), [ctx.tmp('split')], { axis: 0 }));
      split = ctx.tmp('split');
    }
    const outputs = inputs.map((_, i) => (ctx.needsGrad(i) ? ctx.GI(i) : ctx.tmp(`unused_${i}`)));
    nodes.push(ctx.make('Split', [ctx.GO(0), split], outputs, { axis }));
    return nodes;
  },
};
