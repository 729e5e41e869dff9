// Y = Einsum(equation, X_1, ..., X_n). Each operand's gradient is another Einsum: with terms t_1, ..., t_n and
// output o, dX_k = einsum("o, t_j (j ≠ k) -> t_k", dY, X_j...): every index of t_k is either kept in o or
// contracted against another operand. An index only X_k has and the output drops (a sum over X_k alone) is
// left out of that Einsum and restored by Unsqueeze + Expand. Ellipses and repeated indices within one term
// (diagonals) are refused.
import { UserError } from '../../errors.js';
import { einsumTerms } from '../../graph/shapes.js';
import type { GradRule } from '../rule.js';

export const einsum: GradRule = {
  opType: 'Einsum',
  grad(ctx) {
    const raw = ctx.attr('equation')?.s;
    const equation = raw ? new TextDecoder().decode(raw) : '';
    const { inputs, output } = einsumTerms(equation);
    const refuse = (why: string) => new UserError(`Einsum node '${ctx.node.name}' ('${equation}'): ${why}; its gradient is not supported`);
    if (equation.includes('...')) throw refuse('it uses an ellipsis');
    for (const term of [...inputs, output]) if (new Set(term).size !== term.length) throw refuse(`'${term}' repeats an index`);
    const nodes = [];
    for (let k = 0; k < inputs.length; k++) {
      if (!ctx.needsGrad(k)) continue;
      const others = inputs.filter((_, j) => j !== k);
      const reachable = new Set([...output, ...others.join('')]);
      const kept = [...inputs[k]].filter((c) => reachable.has(c)).join('');
      const dropped = [...inputs[k]].flatMap((c, i) => (reachable.has(c) ? [] : [i]));
      const operands = [ctx.GO(0), ...ctx.node.input.filter((_, j) => j !== k)];
      const gradEquation = `${[output, ...others].join(',')}->${kept}`;
      if (dropped.length === 0) {
        nodes.push(ctx.make('Einsum', operands, [ctx.GI(k)], { equation: gradEquation }));
        continue;
      }
      nodes.push(
        ctx.make('Einsum', operands, [ctx.tmp(`d${k}_kept`)], { equation: gradEquation }),
        ctx.make('Unsqueeze', [ctx.tmp(`d${k}_kept`), ctx.ints(`dropped_${k}`, dropped)], [ctx.tmp(`d${k}_unsqueezed`)]),
        ctx.make('Shape', [ctx.node.input[k]], [ctx.tmp(`shape_${k}`)]),
        ctx.make('Expand', [ctx.tmp(`d${k}_unsqueezed`), ctx.tmp(`shape_${k}`)], [ctx.GI(k)]),
      );
    }
    return nodes;
  },
};
