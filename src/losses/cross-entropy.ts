// Softmax cross-entropy over integer class labels, mean over the batch (PyTorch's CrossEntropyLoss):
//   l = -log_softmax(z)[n, y_n],   dl/dz = (softmax(z) - onehot(y)) / N.
import { UserError } from '../errors.js';
import { reduceMean, unsqueeze } from '../autodiff/emit.js';
import { floatSize, type Loss } from './loss.js';

export const crossEntropy: Loss = {
  name: 'ce',
  labelType: 'int64',
  labelShape: (logitsShape) => [logitsShape[0]],
  forward(e, { logits: z, labels: y }, loss) {
    return [
      e.make('LogSoftmax', [z], [e.tmp('log_probs')], { axis: 1 }),
      unsqueeze(e, y, [1], e.tmp('labels_column')),
      e.make('GatherElements', [e.tmp('log_probs'), e.tmp('labels_column')], [e.tmp('picked')], { axis: 1 }),
      reduceMean(e, e.tmp('picked'), [], false, e.tmp('mean_log_prob')),
      e.make('Neg', [e.tmp('mean_log_prob')], [loss]),
    ];
  },
  gradient(e, { logits: z, labels: y, logitsShape }, out) {
    const classes = logitsShape[1];
    if (typeof classes !== 'number') throw new UserError(`cross-entropy needs a known number of classes (logits shape [${logitsShape}])`);
    return [
      e.make('Softmax', [z], [e.tmp('probs')], { axis: 1 }),
      e.make('Equal', [e.tmp('labels_column'), e.ints('class_ids', Array.from({ length: classes }, (_, i) => i))], [e.tmp('is_label')]),
      e.make('Cast', [e.tmp('is_label')], [e.tmp('one_hot')], { to: e.dtype }),
      e.make('Sub', [e.tmp('probs'), e.tmp('one_hot')], [e.tmp('residual')]),
      ...floatSize(e, y, e.tmp('batch')),
      e.make('Div', [e.tmp('residual'), e.tmp('batch')], [out]),
    ];
  },
};
