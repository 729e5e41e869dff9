// Y = A ^ B (broadcast): dA = dY · B · A^(B - 1); dB = dY · Y · ln A, taken as 0 where A = 0 and B >= 0 (as
// PyTorch does, instead of 0 · -inf). A constant scalar exponent e (x ** 2 in PyTorch) gives dA = dY · e · A^(e - 1)
// with both factors folded into constants; an exponent of another type (Pow allows integers) is cast first.
import type { GradRule } from '../rule.js';

export const pow: GradRule = {
  opType: 'Pow',
  broadcastInputs: [0, 1],
  grad(ctx) {
    const [A, B, Y, dY] = [ctx.I(0), ctx.I(1), ctx.O(0), ctx.GO(0)];
    const nodes = [];
    if (ctx.needsGrad(0)) {
      const known = ctx.values(B);
      if (known && known.length === 1) {
        nodes.push(
          ctx.make('Pow', [A, ctx.constant('exponent_minus_one', [known[0] - 1])], [ctx.tmp('A_pow')]),
          ctx.make('Mul', [ctx.tmp('A_pow'), ctx.constant('exponent', [known[0]])], [ctx.tmp('dY_dA')]),
        );
      } else {
        let exponent = B;
        if (ctx.dtypeOf(B) !== ctx.dtype) {
          nodes.push(ctx.make('Cast', [B], [ctx.tmp('B_cast')], { to: ctx.dtype }));
          exponent = ctx.tmp('B_cast');
        }
        nodes.push(
          ctx.make('Sub', [exponent, ctx.constant('one', [1])], [ctx.tmp('B_minus_one')]),
          ctx.make('Pow', [A, ctx.tmp('B_minus_one')], [ctx.tmp('A_pow')]),
          ctx.make('Mul', [ctx.tmp('A_pow'), exponent], [ctx.tmp('dY_dA')]),
        );
      }
      nodes.push(ctx.make('Mul', [dY, ctx.tmp('dY_dA')], [ctx.GI(0)]));
    }
    if (ctx.needsGrad(1)) {
      nodes.push(
        ctx.make('Log', [A], [ctx.tmp('ln_A')]),
        ctx.make('Mul', [Y, ctx.tmp('ln_A')], [ctx.tmp('Y_ln_A')]),
        ctx.make('Mul', [dY, ctx.tmp('Y_ln_A')], [ctx.tmp('dB_raw')]),
        ctx.make('Equal', [A, ctx.constant('zero', [0])], [ctx.tmp('A_zero')]),
        ctx.make('GreaterOrEqual', [B, ctx.constant('zero', [0])], [ctx.tmp('B_nonnegative')]),
        ctx.make('And', [ctx.tmp('A_zero'), ctx.tmp('B_nonnegative')], [ctx.tmp('no_slope')]),
        ctx.make('Where', [ctx.tmp('no_slope'), ctx.constant('zero', [0]), ctx.tmp('dB_raw')], [ctx.GI(1)]),
      );
    }
    return nodes;
  },
};
