// Mean squared error over all elements: l = (z - y)²,  dl/dz = 2 (z - y) / numel.
import { reduceMean } from '../autodiff/emit.js';
import { floatSize, type Loss } from './loss.js';

export const mse: Loss = {
  name: 'mse',
  labelType: 'float',
  labelShape: (logitsShape) => logitsShape,
  forward(e, { logits: z, labels: y }, loss) {
    return [
      e.make('Sub', [z, y], [e.tmp('diff')]),
      e.make('Mul', [e.tmp('diff'), e.tmp('diff')], [e.tmp('squared')]),
      reduceMean(e, e.tmp('squared'), [], false, loss),
    ];
  },
  gradient(e, { logits: z, labels: y }, out) {
    return [
      e.make('Sub', [z, y], [e.tmp('diff_g')]),
      e.make('Mul', [e.tmp('diff_g'), e.constant('two', [2])], [e.tmp('twice_diff')]),
      ...floatSize(e, z, e.tmp('count')),
      e.make('Div', [e.tmp('twice_diff'), e.tmp('count')], [out]),
    ];
  },
};
