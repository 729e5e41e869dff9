// The run's event stream and the metrics log it feeds: train() reports every stage, step, epoch, validation and
// checkpoint; metrics.csv holds the log exactly (an independent CSV parser reads back what the run recorded);
// a resumed run's stream, added to the log cut at its snapshot, gives the uninterrupted run's log.
import { expect } from 'chai';
import { parse } from 'csv-parse/sync';
import { train, DEFAULT_TRAIN_CONFIG, type RunSnapshot, type TrainConfig } from '../src/train/trainer.js';
import { partialUnfreeze } from '../src/train/strategies.js';
import { LOSSES } from '../src/losses/index.js';
import type { RunEvent } from '../src/train/events.js';
import { MetricsLog, scalarMetrics } from '../src/report/metrics-log.js';
import { splitValidation } from '../src/data/split.js';
import { loadFixture } from './util/fixtures.js';

const seed = loadFixture('torch-seed');
const plan = partialUnfreeze({ headLr: 0.01, headEpochs: 2, unfreeze: 'backbone.2.*', backboneLr: 0.001, epochs: 2 });
const config: TrainConfig = { ...DEFAULT_TRAIN_CONFIG, loss: LOSSES.bce, shuffle: true, seed: 5 };

describe('the run event stream and metrics.csv', () => {
  const split = splitValidation(seed.train, 0.2, 5, { stratify: true });
  const data = { train: split.train, test: seed.test, validation: split.validation };
  const events: RunEvent[] = [];
  const snapshots: RunSnapshot[] = [];
  let result: Awaited<ReturnType<typeof train>>;
  before(async () => {
    result = await train(seed.model, plan, data, { ...config, snapshotEvery: 1, onSnapshot: (s) => snapshots.push(s), onEvent: (e) => events.push(e) });
  });
  const ofType = <T extends RunEvent['type']>(type: T) => events.filter((e): e is Extract<RunEvent, { type: T }> => e.type === type);

  it('reports each stage with its groups and base learning rates, each step, epoch, validation and checkpoint, then the end', () => {
    expect(ofType('stage-start').map((e) => [e.stage, e.step, e.groups.map((g) => [g.params, g.lr])])).to.deep.equal([
      ['head', 0, [[['head.weight', 'head.bias'], 0.01]]],
      ['unfrozen', 24, [[['head.weight', 'head.bias'], 0.01], [['backbone.2.weight', 'backbone.2.bias'], 0.001]]],
    ]);
    const steps = ofType('step');
    expect(steps.map((s) => s.step)).to.deep.equal(Array.from({ length: result.steps }, (_, i) => i + 1));
    // The unfrozen stage trains two groups, each at its own rate.
    expect(steps.map((s) => s.lrs)).to.deep.equal(steps.map((s) => (s.stage === 'head' ? [0.01] : [0.01, 0.001])));
    expect(steps.map((s) => s.epoch)).to.deep.equal(steps.map((s) => Math.ceil(s.step / 12)));
    expect(ofType('epoch-end').map((e) => e.loss)).to.deep.equal(result.epochLosses);
    expect(ofType('validation').map(({ epoch, stage, loss, metrics }) => ({ epoch, stage, loss, ...metrics }))).to.deep.equal(result.validation);
    expect(ofType('checkpoint').map((e) => e.step)).to.deep.equal(snapshots.map((s) => s.steps));
    expect(ofType('stage-end').map((e) => e.step)).to.deep.equal([24, 48]);
    const end = ofType('run-end');
    expect(end).to.have.length(1);
    expect([end[0].testLoss, end[0].accuracy, end[0].steps, end[0].skippedBatches]).to.deep.equal([result.testLoss, result.accuracy, result.steps, 0]);
    expect(end[0].testMetrics).to.deep.equal(result.testMetrics);
    expect(events[events.length - 1].type).to.equal('run-end');
  });

  it('metrics.csv, read by another CSV parser, holds every step\'s loss and learning rates and every epoch\'s loss and validation exactly', () => {
    const log = new MetricsLog();
    events.forEach((e) => log.onEvent(e));
    const rows = parse(log.toCsv(), { columns: true }) as Record<string, string>[];
    expect(Object.keys(rows[0])).to.deep.equal(['strategy', 'stage', 'epoch', 'step', 'loss', 'lr_group_0', 'lr_group_1', 'epoch_loss', 'val_loss', 'val_accuracy', 'val_macro_f1', 'val_roc_auc']);
    const stepRows = rows.filter((r) => r.loss !== '');
    expect(stepRows.map((r) => [r.strategy, r.stage, Number(r.epoch), Number(r.step), Number(r.loss), Number(r.lr_group_0), r.lr_group_1 === '' ? undefined : Number(r.lr_group_1)])).to.deep.equal(
      ofType('step').map((s) => ['partial_unfreeze', s.stage, s.epoch, s.step, s.loss, s.lrs[0], s.lrs[1]]));
    const epochRows = rows.filter((r) => r.loss === '');
    expect(epochRows.map((r) => Number(r.epoch_loss))).to.deep.equal(result.epochLosses);
    expect(epochRows.map((r) => [Number(r.val_loss), Number(r.val_accuracy), Number(r.val_macro_f1), Number(r.val_roc_auc)])).to.deep.equal(
      result.validation.map((v) => { const m = v as unknown as Record<string, number>; return [m.loss, m.accuracy, m.macro_f1, m.roc_auc]; }));
    // Each epoch's row follows its last step's, as Lightning's CSVLogger orders them.
    rows.forEach((r, i) => r.loss === '' && expect(rows[i - 1].step).to.equal(r.step));
    // Read back by the log itself: the same records.
    expect(MetricsLog.fromCsv(log.toCsv(), 'metrics.csv').strategies).to.deep.equal(log.strategies);
  });

  it('a resumed run\'s events, added to the log read back and cut at its snapshot, give the uninterrupted run\'s log', async () => {
    const whole = new MetricsLog();
    events.forEach((e) => whole.onEvent(e));
    // 7: mid-epoch; 12: an epoch's end, before its validation; 24: between the stages; 30: mid-epoch in stage 2.
    for (const at of [7, 12, 24, 30]) {
      const snapshot = snapshots[at - 1];
      // The log on disk may run past the checkpoint (written before a checkpoint that a kill then cut short).
      const log = MetricsLog.fromCsv(whole.toCsv(), 'metrics.csv');
      const short = log.cutTo([{ strategy: 'partial_unfreeze', steps: snapshot.steps, epochs: snapshot.epochLosses.length, validations: snapshot.validation.length }], ['partial_unfreeze']);
      expect(short).to.deep.equal([]);
      await train(seed.model, plan, data, { ...config, resume: snapshot, onEvent: (e) => log.onEvent(e) });
      expect(log.toCsv(), `resumed after step ${at}`).to.equal(whole.toCsv());
    }
  });

  it('says when the log on disk falls short of a checkpoint, and drops a strategy that starts afresh', () => {
    const whole = new MetricsLog();
    events.forEach((e) => whole.onEvent(e));
    const shortLog = MetricsLog.fromCsv(whole.toCsv(), 'metrics.csv');
    expect(shortLog.cutTo([{ strategy: 'partial_unfreeze', steps: 60, epochs: 5, validations: 5 }], ['partial_unfreeze'])).to.deep.equal(['partial_unfreeze']);
    const fresh = MetricsLog.fromCsv(whole.toCsv(), 'metrics.csv');
    expect(fresh.cutTo([undefined], ['partial_unfreeze'])).to.deep.equal([]);
    expect(fresh.strategies.size).to.equal(0);
  });

  it('writes non-finite losses as pandas reads them, and refuses a cell that is no number, naming the row and column', () => {
    const log = new MetricsLog();
    for (const [step, loss] of [[1, NaN], [2, Infinity], [3, 0.5]]) log.onEvent({ type: 'step', strategy: 'linear_probe', stage: 'a,b "c"', epoch: 1, step, loss, lrs: [0.1], skipped: !Number.isFinite(loss) });
    const text = log.toCsv();
    expect(text.split('\n').slice(1, 3)).to.deep.equal(['linear_probe,"a,b ""c""",1,1,nan,0.1,,', 'linear_probe,"a,b ""c""",1,2,inf,0.1,,']);
    expect(MetricsLog.fromCsv(text, 'm.csv').strategies).to.deep.equal(log.strategies);
    expect(() => MetricsLog.fromCsv(text.replace('0.5', 'x'), 'm.csv')).to.throw('m.csv: row 4: loss: \'x\' is not a number');
    expect(scalarMetrics(result.testMetrics)).to.deep.equal({ accuracy: result.accuracy, macro_f1: (result.testMetrics as { macro_f1: number }).macro_f1, roc_auc: (result.testMetrics as { roc_auc: number }).roc_auc });
  });
});
