// Learning-rate schedules as torch.optim.lr_scheduler computes them, per parameter group, indexed by the
// stage's optimizer update (0 = the first update). PyTorch computes LinearLR, CosineAnnealingLR and StepLR
// recursively from the group's current lr (their chainable get_lr), not in closed form, and the two differ in
// the last bits: this file runs the same recursion in double precision, so the values are PyTorch's exactly.
// The value at update t is a pure function of t (the recursion restarts from 0 when asked for an earlier t),
// so a resumed run sets the same rates as one that never stopped.
import type { ScheduleSpec } from './schedule-spec.js';
import { SCHEDULE_KINDS } from './schedule-spec.js';
import { UserError } from '../errors.js';
import { cos } from './cos.js';
import type { ParamGroup } from './groups.js';
import type { OptimizerKind } from './optimizer.js';

/** What a schedule sets on a group before an update: its lr, and with OneCycle's momentum cycling beta1 (Adam) or momentum (SGD). */
export interface ScheduledValues {
  lr: number;
  momentum?: number;
}

/** One group's schedule: the values for update t, t = 0, 1, …, stepping a recursion as PyTorch does. */
export class GroupSchedule {
  private t = -1;
  private lr = 0;
  private momentum: number | undefined;
  private readonly step: (t: number, lr: number) => ScheduledValues;

  /** `baseLr` is the group's lr as the stage sets it; `updates` is the stage's number of optimizer updates. */
  constructor(readonly spec: ScheduleSpec, readonly baseLr: number, readonly updates: number) {
    this.step = stepper(spec, baseLr, updates);
  }

  at(t: number): ScheduledValues {
    if (!Number.isInteger(t) || t < 0) throw new Error(`schedule position ${t} is not an update index`);
    if (t < this.t) this.t = -1;
    while (this.t < t) {
      this.t++;
      const v = this.step(this.t, this.t === 0 ? this.baseLr : this.lr);
      this.lr = v.lr;
      this.momentum = v.momentum;
    }
    return { lr: this.lr, momentum: this.momentum };
  }
}

/**
 * A stage's schedule over its optimizer's groups: before update t, each group's lr (and, for OneCycle's
 * momentum cycling, Adam's beta1 or SGD's momentum, as PyTorch's OneCycleLR sets them) from its own base lr.
 */
export class StageSchedule {
  private readonly schedules: GroupSchedule[];

  constructor(spec: ScheduleSpec, groups: readonly ParamGroup[], readonly updates: number) {
    this.schedules = groups.map((g) => new GroupSchedule(spec, g.lr, updates));
  }

  apply(t: number, groups: ParamGroup[], kind: OptimizerKind): void {
    groups.forEach((group, i) => {
      const { lr, momentum } = this.schedules[i].at(t);
      group.lr = lr;
      if (momentum === undefined) return;
      // A new pair: groups may share the defaults' betas array.
      if (kind === 'sgd') group.momentum = momentum;
      else group.betas = [momentum, group.betas[1]];
    });
  }
}

/** PyTorch's get_lr for update t (its last_epoch), from the group's current lr (its last value). */
function stepper(spec: ScheduleSpec, base: number, updates: number): (t: number, lr: number) => ScheduledValues {
  switch (spec.kind) {
    case 'constant':
      return (_t, lr) => ({ lr });
    case 'warmup': {
      // No warmup is a constant rate (LinearLR over zero steps would scale the first update alone).
      const steps = warmupSteps(spec, updates);
      return steps === 0 ? (_t, lr) => ({ lr }) : linearLR(spec.startFactor ?? 1 / 3, 1, steps);
    }
    case 'linear':
      return linearLR(spec.startFactor ?? 1 / 3, spec.endFactor ?? 1, spec.totalSteps ?? updates);
    case 'cosine':
      return cosineAnnealingLR(base, spec.tMax ?? updates, spec.etaMin ?? 0);
    case 'step': {
      const gamma = spec.gamma ?? 0.1;
      return (t, lr) => ({ lr: t === 0 || t % spec.stepSize !== 0 ? lr : lr * gamma });
    }
    case 'onecycle':
      return oneCycleLR(spec, base, updates);
    case 'warmup-cosine': {
      const warmup = warmupSteps(spec, updates), cycles = spec.numCycles ?? 0.5;
      // transformers' _get_cosine_schedule_with_warmup_lr_lambda, as LambdaLR applies it: base_lr * lambda(t).
      return (t) => ({
        lr: base * (t < warmup ? t / Math.max(1, warmup) : Math.max(0, 0.5 * (1 + cos(Math.PI * cycles * 2 * ((t - warmup) / Math.max(1, updates - warmup)))))),
      });
    }
    case 'warmup-linear': {
      const warmup = warmupSteps(spec, updates);
      return (t) => ({ lr: base * (t < warmup ? t / Math.max(1, warmup) : Math.max(0, (updates - t) / Math.max(1, updates - warmup))) });
    }
  }
}

