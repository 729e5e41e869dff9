// The learning-rate finder: Lightning's suggestion rule on a curve worked by hand, and the command on the
// seed job: a rising curve written as CSV and JSON, a sane suggestion, an early stop on divergence, and bad
// options refused in one line.
import { expect } from 'chai';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { steepestDescent, type LrFindPoint } from '../src/train/lr-find.js';
import { cli } from './util/cli.js';
import { fixturePath } from './util/fixtures.js';

const files = ['--model', fixturePath('torch-seed', 'model.onnx'), '--train', fixturePath('torch-seed', 'train.csv'), '--test', fixturePath('torch-seed', 'test.csv')];

describe('lr-find', function () {
  this.timeout(60_000);
  const tmp = mkdtempSync(join(tmpdir(), 'onnx-finetune-lr-find-'));

  it("suggests Lightning's point: steepest np.gradient of the smoothed loss, the first 10 and the last point left out", () => {
    // Points 10..15 kept (16 points, the last left out): losses 1, 0.9, 0.5, 0.4, 0.39, 0.38.
    // np.gradient: -0.1, -0.25, -0.25, -0.055, -0.01, -0.01: the first steepest is index 1 (point 11).
    const losses = [...new Array(10).fill(5), 1, 0.9, 0.5, 0.4, 0.39, 0.38, 9];
    const points: LrFindPoint[] = losses.map((l, i) => ({ step: i + 1, lr: 10 ** (i - 10), loss: l, smoothedLoss: l }));
    expect(steepestDescent(points)).to.equal(10 ** 1);
    expect(steepestDescent(points.slice(0, 12))).to.equal(undefined); // one point left: no gradient
  });

  it('on the seed job: a curve rising exponentially from --start-lr, CSV and JSON alike, and a suggestion between 1e-4 and 1', async () => {
    const out = join(tmp, 'seed');
    const run = await cli(['lr-find', ...files.slice(0, 4), '--out', out], tmp); // no --test: the finder needs none
    expect(run.code, run.stderr).to.equal(0);
    const suggested = /^suggested learning rate: (\S+) \(steepest descent of the smoothed loss\)\ncurve: .*lr_find\.csv \(100 points, lr 1\.00e-7 to 8\.32\)\n$/.exec(run.stdout);
    expect(suggested, run.stdout).to.not.equal(null);
    const rows = readFileSync(join(out, 'lr_find.csv'), 'utf8').trim().split('\n');
    expect(rows[0]).to.equal('step,lr,loss,smoothed_loss');
    const lrs = rows.slice(1).map((r) => Number(r.split(',')[1]));
    expect(lrs).to.have.length(100);
    expect(lrs[0]).to.equal(1e-7);
    lrs.slice(1).forEach((lr, i) => expect(lr / lrs[i]).to.be.closeTo(1e8 ** (1 / 100), 1e-12));
    const record = JSON.parse(readFileSync(join(out, 'lr_find.json'), 'utf8'));
    expect(record.points.map((p: { lr: number }) => p.lr)).to.deep.equal(lrs);
    expect(record.suggestion).to.be.within(1e-4, 1);
    expect(lrs).to.include(record.suggestion);
    expect(Number(suggested![1])).to.equal(Number(record.suggestion.toPrecision(3)));
  });

  it('stops once the smoothed loss passes 4x its best (SGD up to 1e4)', async () => {
    const run = await cli(['lr-find', ...files, '--optimizer', 'sgd', '--end-lr', '10000', '--json', '--out', join(tmp, 'sgd')], tmp);
    expect(run.code, run.stderr).to.equal(0);
    const summary = JSON.parse(run.stdout);
    expect(summary.stopped).to.equal('diverged');
    const points = JSON.parse(readFileSync(summary.json, 'utf8')).points;
    expect(points.length).to.be.below(100);
    const best = Math.min(...points.map((p: { smoothed_loss: number }) => p.smoothed_loss));
    expect(points[points.length - 1].smoothed_loss).to.be.above(4 * best);
    expect(points.slice(0, -1).every((p: { smoothed_loss: number }) => p.smoothed_loss <= 4 * best)).to.equal(true);
  });

  for (const [options, message] of [
    [['--start-lr', '1', '--end-lr', '0.1'], /^onnx-finetune: lr-find: the end learning rate \(0\.1\) must be above the start \(1\), both positive\n$/],
    [['--schedule', 'cosine'], /^onnx-finetune: lr-find: --schedule does not apply \(the finder sets the rate of every parameter itself, one batch a step\)\n$/],
    [['--trainable', 'nothing.*'], /^onnx-finetune: --trainable 'nothing\.\*' matches no parameter of /],
    [['--steps', '0'], /^onnx-finetune: --steps must be a positive whole number, got 0\n$/],
  ] as [string[], RegExp][]) {
    it(`${options.join(' ')}: one line, exit 1`, async () => {
      const run = await cli(['lr-find', ...files, ...options, '--out', join(tmp, 'bad')], tmp);
      expect(run.code).to.equal(1);
      expect(run.stderr).to.match(message);
    });
  }
});
