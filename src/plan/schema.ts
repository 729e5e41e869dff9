// A plan file's fields, as data: each field's snake_case name in the file, its camelCase name in the Plan type
// (src/train/strategies.ts), and the rule its value must meet. Tables list fields in the order the Plan type
// holds them, so a plan read from a file serializes (checkpoint identity, provenance) exactly as the same plan
// built in code does.
import { OPTIMIZERS } from '../optim/optimizer.js';
import { BATCH_NORM_MODES } from '../artifacts/batch-norm-mode.js';
import { SCHEDULE_KINDS, type ScheduleKind } from '../optim/schedule-spec.js';

/** What a field's value must be; `want` completes "must be …" in an error. */
export type Rule =
  | { type: 'number'; want: string; ok(v: number): boolean }
  | { type: 'boolean'; want: string }
  | { type: 'choice'; want: string; choices: readonly string[] }
  | { type: 'name'; want: string }
  | { type: 'globs'; want: string }
  | { type: 'betas'; want: string }
  | { type: 'stages'; want: string }
  | { type: 'groups'; want: string }
  | { type: 'schedule'; want: string };

const number = (want: string, ok: (v: number) => boolean): Rule => ({ type: 'number', want, ok });
const choice = (choices: readonly string[]): Rule => ({ type: 'choice', want: `one of ${choices.join(', ')}`, choices });

export const RULES = {
  positive: number('a positive number', (v) => v > 0 && Number.isFinite(v)),
  nonnegative: number('a number >= 0', (v) => v >= 0 && Number.isFinite(v)),
  count: number('a positive whole number', (v) => Number.isSafeInteger(v) && v >= 1),
  steps: number('a whole number >= 0', (v) => Number.isSafeInteger(v) && v >= 0),
  fraction: number('a number from 0 to 1', (v) => v >= 0 && v <= 1),
  openFraction: number('a number between 0 and 1 (exclusive)', (v) => v > 0 && v < 1),
  belowOne: number('a number in [0, 1)', (v) => v >= 0 && v < 1),
  startFactor: number('a number in (0, 1]', (v) => v > 0 && v <= 1),
  boolean: { type: 'boolean', want: 'true or false' },
  name: { type: 'name', want: 'a name of letters, digits, _ . - (starting with a letter or digit, at most 64)' },
  globs: { type: 'globs', want: 'a glob over parameter names, or a list of them' },
  betas: { type: 'betas', want: 'a list of two numbers in [0, 1)' },
} satisfies Record<string, Rule>;

export interface Field {
  /** The name in the Plan type. */
  key: string;
  rule: Rule;
  required?: boolean;
}

export type Fields = Record<string, Field>;

const field = (key: string, rule: Rule, required = false): Field => ({ key, rule, required });

export const PLAN_FIELDS: Fields = {
  name: field('strategy', RULES.name),
  stages: field('stages', { type: 'stages', want: 'a list of stages' }, true),
};

export const STAGE_FIELDS: Fields = {
  name: field('name', { type: 'name', want: 'a stage name (letters, digits, _ . -)' }),
  groups: field('groups', { type: 'groups', want: 'a list of parameter groups' }, true),
  epochs: field('epochs', RULES.count, true),
  optimizer: field('optimizer', choice(OPTIMIZERS)),
  batch_norm: field('batchNorm', choice(BATCH_NORM_MODES)),
  schedule: field('schedule', { type: 'schedule', want: `a schedule: kind (${SCHEDULE_KINDS.join(', ')}) and its fields` }),
  clip_norm: field('clipNorm', RULES.positive),
  accumulate: field('accumulate', RULES.count),
};

/** A parameter group: torch.optim's param_group keys (the run's settings fill those left out). */
export const GROUP_FIELDS: Fields = {
  params: field('params', RULES.globs, true),
  lr: field('lr', RULES.positive, true),
  weight_decay: field('weightDecay', RULES.nonnegative),
  betas: field('betas', RULES.betas),
  eps: field('eps', RULES.positive),
  momentum: field('momentum', RULES.nonnegative),
  dampening: field('dampening', RULES.nonnegative),
  nesterov: field('nesterov', RULES.boolean),
};

const warmup = { warmup_steps: field('warmupSteps', RULES.steps), warmup_ratio: field('warmupRatio', RULES.fraction) };

/** Each schedule kind's fields besides `kind` (src/optim/schedule-spec.ts; lengths in optimizer updates). */
export const SCHEDULE_FIELDS: Record<ScheduleKind, Fields> = {
  constant: {},
  warmup: { ...warmup, start_factor: field('startFactor', RULES.startFactor) },
  linear: { start_factor: field('startFactor', RULES.startFactor), end_factor: field('endFactor', RULES.fraction), total_steps: field('totalSteps', RULES.count) },
  cosine: { t_max: field('tMax', RULES.count), eta_min: field('etaMin', RULES.nonnegative) },
  onecycle: {
    max_lr: field('maxLr', RULES.positive), total_steps: field('totalSteps', RULES.count), pct_start: field('pctStart', RULES.openFraction),
    anneal_strategy: field('annealStrategy', choice(['cos', 'linear'])), div_factor: field('divFactor', RULES.positive), final_div_factor: field('finalDivFactor', RULES.positive),
    three_phase: field('threePhase', RULES.boolean), cycle_momentum: field('cycleMomentum', RULES.boolean),
    base_momentum: field('baseMomentum', RULES.belowOne), max_momentum: field('maxMomentum', RULES.belowOne),
  },
  step: { step_size: field('stepSize', RULES.count, true), gamma: field('gamma', RULES.positive) },
  'warmup-cosine': { ...warmup, num_cycles: field('numCycles', RULES.positive) },
  'warmup-linear': { ...warmup },
};

/** The file's name for a Plan field (for errors and for writing plans out). */
export function fileName(fields: Fields, key: string): string {
  return Object.entries(fields).find(([, f]) => f.key === key)?.[0] ?? key;
}