/** Hugging Face's warmup length: warmup steps, or ceil(updates × warmup ratio). */
export function warmupSteps(spec: { warmupSteps?: number; warmupRatio?: number }, updates: number): number {
  return spec.warmupSteps ?? Math.ceil(updates * (spec.warmupRatio ?? 0));
}

// torch.optim.lr_scheduler.LinearLR.get_lr.
function linearLR(start: number, end: number, total: number) {
  return (t: number, lr: number): ScheduledValues => {
    if (t === 0) return { lr: lr * start };
    if (t > total) return { lr };
    return { lr: lr * (1 + (end - start) / (total * start + (t - 1) * (end - start))) };
  };
}

// torch.optim.lr_scheduler.CosineAnnealingLR.get_lr (the chainable form; Python's % is a floor modulo).
function cosineAnnealingLR(base: number, tMax: number, etaMin: number) {
  return (t: number, lr: number): ScheduledValues => {
    if (t === 0) return { lr };
    if (floorMod(t - 1 - tMax, 2 * tMax) === 0) return { lr: lr + ((base - etaMin) * (1 - cos(Math.PI / tMax))) / 2 };
    return { lr: ((1 + cos((Math.PI * t) / tMax)) / (1 + cos((Math.PI * (t - 1)) / tMax))) * (lr - etaMin) + etaMin };
  };
}

const floorMod = (a: number, n: number) => ((a % n) + n) % n;

// torch.optim.lr_scheduler.OneCycleLR.get_lr: phases over [0, total - 1], each annealing lr (and momentum).
function oneCycleLR(spec: Extract<ScheduleSpec, { kind: 'onecycle' }>, base: number, updates: number) {
  const total = spec.totalSteps ?? updates, pct = spec.pctStart ?? 0.3;
  const maxLr = spec.maxLr ?? base, initialLr = maxLr / (spec.divFactor ?? 25), minLr = initialLr / (spec.finalDivFactor ?? 1e4);
  const lo = spec.baseMomentum ?? 0.85, hi = spec.maxMomentum ?? 0.95;
  const phases = spec.threePhase
    ? [
      { end: pct * total - 1, lr: [initialLr, maxLr], m: [hi, lo] },
      { end: 2 * pct * total - 2, lr: [maxLr, initialLr], m: [lo, hi] },
      { end: total - 1, lr: [initialLr, minLr], m: [hi, hi] },
    ]
    : [
      { end: pct * total - 1, lr: [initialLr, maxLr], m: [hi, lo] },
      { end: total - 1, lr: [maxLr, minLr], m: [lo, hi] },
    ];
  const anneal = spec.annealStrategy === 'linear'
    ? (start: number, end: number, p: number) => (end - start) * p + start
    : (start: number, end: number, p: number) => end + ((start - end) / 2) * (cos(Math.PI * p) + 1);
  const cycle = spec.cycleMomentum ?? true;
  return (t: number): ScheduledValues => {
    let start = 0;
    for (const [i, phase] of phases.entries()) {
      if (t <= phase.end || i === phases.length - 1) {
        const p = (t - start) / (phase.end - start);
        return { lr: anneal(phase.lr[0], phase.lr[1], p), momentum: cycle ? anneal(phase.m[0], phase.m[1], p) : undefined };
      }
      start = phase.end;
    }
    throw new Error('unreachable: the last phase takes every step');
  };
}

const FIELDS: Record<ScheduleSpec['kind'], readonly string[]> = {
  constant: [],
  warmup: ['warmupSteps', 'warmupRatio', 'startFactor'],
  linear: ['startFactor', 'endFactor', 'totalSteps'],
  cosine: ['tMax', 'etaMin'],
  onecycle: ['maxLr', 'totalSteps', 'pctStart', 'annealStrategy', 'divFactor', 'finalDivFactor', 'threePhase', 'cycleMomentum', 'baseMomentum', 'maxMomentum'],
  step: ['stepSize', 'gamma'],
  'warmup-cosine': ['warmupSteps', 'warmupRatio', 'numCycles'],
  'warmup-linear': ['warmupSteps', 'warmupRatio'],
};

