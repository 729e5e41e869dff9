// Metrics from a model's logits and the true labels, with no I/O: accuracy, macro-F1, per-class precision and
// recall, the confusion matrix and ROC-AUC (one-logit heads) for classification; MAE, RMSE and R² for
// regression (a one-logit head trained with mse). Conventions follow scikit-learn's, so that the numbers
// compare: a class never predicted has precision 0, macro-F1 averages the classes seen in the labels or the
// predictions, ROC-AUC gives tied scores their average rank, and R² of constant labels is 1 if every
// prediction is exact, else 0. A value that cannot be computed (ROC-AUC with one class only, an error over
// non-finite predictions) is null rather than NaN, so that it survives JSON unchanged.
import type { LossName } from '../losses/index.js';

export type Task = 'binary' | 'multiclass' | 'regression';
export const TASKS: readonly Task[] = ['binary', 'multiclass', 'regression'];

/** What a head trained with a loss predicts: mse a value, bce one logit's class, ce one of several classes. */
export function taskFor(loss: LossName): Task {
  return loss === 'mse' ? 'regression' : loss === 'bce' ? 'binary' : 'multiclass';
}

export interface ClassMetrics {
  class: number;
  /** The class's name, where the data names its classes. */
  name?: string;
  precision: number;
  recall: number;
  f1: number;
  /** Examples of this class in the labels. */
  support: number;
}

export interface ClassificationMetrics {
  accuracy: number;
  macro_f1: number;
  per_class: ClassMetrics[];
  /** The same, keyed by class name (only where the data names its classes). */
  per_class_by_name?: Record<string, Omit<ClassMetrics, 'class' | 'name'>>;
  /** confusion_matrix[true class][predicted class]: counts. */
  confusion_matrix: number[][];
  /** One-logit heads only; null where the labels hold a single class. */
  roc_auc?: number | null;
}

export interface RegressionMetrics {
  mae: number | null;
  rmse: number | null;
  r2: number | null;
}

export type Metrics = ClassificationMetrics | RegressionMetrics;

export const isClassification = (m: Metrics): m is ClassificationMetrics => 'accuracy' in m;

/** The logits' width: 1 for binary and regression heads, the class count otherwise. */
export function computeMetrics(task: Task, logits: ArrayLike<number>, labels: ArrayLike<number>, options: { classes?: number; classNames?: readonly string[] } = {}): Metrics {
  if (task === 'regression') return regressionMetrics(logits, labels);
  const classes = task === 'binary' ? 1 : options.classes ?? logits.length / Math.max(1, labels.length);
  return classificationMetrics(logits, labels, classes, options.classNames);
}

/** The class a head predicts for example i: sigmoid(logit) > 0.5 (in float32, as the model computes it) for one logit, else the first largest logit. */
export function predictedClass(logits: ArrayLike<number>, i: number, classes: number): number {
  if (classes === 1) return Math.fround(1 / (1 + Math.exp(-logits[i]))) > 0.5 ? 1 : 0;
  let best = 0;
  for (let c = 1; c < classes; c++) if (logits[i * classes + c] > logits[i * classes + best]) best = c;
  return best;
}

/** Class probabilities of example i: [1 - p, p] with p = sigmoid(logit) for one logit, else the softmax. */
export function classProbabilities(logits: ArrayLike<number>, i: number, classes: number): number[] {
  if (classes === 1) {
    const p = 1 / (1 + Math.exp(-logits[i]));
    return [1 - p, p];
  }
  let max = -Infinity;
  for (let c = 0; c < classes; c++) max = Math.max(max, logits[i * classes + c]);
  const exps = Array.from({ length: classes }, (_, c) => Math.exp(logits[i * classes + c] - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / sum);
}

function classificationMetrics(logits: ArrayLike<number>, labels: ArrayLike<number>, classes: number, classNames?: readonly string[]): ClassificationMetrics {
  const k = classes === 1 ? 2 : classes;
  const confusion = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  let correct = 0;
  for (let i = 0; i < labels.length; i++) {
    const predicted = predictedClass(logits, i, classes);
    confusion[labels[i]][predicted]++;
    if (predicted === labels[i]) correct++;
  }
  const perClass: ClassMetrics[] = [];
  let f1Sum = 0, seen = 0;
  for (let c = 0; c < k; c++) {
    const tp = confusion[c][c];
    const support = confusion[c].reduce((a, b) => a + b, 0);
    const predicted = confusion.reduce((n, row) => n + row[c], 0);
    const precision = predicted === 0 ? 0 : tp / predicted;
    const recall = support === 0 ? 0 : tp / support;
    const f1 = tp === 0 ? 0 : (2 * precision * recall) / (precision + recall);
    if (support > 0 || predicted > 0) {
      f1Sum += f1;
      seen++;
    }
    perClass.push({ class: c, ...(classNames?.[c] !== undefined ? { name: classNames[c] } : {}), precision, recall, f1, support });
  }
  const metrics: ClassificationMetrics = {
    accuracy: labels.length === 0 ? 0 : correct / labels.length,
    macro_f1: seen === 0 ? 0 : f1Sum / seen,
    per_class: perClass,
    confusion_matrix: confusion,
  };
  if (classNames && classNames.length >= k) {
    metrics.per_class_by_name = Object.fromEntries(perClass.map(({ class: _c, name, ...rest }) => [name!, rest]));
  }
  if (classes === 1) metrics.roc_auc = rocAuc(logits, labels);
  return metrics;
}

/**
 * ROC-AUC of scores against 0/1 labels, as the Mann-Whitney U statistic: the chance that a positive example
 * scores above a negative one, a tie counting one half (tied scores share their average rank, which is what
 * scikit-learn's roc_auc_score computes through its ROC curve). Null with a single class or a NaN score.
 */
export function rocAuc(scores: ArrayLike<number>, labels: ArrayLike<number>): number | null {
  const n = labels.length;
  let positives = 0;
  for (let i = 0; i < n; i++) {
    if (Number.isNaN(scores[i])) return null;
    if (labels[i] === 1) positives++;
  }
  const negatives = n - positives;
  if (positives === 0 || negatives === 0) return null;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => (scores[a] < scores[b] ? -1 : scores[a] > scores[b] ? 1 : 0));
  let positiveRanks = 0;
  for (let start = 0; start < n;) {
    let end = start + 1;
    while (end < n && scores[order[end]] === scores[order[start]]) end++;
    const rank = (start + 1 + end) / 2; // ranks start+1..end, averaged
    for (let j = start; j < end; j++) if (labels[order[j]] === 1) positiveRanks += rank;
    start = end;
  }
  return (positiveRanks - (positives * (positives + 1)) / 2) / (positives * negatives);
}

function regressionMetrics(predictions: ArrayLike<number>, labels: ArrayLike<number>): RegressionMetrics {
  const n = labels.length;
  let absolute = 0, squared = 0, mean = 0;
  for (let i = 0; i < n; i++) mean += labels[i];
  mean /= n;
  let total = 0;
  for (let i = 0; i < n; i++) {
    const error = predictions[i] - labels[i];
    absolute += Math.abs(error);
    squared += error * error;
    total += (labels[i] - mean) ** 2;
  }
  const r2 = total === 0 ? (squared === 0 ? 1 : 0) : 1 - squared / total;
  return { mae: finite(absolute / n), rmse: finite(Math.sqrt(squared / n)), r2: Number.isFinite(squared) ? finite(r2) : null };
}

const finite = (x: number): number | null => (Number.isFinite(x) ? x : null);
