// A snapshot checked field by field against the run it claims to continue, before any of it is used. A
// checkpoint's checksum only says the file is whole: anyone can edit the state and recompute it, so ranges,
// lengths and types are checked here, where the plan, the data and the model are known. The rules follow
// trainer.ts: a snapshot is offered after a step (position.batch batches of the epoch run, position.steps
// counted) and before the epoch's loss joins epochLosses; a stage's optimizer creates its state for every
// parameter it trains at its first update, and a skipped batch counts as a step but updates nothing.
import type { RunSnapshot, TrainConfig } from '../train/trainer.js';
import type { Plan } from '../train/strategies.js';
import { Optimizer, type ParamState } from '../optim/optimizer.js';
import { clip, UserError } from '../errors.js';
import { bestEpoch } from '../train/early-stopping.js';
import { accumulationOf, pendingBatches, updatesDone } from '../train/updates.js';

/** What a snapshot must fit: the plan, the training data's size, the settings and the model's tensors. */
export interface ResumedRun {
  plan: Plan;
  /** Examples in the training data. */
  examples: number;
  config: Pick<TrainConfig, 'batchSize' | 'shuffle' | 'optimizer' | 'weightDecay' | 'selection'>;
  /** The model's parameters, name → element count, in the model's order. */
  parameters: ReadonlyMap<string, number>;
  /** The model's BatchNorm running statistics, name → element count. */
  buffers: ReadonlyMap<string, number>;
  /** Whether the run evaluates a validation set after every epoch (default: no). */
  validating?: boolean;
}

/** Throws a one-line UserError naming the snapshot's source and the first field that does not fit. */
export function checkSnapshot(s: RunSnapshot, run: ResumedRun): void {
  const where = s.source ? `${s.source}: checkpoint` : 'resume snapshot';
  const refuse = (field: string, what: string) => new UserError(`${where} field '${field}' ${what}`);
  const { plan, config } = run;
  if (s.strategy !== plan.strategy) throw new UserError(`${s.source ? `${s.source}: ` : ''}the snapshot is of a ${clip(String(s.strategy))} run, not ${plan.strategy}`);

  const batches = Math.ceil(run.examples / config.batchSize);
  const inRange = (field: string, value: unknown, low: number, high: number, what: string) => {
    if (!Number.isInteger(value) || (value as number) < low || (value as number) > high) {
      throw refuse(field, `is ${show(value)}, not ${what} (${high < low ? 'there is none' : `${low}..${high}`})`);
    }
    return value as number;
  };
  const stageIndex = inRange('position.stage', s.stage, 0, plan.stages.length - 1, 'a stage index of the plan');
  const stage = plan.stages[stageIndex];
  const epoch = inRange('position.epoch', s.epoch, 0, stage.epochs - 1, `an epoch index of the plan's stage '${stage.name}'`);
  const batch = inRange('position.batch', s.batch, 0, batches, `a count of batches run in an epoch of ${batches}`);
  const earlierEpochs = plan.stages.slice(0, stageIndex).reduce((n, st) => n + st.epochs, 0);
  const stageSteps = epoch * batches + batch;
  const steps = (earlierEpochs * batches) + stageSteps;
  if (s.steps !== steps) {
    throw refuse('position.steps', `is ${show(s.steps)}; stage '${stage.name}', epoch ${epoch}, batch ${batch} of ${batches} is step ${steps} of the run`);
  }

  const completed = earlierEpochs + epoch;
  if (!Array.isArray(s.epochLosses)) throw refuse('epochLosses', `is ${show(s.epochLosses)}, not an array`);
  if (s.epochLosses.length !== completed) throw refuse('epochLosses', `holds ${s.epochLosses.length} epoch losses; the run has completed ${completed} epochs at this position`);
  const notLoss = s.epochLosses.findIndex((l) => typeof l !== 'number'); // NaN stands for an epoch whose every batch was skipped
  if (notLoss >= 0) throw refuse(`epochLosses[${notLoss}]`, `is ${show(s.epochLosses[notLoss])}, not a number`);
  checkValidation(s.validation, run.validating === true ? completed : 0, plan, refuse);
  const skipped = inRange('skippedBatches', s.skippedBatches, 0, steps, 'a count of the run\'s steps');
  // The epoch's batches so far either added to the loss or were skipped.
  inRange('epochBatches', s.epochBatches, Math.max(0, batch - skipped), batch, `a count of this epoch's batches not skipped, with ${skipped} skipped in the run`);
  if (typeof s.epochLossSum !== 'number' || !Number.isFinite(s.epochLossSum) || (s.epochBatches === 0 && s.epochLossSum !== 0)) {
    throw refuse('epochLossSum', `is ${show(s.epochLossSum)}, not a finite sum of ${s.epochBatches} batch losses`);
  }
  inRange('rngState', s.rngState, 0, 2 ** 32 - 1, 'a generator state');
  inRange('dropoutRngState', s.dropoutRngState, 0, 2 ** 32 - 1, 'a generator state');
  checkOrder(s.order, run.examples, config.shuffle, refuse);

  checkTensors('parameter', s.parameters, run.parameters, where);
  checkTensors('BatchNorm running statistic', s.buffers, run.buffers, where);
  checkBest(s, config.selection, run, where, refuse);
  const optimizer = new Optimizer(stage.optimizer ?? config.optimizer, stage.groups, [...run.parameters.keys()], { weightDecay: config.weightDecay });
  const accumulate = accumulationOf(stage);
  checkOptimizerState(s.optimizerState, optimizer, run.parameters, { stage: stage.name, stageSteps: updatesDone(epoch, batch, batches, accumulate), skipped }, refuse);
  checkAccumulation(s.accumulation, pendingBatches(batch, batches, accumulate), optimizer, run.parameters, refuse);
}

