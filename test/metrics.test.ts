// Metrics against values worked out by hand (and as scikit-learn defines them: zero division gives 0,
// macro-F1 averages the classes seen in labels or predictions, ROC-AUC gives ties their average rank).
import { expect } from 'chai';
import { classProbabilities, computeMetrics, predictedClass, rocAuc, taskFor, type ClassificationMetrics, type RegressionMetrics } from '../src/train/metrics.js';

describe('metrics', () => {
  it('the task follows the loss', () => {
    expect([taskFor('bce'), taskFor('ce'), taskFor('mse')]).to.deep.equal(['binary', 'multiclass', 'regression']);
  });

  describe('ROC-AUC', () => {
    it('counts the pairs a positive wins', () => {
      // scikit-learn's docstring example: roc_auc_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75
      expect(rocAuc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])).to.equal(0.75);
    });
    it('a tie between a positive and a negative counts one half (average ranks)', () => {
      // positives {2, 3} against negatives {1, 2}: 1 + 0.5 + 1 + 1 of 4 pairs
      expect(rocAuc([1, 2, 2, 3], [0, 0, 1, 1])).to.equal(0.875);
      // one score for all: every pair a tie
      expect(rocAuc([5, 5, 5, 5, 5], [1, 0, 1, 0, 0])).to.equal(0.5);
      // ties within one class change nothing: positives {2, 2} beat negatives {1, 1}
      expect(rocAuc([1, 2, 1, 2], [0, 1, 0, 1])).to.equal(1);
      // ranks 1, 3, 3, 3, 5 (three tied at 2 share ranks 2..4): positives at 3 and 5 -> (8 - 3) / 6
      expect(rocAuc([0, 2, 2, 2, 9], [0, 1, 0, 0, 1])).to.equal(5 / 6);
    });
    it('is null with one class only, or a NaN score', () => {
      expect(rocAuc([0.2, 0.9], [1, 1])).to.equal(null);
      expect(rocAuc([0.2, NaN], [0, 1])).to.equal(null);
    });
  });

  it('binary: sigmoid(logit) > 0.5 is class 1, probabilities [1 - p, p]', () => {
    expect(predictedClass([0], 0, 1)).to.equal(0);
    expect(predictedClass([1e-3], 0, 1)).to.equal(1);
    const [q, p] = classProbabilities([Math.log(3)], 0, 1);
    expect(p).to.be.closeTo(0.75, 1e-15);
    expect(q).to.be.closeTo(0.25, 1e-15);
    // predictions 0 1 1 0 1 0 against labels 0 0 1 1 1 0
    const m = computeMetrics('binary', [-2, 1, 3, -1, 0.5, -0.2], [0, 0, 1, 1, 1, 0]) as ClassificationMetrics;
    expect(m.confusion_matrix).to.deep.equal([[2, 1], [1, 2]]);
    expect(m.accuracy).to.equal(4 / 6);
    for (const c of m.per_class) {
      expect(c.precision).to.equal(2 / 3);
      expect(c.recall).to.equal(2 / 3);
      expect(c.f1).to.be.closeTo(2 / 3, 1e-15);
      expect(c.support).to.equal(3);
    }
    expect(m.macro_f1).to.be.closeTo(2 / 3, 1e-15);
    // positives {3, -1, 0.5} against negatives {-2, 1, -0.2}: 3 + 1 + 2 of 9 pairs
    expect(m.roc_auc).to.be.closeTo(6 / 9, 1e-15);
    expect(m.per_class_by_name).to.equal(undefined);
  });

  it('several classes: argmax (the first of equal logits), zero division as 0, macro-F1 over the classes seen', () => {
    const rows = [ // label -> predicted
      [5, 1, 0, 0], // 0 -> 0
      [0, 5, 1, 0], // 0 -> 1
      [1, 2, 2, 0], // 1 -> 1 (equal largest logits: the first)
      [0, 3, 2, 0], // 1 -> 1
      [4, 0, 3, 0], // 2 -> 0
      [1, 0, 0, 0], // 2 -> 0
    ];
    const labels = [0, 0, 1, 1, 2, 2];
    const m = computeMetrics('multiclass', rows.flat(), labels, { classes: 4, classNames: ['a', 'b', 'c', 'd'] }) as ClassificationMetrics;
    expect(m.confusion_matrix).to.deep.equal([[1, 1, 0, 0], [0, 2, 0, 0], [2, 0, 0, 0], [0, 0, 0, 0]]);
    expect(m.accuracy).to.equal(0.5);
    const [a, b, c, d] = m.per_class;
    expect(a).to.deep.include({ class: 0, name: 'a', precision: 1 / 3, recall: 0.5, support: 2 });
    expect(a.f1).to.be.closeTo(0.4, 1e-15);
    expect(b).to.deep.include({ precision: 2 / 3, recall: 1, support: 2 });
    expect(b.f1).to.be.closeTo(0.8, 1e-15);
    expect(c).to.deep.include({ precision: 0, recall: 0, f1: 0, support: 2 }); // never predicted
    expect(d).to.deep.include({ precision: 0, recall: 0, f1: 0, support: 0 }); // neither in labels nor predicted: not in the macro average
    expect(m.macro_f1).to.be.closeTo((0.4 + 0.8 + 0) / 3, 1e-15);
    expect(m.roc_auc).to.equal(undefined);
    expect(m.per_class_by_name!.b).to.deep.equal({ precision: b.precision, recall: 1, f1: b.f1, support: 2 });
    const probabilities = classProbabilities([0, Math.log(3), 0, 0], 0, 4);
    expect(probabilities.map((p) => Number(p.toFixed(12)))).to.deep.equal([1 / 6, 1 / 2, 1 / 6, 1 / 6].map((p) => Number(p.toFixed(12))));
  });

  it('regression: MAE, RMSE and R² (scikit-learn\'s docstring example)', () => {
    const m = computeMetrics('regression', [2.5, 0, 2, 8], [3, -0.5, 2, 7]) as RegressionMetrics;
    expect(m.mae).to.equal(0.5);
    expect(m.rmse).to.equal(Math.sqrt(0.375));
    // mean 2.875: total 29.1875, residual 1.5
    expect(m.r2).to.be.closeTo(1 - 1.5 / 29.1875, 1e-15);
    expect(m.r2).to.be.closeTo(0.948608137, 1e-9);
  });

  it('regression: constant labels give R² 1 if exact, else 0; non-finite predictions give null', () => {
    expect((computeMetrics('regression', [2, 2], [2, 2]) as RegressionMetrics).r2).to.equal(1);
    expect((computeMetrics('regression', [2, 3], [2, 2]) as RegressionMetrics).r2).to.equal(0);
    expect(computeMetrics('regression', [Infinity, 1], [2, 2])).to.deep.equal({ mae: null, rmse: null, r2: null });
  });
});
