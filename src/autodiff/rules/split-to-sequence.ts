// SplitToSequence as the backward walk sees it (src/autodiff/sequence-splits.ts): one output per chunk, the
// real sequence named by the 'sequence' attribute. dX = the chunks' gradients concatenated along the axis,
// zeros (shaped like the chunk, read back from the sequence) for chunks no gradient reaches. Without split
// sizes and with keepdims = 0 the chunks lost the axis: their gradients get it back first.
import { UserError } from '../../errors.js';
import type { GradRule } from '../rule.js';

export const splitToSequence: GradRule = {
  opType: 'SplitToSequence',
  grad(ctx) {
    const bytes = ctx.attr('sequence')?.s;
    if (!bytes) throw new UserError(`SplitToSequence node '${ctx.node.name}': gradients need every chunk read by SequenceAt at a constant position`);
    const sequence = new TextDecoder().decode(bytes);
    const rank = ctx.rank(ctx.I(0));
    const attrAxis = ctx.attrInt('axis', 0);
    const axis = attrAxis < 0 ? attrAxis + rank : attrAxis;
    const squeezed = !ctx.I(1) && ctx.attrInt('keepdims', 1) === 0;
    const nodes = [];
    const parts = ctx.node.output.map((_, i) => {
      let part = ctx.GO(i);
      if (!part) {
        nodes.push(
          ctx.make('SequenceAt', [sequence, ctx.ints(`position_${i}`, [i], [])], [ctx.tmp(`chunk_${i}`)]),
          ctx.make('Shape', [ctx.tmp(`chunk_${i}`)], [ctx.tmp(`chunk_shape_${i}`)]),
          ctx.make('Expand', [ctx.constant('zero', [0]), ctx.tmp(`chunk_shape_${i}`)], [ctx.tmp(`zeros_${i}`)]),
        );
        part = ctx.tmp(`zeros_${i}`);
      }
      if (!squeezed) return part;
      nodes.push(ctx.make('Unsqueeze', [part, ctx.ints('axis', [axis])], [ctx.tmp(`part_${i}`)]));
      return ctx.tmp(`part_${i}`);
    });
    nodes.push(ctx.make('Concat', parts, [ctx.GI(0)], { axis }));
    return nodes;
  },
};