/** Gradient sums of the unfinished accumulation group: at most its batches so far, one finite sum per trained parameter. */
function checkAccumulation(a: unknown, pending: number, optimizer: Optimizer, sizes: ReadonlyMap<string, number>, refuse: Refuse): void {
  if (a === undefined) return;
  if (typeof a !== 'object' || a === null) throw refuse('accumulation', `is ${show(a)}, not gradient sums`);
  const { batches, gradients } = a as { batches: unknown; gradients: unknown };
  if (!Number.isInteger(batches) || (batches as number) < 1 || (batches as number) > pending) {
    throw refuse('accumulation.batches', `is ${show(batches)}, not a count of the ${pending} batches run in the unfinished accumulation group`);
  }
  if (!(gradients instanceof Map)) throw refuse('accumulation.gradients', 'is not a map of parameter name to float32 values');
  const trained = optimizer.parameterNames;
  for (const name of gradients.keys()) if (!trained.includes(name)) throw refuse('accumulation.gradients', `has parameter ${show(name)}, which the stage does not train`);
  for (const name of trained) {
    const g = gradients.get(name);
    const field = `accumulation.gradients['${name}']`;
    if (!(g instanceof Float32Array)) throw refuse(field, g === undefined ? 'is missing' : 'is not float32 values');
    if (g.length !== sizes.get(name)) throw refuse(field, `has ${g.length} values; parameter '${name}' has ${sizes.get(name)}`);
    const bad = g.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) throw refuse(field, `holds ${g[bad]} at index ${bad}`);
  }
}

type Refuse = (field: string, what: string) => UserError;

/** The best epoch's weights: there exactly when the run keeps them and an epoch has improved, of that epoch. */
function checkBest(s: RunSnapshot, selection: ResumedRun['config']['selection'], run: ResumedRun, where: string, refuse: Refuse): void {
  const want = selection?.keep === 'best' ? bestEpoch(s.validation, selection.monitor)?.epoch : undefined;
  if (s.best === undefined) {
    if (want !== undefined) throw refuse('best', `is missing; the run keeps the best epoch's weights, those of epoch ${want}`);
    return;
  }
  if (want === undefined) throw refuse('best', selection?.keep === 'best' ? 'is there, and no epoch has improved yet' : 'is there, and the run keeps the last weights');
  if (s.best.epoch !== want) throw refuse('best.epoch', `is ${show(s.best.epoch)}, not ${want} (the best epoch by ${selection!.monitor} in the validation results)`);
  checkTensors('best parameter', s.best.parameters, run.parameters, where);
  checkTensors('best BatchNorm running statistic', s.best.buffers, run.buffers, where);
}

/**
 * One validation entry per completed epoch, numbered from 1 and naming the stage the epoch belongs to, with a
 * loss. The entries' metrics only go into the report: their presence and type are checked, not their values.
 */
function checkValidation(validation: unknown, completed: number, plan: Plan, refuse: Refuse): void {
  if (!Array.isArray(validation)) throw refuse('validation', `is ${show(validation)}, not an array`);
  if (validation.length !== completed) throw refuse('validation', `holds ${validation.length} epoch results; the run has validated ${completed} epochs at this position`);
  const stageOf = plan.stages.flatMap((stage) => new Array<string>(stage.epochs).fill(stage.name));
  validation.forEach((entry: unknown, i) => {
    const field = `validation[${i}]`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw refuse(field, `is ${show(entry)}, not an object`);
    const e = entry as Record<string, unknown>;
    if (e.epoch !== i + 1) throw refuse(`${field}.epoch`, `is ${show(e.epoch)}, not ${i + 1}`);
    if (e.stage !== stageOf[i]) throw refuse(`${field}.stage`, `is ${show(e.stage)}, not '${stageOf[i]}' (the stage of epoch ${i + 1})`);
    if (typeof e.loss !== 'number') throw refuse(`${field}.loss`, `is ${show(e.loss)}, not a number`);
    const metric = 'accuracy' in e ? 'accuracy' : 'mae';
    if (typeof e[metric] !== 'number' && !(metric === 'mae' && e[metric] === null)) throw refuse(`${field}.${metric}`, `is ${show(e[metric])}, not a number`);
  });
}

