// Every schedule against torch.optim.lr_scheduler step by step (test/fixtures/torch-schedules/schedules.json,
// made by scripts/make-schedule-fixtures.py): two groups at their own base lrs, 37 updates, the lr of each
// group before each update, and OneCycle's beta1 (Adam) or momentum (SGD). Bad fields: one line each.
// Every value is PyTorch's double exactly: the cosines come from cos.ts, rounded correctly, as glibc's are
// here (V8's Math.cos(1.2π) is one ulp off, which (1 + cos) would amplify to a few ulps of the rate).
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { StageSchedule, checkSchedule, GroupSchedule } from '../src/optim/schedules.js';
import { cos } from '../src/optim/cos.js';
import { DEFAULT_HYPERPARAMETERS, type ParamGroup } from '../src/optim/groups.js';
import type { ScheduleSpec } from '../src/optim/schedule-spec.js';
import { UserError } from '../src/errors.js';
import { fixturePath } from './util/fixtures.js';

interface Case { name: string; spec: ScheduleSpec; optimizer: 'adam' | 'sgd'; updates: number; base_lrs: number[]; lrs: number[][]; momenta: number[][] }
const { cases } = JSON.parse(readFileSync(fixturePath('torch-schedules', 'schedules.json'), 'utf8')) as { cases: Case[] };

/** How many doubles lie between a and b (0: the same double). */
function ulps(a: number, b: number): number {
  const view = new DataView(new ArrayBuffer(16));
  view.setFloat64(0, a);
  view.setFloat64(8, b);
  const ordered = (i: number) => { const x = view.getBigInt64(i); return x < 0n ? -(x & 0x7fffffffffffffffn) : x; };
  const d = ordered(0) - ordered(8);
  return Number(d < 0n ? -d : d);
}

describe('learning-rate schedules against torch.optim.lr_scheduler', () => {
  for (const c of cases) {
    it(`${c.name}: every update's lr${c.spec.kind === 'onecycle' ? ' and momentum' : ''} the same doubles as PyTorch's`, () => {
      const groups: ParamGroup[] = c.base_lrs.map((lr) => ({ ...DEFAULT_HYPERPARAMETERS, lr, momentum: c.optimizer === 'sgd' ? 0.9 : 0, params: [] }));
      const schedule = new StageSchedule(checkSchedule(c.spec, 'schedule', c.updates), groups, c.updates);
      let worst = 0, exact = 0;
      for (let t = 0; t < c.updates; t++) {
        schedule.apply(t, groups, c.optimizer);
        groups.forEach((g, i) => {
          const d = ulps(g.lr, c.lrs[t][i]);
          worst = Math.max(worst, d);
          if (d === 0) exact++;
          const momentum = c.optimizer === 'sgd' ? g.momentum : g.betas[0];
          expect(ulps(momentum, c.momenta[t][i]), `momentum at update ${t}, group ${i}`).to.equal(0);
        });
      }
      expect(worst, `largest difference in ulps (${exact} of ${2 * c.updates} exact)`).to.equal(0);
    });
  }

  it('takes its cosines correctly rounded, where V8\'s Math.cos is not', () => {
    // Python's math.cos (glibc) on this machine gives the right-hand values; V8 gives -0.8090169943749475 and -0.5946331763042867.
    expect(cos(Math.PI * 12 / 10)).to.equal(-0.8090169943749476);
    expect(cos(Math.PI * 26 / 37)).to.equal(-0.5946331763042866);
    for (const x of [0, 1e-9, 1, 3, 100, -2.5, Math.PI / 2]) expect(ulps(cos(x), Math.cos(x))).to.be.at.most(1);
  });

  it('is a pure function of the update index: asked out of order, the same values', () => {
    const spec: ScheduleSpec = { kind: 'cosine', tMax: 10, etaMin: 1e-4 };
    const forward = new GroupSchedule(spec, 0.01, 37);
    const values = Array.from({ length: 37 }, (_, t) => forward.at(t).lr);
    const jumping = new GroupSchedule(spec, 0.01, 37);
    for (const t of [30, 5, 36, 0, 17, 17, 2]) expect(jumping.at(t).lr).to.equal(values[t]);
  });

  it('leaves the shared default betas alone when OneCycle moves beta1', () => {
    const groups: ParamGroup[] = [{ ...DEFAULT_HYPERPARAMETERS, lr: 0.01, params: [] }];
    new StageSchedule({ kind: 'onecycle' }, groups, 10).apply(3, groups, 'adam');
    expect(DEFAULT_HYPERPARAMETERS.betas).to.deep.equal([0.9, 0.999]);
    expect(groups[0].betas[0]).to.not.equal(0.9);
  });
});

describe('schedule validation', () => {
  const bad: [unknown, RegExp, number?][] = [
    [{ kind: 'exponential' }, /^stage 'all' schedule\.kind is "exponential", not one of constant, warmup, /],
    [{ kind: 'onecycle', pctStart: 1.5 }, /^stage 'all' schedule\.pctStart must be a fraction in \(0, 1\), got 1\.5$/],
    [{ kind: 'onecycle', pctStart: 0 }, /schedule\.pctStart must be a fraction in \(0, 1\), got 0$/],
    [{ kind: 'warmup', warmupSteps: -3 }, /schedule\.warmupSteps must be a whole number >= 0, got -3$/],
    [{ kind: 'warmup-cosine', warmupSteps: 5, warmupRatio: 0.1 }, /schedule\.warmupRatio and warmupSteps both give the warmup: give one$/],
    [{ kind: 'cosine', tMax: 0 }, /schedule\.tMax must be a positive whole number, got 0$/],
    [{ kind: 'cosine', etaMin: -1 }, /schedule\.etaMin must be a number >= 0, got -1$/],
    [{ kind: 'linear', startFactor: 0 }, /schedule\.startFactor must be a number in \(0, 1\], got 0$/],
    [{ kind: 'step' }, /schedule\.stepSize is required for a step schedule$/],
    [{ kind: 'step', stepSize: 2.5 }, /schedule\.stepSize must be a positive whole number, got 2\.5$/],
    [{ kind: 'cosine', warmupSteps: 3 }, /schedule\.warmupSteps is not a field of a cosine schedule \(fields: tMax, etaMin\)$/],
    [{ kind: 'onecycle', baseMomentum: 0.97 }, /schedule\.baseMomentum \(0\.97\) must not exceed maxMomentum \(0\.95\)$/],
    [{ kind: 'onecycle', annealStrategy: 'exp' }, /schedule\.annealStrategy must be 'cos' or 'linear', got "exp"$/],
    [{ kind: 'onecycle', totalSteps: 20 }, /schedule\.totalSteps \(20\) is less than the stage's 30 optimizer updates$/, 30],
    ['cosine', /^stage 'all' schedule must be an object with a kind$/],
  ];
  for (const [spec, message, updates] of bad) {
    it(`refuses ${JSON.stringify(spec)} in one line naming the field`, () => {
      expect(() => checkSchedule(spec, "stage 'all' schedule", updates)).to.throw(UserError, message);
    });
  }
});
