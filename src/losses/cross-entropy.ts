// Softmax cross-entropy over integer class labels, mean over the batch (PyTorch's CrossEntropyLoss), with
// PyTorch's label smoothing ε: the target is (1 - ε)·onehot(y) + ε/C, so
//   l = -(1 - ε)·log_softmax(z)[n, y_n] - ε·mean_c log_softmax(z)[n, c],
//   dl/dz = (softmax(z) - (1 - ε)·onehot(y) - ε/C) / N.
// ε = 0 emits the plain graph, node for node as before.
import { UserError } from '../errors.js';
import { reduceMean, unsqueeze } from '../autodiff/emit.js';
import { floatSize, type Loss } from './loss.js';

export function crossEntropyLoss(labelSmoothing = 0): Loss {
  if (!(labelSmoothing >= 0 && labelSmoothing <= 1)) throw new UserError(`label smoothing must be a number from 0 to 1, got ${labelSmoothing}`);
  const smooth = labelSmoothing > 0;
  return {
    name: 'ce',
    labelType: 'int64',
    ...(smooth ? { labelSmoothing } : {}),
    labelShape: (logitsShape) => [logitsShape[0]],
    forward(e, { logits: z, labels: y }, loss) {
      const picked = [
        e.make('LogSoftmax', [z], [e.tmp('log_probs')], { axis: 1 }),
        unsqueeze(e, y, [1], e.tmp('labels_column')),
        e.make('GatherElements', [e.tmp('log_probs'), e.tmp('labels_column')], [e.tmp('picked')], { axis: 1 }),
      ];
      const mixed = smooth ? [
        reduceMean(e, e.tmp('log_probs'), [1], true, e.tmp('class_mean')),
        e.make('Mul', [e.tmp('picked'), e.constant('true_weight', [1 - labelSmoothing], [])], [e.tmp('picked_weighted')]),
        e.make('Mul', [e.tmp('class_mean'), e.constant('smoothing', [labelSmoothing], [])], [e.tmp('class_mean_weighted')]),
        e.make('Add', [e.tmp('picked_weighted'), e.tmp('class_mean_weighted')], [e.tmp('smoothed')]),
      ] : [];
      return [
        ...picked,
        ...mixed,
        reduceMean(e, e.tmp(smooth ? 'smoothed' : 'picked'), [], false, e.tmp('mean_log_prob')),
        e.make('Neg', [e.tmp('mean_log_prob')], [loss]),
      ];
    },
    gradient(e, { logits: z, labels: y, logitsShape }, out) {
      const classes = logitsShape[1];
      if (typeof classes !== 'number') throw new UserError(`cross-entropy needs a known number of classes (logits shape [${logitsShape}])`);
      const target = smooth ? [
        e.make('Mul', [e.tmp('one_hot'), e.constant('true_weight', [1 - labelSmoothing], [])], [e.tmp('one_hot_weighted')]),
        e.make('Add', [e.tmp('one_hot_weighted'), e.constant('uniform', [labelSmoothing / classes], [])], [e.tmp('target')]),
      ] : [];
      return [
        e.make('Softmax', [z], [e.tmp('probs')], { axis: 1 }),
        e.make('Equal', [e.tmp('labels_column'), e.ints('class_ids', Array.from({ length: classes }, (_, i) => i))], [e.tmp('is_label')]),
        e.make('Cast', [e.tmp('is_label')], [e.tmp('one_hot')], { to: e.dtype }),
        ...target,
        e.make('Sub', [e.tmp('probs'), e.tmp(smooth ? 'target' : 'one_hot')], [e.tmp('residual')]),
        ...floatSize(e, y, e.tmp('batch')),
        e.make('Div', [e.tmp('residual'), e.tmp('batch')], [out]),
      ];
    },
  };
}

export const crossEntropy: Loss = crossEntropyLoss(0);
