// BCE-with-logits, PyTorch's stable form, mean over all elements:
//   l = max(z, 0) - z*y + log(1 + exp(-|z|)),   dl/dz = (sigmoid(z) - y) / numel.
import { reduceMean } from '../autodiff/emit.js';
import { floatSize, type Loss } from './loss.js';

export const bceWithLogits: Loss = {
  name: 'bce',
  labelType: 'float',
  labelShape: (logitsShape) => logitsShape,
  forward(e, { logits: z, labels: y }, loss) {
    return [
      e.make('Relu', [z], [e.tmp('relu_z')]),
      e.make('Mul', [z, y], [e.tmp('z_y')]),
      e.make('Abs', [z], [e.tmp('abs_z')]),
      e.make('Neg', [e.tmp('abs_z')], [e.tmp('neg_abs_z')]),
      e.make('Exp', [e.tmp('neg_abs_z')], [e.tmp('exp')]),
      e.make('Add', [e.tmp('exp'), e.constant('one', [1])], [e.tmp('one_plus_exp')]),
      e.make('Log', [e.tmp('one_plus_exp')], [e.tmp('log1p_exp')]),
      e.make('Sub', [e.tmp('relu_z'), e.tmp('z_y')], [e.tmp('linear_part')]),
      e.make('Add', [e.tmp('linear_part'), e.tmp('log1p_exp')], [e.tmp('elementwise')]),
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
