// BCE-with-logits, PyTorch's stable form, mean over all elements:
//   l = max(z, 0) - z*y + log(1 + exp(-|z|)),   dl/dz = (sigmoid(z) - y) / numel.
// max(z, 0) + log(1 + exp(-|z|)) is log(exp(0) + exp(z)), which ReduceLogSumExp over the pair (0, z)
// computes in exactly that stable form (it subtracts the larger term), in 2 nodes where the spelled-out
// formula takes 7: each node costs ONNX Runtime about a microsecond on a small batch.
import { reduceLogSumExp, reduceMean, unsqueeze } from '../autodiff/emit.js';
import { floatSize, type Loss } from './loss.js';

export const bceWithLogits: Loss = {
  name: 'bce',
  labelType: 'float',
  labelShape: (logitsShape) => logitsShape,
  forward(e, { logits: z, labels: y, logitsShape }, loss) {
    // Pairs (0, z) along a last axis of size 1: the logits' own ([batch, 1]) or a new one.
    const rank = logitsShape.length;
    const column = logitsShape[rank - 1] === 1;
    const pairRank = column ? rank : rank + 1;
    const pads = Array.from({ length: 2 * pairRank }, (_, i) => (i === pairRank - 1 ? 1 : 0));
    return [
      ...(column ? [] : [unsqueeze(e, z, [rank], e.tmp('z_column'))]),
      e.make('Pad', [column ? z : e.tmp('z_column'), e.ints('pad_zero_before_z', pads)], [e.tmp('zero_and_z')]),
      reduceLogSumExp(e, e.tmp('zero_and_z'), [pairRank - 1], column, e.tmp('softplus_z')),
      e.make('Mul', [z, y], [e.tmp('z_y')]),
      e.make('Sub', [e.tmp('softplus_z'), e.tmp('z_y')], [e.tmp('elementwise')]),
      reduceMean(e, e.tmp('elementwise'), [], false, loss),
    ];
  },
  gradient(e, { logits: z, labels: y }, out) {
    return [
      e.make('Sigmoid', [z], [e.tmp('sigmoid')]),
      e.make('Sub', [e.tmp('sigmoid'), y], [e.tmp('residual')]),
      ...floatSize(e, z, e.tmp('count')),
      e.make('Div', [e.tmp('residual'), e.tmp('count')], [out]),
    ];
  },
};
