// The run's report files as a user gets them: compare ends by naming report.html; metrics.csv holds what the
// run's <strategy>.json reports; a run killed and resumed writes the same metrics.csv, run.json and report.html
// as one that never stopped (timings apart); `onnx-finetune report` redraws a folder, or overlays several.
import { expect } from 'chai';
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { cli } from './util/cli.js';
import { fixturePath } from './util/fixtures.js';

const files = ['--model', fixturePath('torch-seed', 'model.onnx'), '--train', fixturePath('torch-seed', 'train.csv'), '--test', fixturePath('torch-seed', 'test.csv')];
// Short plans with a validation split: the partial unfreeze has two stages of two epochs, 12 steps each.
const COMPARE = ['compare', ...files, '--val-split', '0.2', '--probe-epochs', '3', '--partial-head-epochs', '2', '--partial-epochs', '2', '--full-epochs', '3', '--checkpoint-every', '7'];

/** The page without what differs between two runs of the same job: its timings. */
export const withoutTimings = (html: string) => html.replace(/<span class="timing">[^<]*<\/span>/g, '<span class="timing"></span>');

const read = (dir: string, name: string) => readFileSync(join(dir, name), 'utf8');

describe('report.html, metrics.csv and the report command', function () {
  this.timeout(120_000);
  const tmp = mkdtempSync(join(tmpdir(), 'onnx-finetune-report-'));
  // Each run in a folder of its own, under the same relative --out, so that the command lines match.
  const whole = join(tmp, 'whole');
  before(async () => {
    mkdirSync(whole);
    const run = await cli([...COMPARE, '--out', 'run'], whole);
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout.trimEnd().split('\n').pop()).to.equal(`report: ${join('run', 'report.html')}`);
  });

  it('metrics.csv parsed back equals what the run reports: every step, each epoch\'s loss, validation and learning rates', () => {
    const rows = parse(read(join(whole, 'run'), 'metrics.csv'), { columns: true }) as Record<string, string>[];
    for (const strategy of ['linear_probe', 'partial_unfreeze', 'full_fine_tune']) {
      const report = JSON.parse(read(join(whole, 'run'), `${strategy}.json`));
      const mine = rows.filter((r) => r.strategy === strategy);
      const steps = mine.filter((r) => r.loss !== ''), epochs = mine.filter((r) => r.loss === '');
      expect(steps.map((r) => Number(r.step))).to.deep.equal(Array.from({ length: report.steps }, (_, i) => i + 1));
      expect(epochs.map((r) => Number(r.epoch_loss))).to.deep.equal(report.epoch_losses);
      expect(epochs.map((r) => [Number(r.val_loss), Number(r.val_accuracy), Number(r.val_macro_f1), Number(r.val_roc_auc)])).to.deep.equal(
        report.validation.map((v: Record<string, number>) => [v.loss, v.accuracy, v.macro_f1, v.roc_auc]));
      // Each step's rates are the plan's, group by group, stage by stage.
      for (const r of steps) {
        const stage = report.plan.find((s: { stage: string }) => s.stage === r.stage);
        expect([r.lr_group_0, r.lr_group_1].filter((x) => x !== '').map(Number)).to.deep.equal(stage.groups.map((g: { lr: number }) => g.lr));
      }
      // The mean of each epoch's step losses is its epoch loss (float32 losses summed in double).
      for (const e of epochs) {
        const losses = steps.filter((r) => r.epoch === e.epoch).map((r) => Number(r.loss));
        expect(losses.reduce((a, b) => a + b, 0) / losses.length).to.be.closeTo(Number(e.epoch_loss), 1e-12);
      }
    }
  });

  for (const [label, fault] of [['in the linear probe, mid-epoch (step 19)', 'after-step:19'], ['in the partial unfreeze\'s second stage (its step 40)', 'after-step:40'], ['while writing a checkpoint (the 2nd, half written)', 'mid-checkpoint:2']]) {
    it(`a compare killed ${label} and resumed writes the same metrics.csv, run.json and report.html (timings apart)`, async () => {
      const cwd = join(tmp, fault.replace(':', '-'));
        mkdirSync(cwd);
      const killed = await cli([...COMPARE, '--out', 'run'], cwd, { ONNX_FINETUNE_FAULT: fault });
      expect(killed.signal).to.equal('SIGKILL');
      // The interrupted run already has a report, of the steps up to its last checkpoint.
      expect(existsSync(join(cwd, 'run', 'report.html'))).to.equal(true);
      const interrupted = read(join(cwd, 'run'), 'report.html');
      expect(interrupted).to.include('not finished');
      // Killed in the partial unfreeze: the linear probe, finished, already shows its results.
      if (fault === 'after-step:40') expect(interrupted).to.match(/<tr data-strategy="linear_probe"><td>linear_probe<\/td><td class="num" data-value="0\.\d+">/);
      const resumed = await cli([...COMPARE, '--resume', 'run'], cwd);
      expect(resumed.code, resumed.stderr).to.equal(0);
      expect(resumed.stderr).to.equal('');
      for (const name of ['metrics.csv', 'run.json']) expect(read(join(cwd, 'run'), name), name).to.equal(read(join(whole, 'run'), name));
      expect(withoutTimings(read(join(cwd, 'run'), 'report.html'))).to.equal(withoutTimings(read(join(whole, 'run'), 'report.html')));
    });
  }

  it('report DIR redraws the run\'s page from its folder, byte for byte', async () => {
    const before = read(join(whole, 'run'), 'report.html');
    const run = await cli(['report', 'run', '--out', 'again.html'], whole);
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout).to.equal('report: again.html\n');
    expect(read(whole, 'again.html')).to.equal(before);
  });

  it('report DIR DIR overlays two runs on one page: a series and a table row per run and strategy', async () => {
    const other = await cli(['linear-probe', ...files, '--val-split', '0.2', '--epochs', '3', '--seed', '5', '--out', 'seed5'], whole);
    expect(other.code, other.stderr).to.equal(0);
    const run = await cli(['report', 'run', 'seed5', '--out', 'both.html'], whole);
    expect(run.code, run.stderr).to.equal(0);
    const html = read(whole, 'both.html');
    expect(html.match(/<tr data-strategy=/g)).to.have.length(5); // compare's four (LoRA's row too) and the linear probe
    for (const name of ['run: linear_probe', 'run: full_fine_tune', 'seed5: linear_probe']) expect(html).to.include(`data-series="${name}"`);
  });

  it('report refuses a folder that holds no run, in one line', async () => {
    const run = await cli(['report', tmp], tmp);
    expect(run.code).to.equal(1);
    expect(run.stderr).to.equal(`onnx-finetune: ${tmp}: no run.json there (not a run folder, or one written before reports existed)\n`);
  });
});