/** The epoch's data order: a permutation of the examples, and the file's order when the run does not shuffle. */
function checkOrder(order: unknown, examples: number, shuffle: boolean, refuse: Refuse): void {
  if (!(order instanceof Int32Array)) throw refuse('order', 'is not an array of int32 example indices');
  if (order.length !== examples) throw refuse('order', `holds ${order.length} example indices; the training data has ${examples} examples`);
  const seen = new Uint8Array(examples);
  for (let i = 0; i < examples; i++) {
    const k = order[i];
    if (k < 0 || k >= examples || seen[k]) throw refuse('order', `is not a permutation of the ${examples} examples (index ${k} at position ${i})`);
    if (!shuffle && k !== i) throw refuse('order', `is not the file's order (index ${k} at position ${i}), and the run does not shuffle`);
    seen[k] = 1;
  }
}

/** The snapshot's parameters or running statistics: exactly the model's, each with its element count. */
function checkTensors(kind: string, have: unknown, want: ReadonlyMap<string, number>, where: string): void {
  const refuse = (what: string) => new UserError(`${where} ${what}`);
  if (!(have instanceof Map)) throw refuse(`${kind}s are not a map of name to float32 values`);
  for (const [name, size] of want) {
    const values = have.get(name);
    if (values === undefined) throw refuse(`lacks the model's ${kind} '${name}'`);
    if (!(values instanceof Float32Array)) throw refuse(`${kind} '${name}' is not float32 values`);
    if (values.length !== size) throw refuse(`${kind} '${name}' has ${values.length} values; the model's has ${size}`);
  }
  for (const name of have.keys()) if (!want.has(name)) throw refuse(`has ${kind} ${show(name)}, which the model does not`);
}

interface StageProgress {
  stage: string;
  /** Optimizer updates due in this stage so far (one per batch without accumulation), and steps skipped in the whole run. */
  stageSteps: number;
  skipped: number;
}

/**
 * The stage's optimizer state: none before its first update (every step of the stage so far skipped), then
 * for every parameter it trains, all at the same step count, with the arrays its kind keeps.
 */
function checkOptimizerState(state: unknown, optimizer: Optimizer, sizes: ReadonlyMap<string, number>, at: StageProgress, refuse: Refuse): void {
  if (!(state instanceof Map)) throw refuse('optimizer', 'is not a map of parameter name to state');
  const trained = new Set(optimizer.parameterNames);
  for (const name of state.keys()) {
    if (!trained.has(name)) throw refuse('optimizer', `has state for parameter ${show(name)}, which stage '${at.stage}' does not train`);
  }
  if (state.size === 0) {
    if (at.stageSteps > at.skipped) throw refuse('optimizer', `is empty after ${at.stageSteps} steps of stage '${at.stage}' with ${at.skipped} skipped in the run`);
    return;
  }
  const first = [...trained].find((name) => !state.has(name));
  if (first !== undefined) throw refuse('optimizer', `lacks parameter '${first}', which stage '${at.stage}' trains`);
  // Every update raises every parameter's step: their common count is the stage's updates so far.
  const lowest = Math.max(1, at.stageSteps - at.skipped);
  let steps: number | undefined;
  for (const group of optimizer.groups) {
    const keeps: (keyof ParamState)[] = optimizer.kind === 'sgd' ? (group.momentum !== 0 ? ['momentumBuffer'] : []) : ['expAvg', 'expAvgSq'];
    for (const name of group.params) {
      const s = state.get(name) as ParamState;
      const field = `optimizer['${name}']`;
      if (typeof s !== 'object' || s === null) throw refuse(field, 'is not a parameter\'s optimizer state');
      if (!Number.isInteger(s.step) || s.step < lowest || s.step > at.stageSteps || (steps !== undefined && s.step !== steps)) {
        const what = steps !== undefined ? `the other parameters' ${steps}` : `the stage's update count (${lowest}..${at.stageSteps})`;
        throw refuse(`${field}.step`, `is ${show(s.step)}, not ${what}`);
      }
      steps = s.step;
      for (const key of ['expAvg', 'expAvgSq', 'momentumBuffer'] as const) {
        const values = s[key];
        if (!keeps.includes(key)) {
          if (values !== undefined) throw refuse(`${field}.${key}`, `is there, and ${optimizer.kind}${optimizer.kind === 'sgd' ? ' without momentum' : ''} keeps no such state`);
          continue;
        }
        if (!(values instanceof Float32Array)) throw refuse(`${field}.${key}`, `is ${values === undefined ? 'missing' : 'not float32 values'}; ${optimizer.kind} keeps it after its first update`);
        if (values.length !== sizes.get(name)) throw refuse(`${field}.${key}`, `has ${values.length} values; parameter '${name}' has ${sizes.get(name)}`);
        // Updates see finite gradients only: the moments stay numbers, and the second one a sum of squares.
        const bad = key === 'expAvgSq' ? values.findIndex((v) => !(v >= 0)) : values.findIndex((v) => Number.isNaN(v));
        if (bad >= 0) throw refuse(`${field}.${key}`, `holds ${values[bad]} at index ${bad}`);
      }
    }
  }
}

/** A value as an error message may quote it: short, and on one line (UserError escapes control characters). */
function show(value: unknown): string {
  if (value === undefined) return 'missing';
  if (typeof value === 'number') return String(value);
  return clip(JSON.stringify(value) ?? String(value));
}