/**
 * A schedule's fields checked as PyTorch's constructors check them, one UserError naming the first field at
 * fault (`where` says whose schedule: "stage 'head' schedule", "--schedule"). With the stage's update count,
 * also what only the run's length decides (OneCycle's total steps cover the stage; no phase is empty).
 */
export function checkSchedule(spec: unknown, where = 'schedule', updates?: number): ScheduleSpec {
  const refuse = (field: string, what: string) => new UserError(`${where}${field ? `.${field}` : ''} ${what}`);
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) throw refuse('', 'must be an object with a kind');
  const s = spec as Record<string, unknown>;
  if (!SCHEDULE_KINDS.includes(s.kind as never)) throw refuse('kind', `is ${JSON.stringify(s.kind)}, not one of ${SCHEDULE_KINDS.join(', ')}`);
  const kind = s.kind as ScheduleSpec['kind'];
  for (const key of Object.keys(s)) {
    if (key !== 'kind' && !FIELDS[kind].includes(key)) throw refuse(key, `is not a field of a ${kind} schedule (fields: ${FIELDS[kind].join(', ') || 'none'})`);
  }
  const num = (field: string, ok: (v: number) => boolean, want: string) => {
    const v = s[field];
    if (v === undefined) return;
    if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) throw refuse(field, `must be ${want}, got ${JSON.stringify(v)}`);
  };
  const count = (field: string, low: number) => num(field, (v) => Number.isSafeInteger(v) && v >= low, low === 0 ? 'a whole number >= 0' : 'a positive whole number');
  const bool = (field: string) => {
    if (s[field] !== undefined && typeof s[field] !== 'boolean') throw refuse(field, `must be true or false, got ${JSON.stringify(s[field])}`);
  };
  count('warmupSteps', 0);
  num('warmupRatio', (v) => v >= 0 && v < 1, 'a fraction in [0, 1)');
  if (s.warmupSteps !== undefined && s.warmupRatio !== undefined) throw refuse('warmupRatio', 'and warmupSteps both give the warmup: give one');
  // LinearLR: start_factor in (0, 1], end_factor in [0, 1].
  num('startFactor', (v) => v > 0 && v <= 1, 'a number in (0, 1]');
  num('endFactor', (v) => v >= 0 && v <= 1, 'a number in [0, 1]');
  count('totalSteps', 1);
  count('tMax', 1);
  num('etaMin', (v) => v >= 0, 'a number >= 0');
  num('maxLr', (v) => v > 0, 'a positive number');
  num('pctStart', (v) => v > 0 && v < 1, 'a fraction in (0, 1)');
  if (s.annealStrategy !== undefined && s.annealStrategy !== 'cos' && s.annealStrategy !== 'linear') throw refuse('annealStrategy', `must be 'cos' or 'linear', got ${JSON.stringify(s.annealStrategy)}`);
  num('divFactor', (v) => v > 0, 'a positive number');
  num('finalDivFactor', (v) => v > 0, 'a positive number');
  bool('threePhase');
  bool('cycleMomentum');
  num('baseMomentum', (v) => v >= 0 && v < 1, 'a number in [0, 1)');
  num('maxMomentum', (v) => v >= 0 && v < 1, 'a number in [0, 1)');
  if (((s.baseMomentum as number | undefined) ?? 0.85) > ((s.maxMomentum as number | undefined) ?? 0.95)) throw refuse('baseMomentum', `(${(s.baseMomentum as number | undefined) ?? 0.85}) must not exceed maxMomentum (${(s.maxMomentum as number | undefined) ?? 0.95})`);
  if (kind === 'step' && s.stepSize === undefined) throw refuse('stepSize', 'is required for a step schedule');
  count('stepSize', 1);
  num('gamma', (v) => v > 0, 'a positive number');
  num('numCycles', (v) => v > 0, 'a positive number');
  const checked = s as unknown as ScheduleSpec;
  if (updates !== undefined && checked.kind === 'onecycle') {
    const total = checked.totalSteps ?? updates, pct = checked.pctStart ?? 0.3;
    // PyTorch raises once stepped past total_steps, and divides by each phase's length.
    if (total < updates) throw refuse('totalSteps', `(${total}) is less than the stage's ${updates} optimizer updates`);
    const ends = checked.threePhase ? [pct * total - 1, 2 * pct * total - 2, total - 1] : [pct * total - 1, total - 1];
    if (ends.some((end, i) => end - (i === 0 ? 0 : ends[i - 1]) === 0)) throw refuse('pctStart', `(${pct}) leaves an empty phase in ${total} steps`);
  }
  return checked;
}
