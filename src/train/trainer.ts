// Runs a plan: for each stage, a StageRunner trains the parameters the stage selects (the others baked in as
// constants) for its epochs with a fresh optimizer, evaluating the validation set (if any) after every epoch;
// finally the test set is evaluated. A run can offer snapshots of itself and continue from one exactly.
import type { ModelProto } from '../onnx/proto.js';
import { elementCount, tensorValues } from '../onnx/tensor.js';
import { buildArtifacts, inferenceModel, type Artifacts } from '../artifacts/build.js';
import { inEvalMode } from '../artifacts/dropout-masks.js';
import { runningStatistics, type BatchNormMode } from '../artifacts/batch-norm-mode.js';
import { checkInputTypes, describeModel, type ModelSummary } from '../model/describe.js';
import type { Device } from '../runtime/session.js';
import { Optimizer, type OptimizerKind, type ParamState } from '../optim/optimizer.js';
import type { Loss } from '../losses/index.js';
import type { Dataset } from '../data/dataset.js';
import { exampleLocation } from '../data/dataset.js';
import { checkDataInputs } from '../data/check-inputs.js';
import { UserError } from '../errors.js';
import { checkOrderState, epochOrders, initialOrderState, Rng, type RngKind } from './rng.js';
import { batchStarts } from './batches.js';
import type { Plan } from './strategies.js';
import { StageRunner, type Accumulation } from './stage-runner.js';
import { accumulationOf, endsGroup, updateIndex } from './updates.js';
import { checkStageRecipe } from './stage-recipe.js';
import { evaluate, Evaluator, type Evaluation } from './evaluate.js';
import { computeMetrics, taskFor, type Metrics } from './metrics.js';
import { checkSnapshot } from '../checkpoint/check-state.js';
import { InterruptedError, yieldToEventLoop } from './breathe.js';
import { bestEpoch, checkMonitor, stopsEarly, type BestWeights, type Selection } from './early-stopping.js';
import type { RunEvent } from './events.js';
import { snapshotCopy } from '../runtime/snapshot-arrays.js';

export interface TrainConfig {
  loss: Loss;
  optimizer: OptimizerKind;
  weightDecay: number;
  batchSize: number;
  testBatchSize: number;
  shuffle: boolean;
  seed: number;
  device: Device;
  threads: number;
  /** BatchNorm on running statistics (frozen), batch statistics (train), or per stage by what trains (auto, the default). */
  batchNorm?: BatchNormMode;
  /** What a NaN or infinite loss or gradient does: stop the run (default), or skip that batch's update. */
  onNonFinite?: 'stop' | 'skip-batch';
  /**
   * When to offer a snapshot through onSnapshot: every N steps; or `{ seconds }`, after that much training
   * since the last one and at the end of each stage; by default at the end of each epoch.
   */
  snapshotEvery?: number | { seconds: number };
  onSnapshot?: (snapshot: RunSnapshot) => void;
  /** Continue a run from a snapshot of it instead of starting afresh. */
  resume?: RunSnapshot;
  /** Checked after every step: when aborted, the run offers a snapshot and throws InterruptedError. */
  signal?: AbortSignal;
  /** Adam updates in a WebAssembly kernel where WebAssembly SIMD is there; this keeps it in the JavaScript loop. */
  adamInJavaScript?: boolean;
  onProgress?: (p: Progress) => void;
  /** Called after each epoch's validation, where the run has a validation set. */
  onValidation?: (v: EpochValidation) => void;
  /** Called after every optimizer step with the step count so far and the (live) parameters. */
  onStep?: (step: number, parameters: ReadonlyMap<string, Float32Array>) => void;
  /** Early stopping and the weights kept, judged on the validation set (early-stopping.ts); needs data.validation. */
  selection?: Selection;
  /** The run's event stream (events.ts): stages, steps, epochs, validation, checkpoints, the end. */
  onEvent?: (e: RunEvent) => void;
  /** The generator of the epochs' row order (default mulberry32); torch orders rows as DataLoader(shuffle=True) does. */
  rng?: RngKind;
  /** torch: words PyTorch's global generator drew before training (the head's initialization, the built-in data). */
  rngStart?: number;
}

export const DEFAULT_TRAIN_CONFIG: Omit<TrainConfig, 'loss'> = {
  optimizer: 'adam', weightDecay: 0, batchSize: 64, testBatchSize: 128, shuffle: true, seed: 17, device: 'cpu', threads: 1,
};

export interface Progress {
  stage: string;
  epoch: number;
  epochs: number;
  step: number;
  steps: number;
  /** Mean batch loss so far in this epoch. */
  loss: number;
}

/** The validation set's loss and metrics after one epoch (epochs counted across the plan's stages, from 1). */
export type EpochValidation = { epoch: number; stage: string; loss: number } & Metrics;

export interface TrainResult {
  /** The plan's name. */
  strategy: string;
  accuracy: number;
  testLoss: number;
  /** The test set's metrics (metrics.ts), by the task the loss implies. */
  testMetrics: Metrics;
  /** One entry per epoch, where the run has a validation set; else empty. */
  validation: EpochValidation[];
  /** Mean batch loss of each epoch, across all stages. */
  epochLosses: number[];
  steps: number;
  /** Batches whose update was skipped for a non-finite loss or gradient (onNonFinite: 'skip-batch'). */
  skippedBatches: number;
  seconds: number;
  parameters: Map<string, Float32Array>;
  /** BatchNorm running statistics, by initializer name, as training left them. */
  buffers: Map<string, Float32Array>;
  /** The trained model, inference-ready: the source model with the trained weights (the best epoch's, with keep: 'best'). */
  model: ModelProto;
  /** With config.selection: the best epoch by the monitored metric, and where the run stopped early (if it did). */
  selection?: Selection & { bestEpoch?: number; bestValue?: number; stoppedEpoch?: number };
}

/**
 * Everything needed to continue a run exactly: where it stands in the plan (the next batch to run), the
 * epoch's data order and the shuffle RNG's state, the parameters and the optimizer state.
 */
export interface RunSnapshot {
  strategy: string;
  stage: number;
  epoch: number;
  /** Batches of this epoch already run. */
  batch: number;
  steps: number;
  epochLosses: number[];
  /** Validation after each completed epoch (empty without a validation set). */
  validation: EpochValidation[];
  /** Sum and count of the batch losses so far in this epoch. */
  epochLossSum: number;
  epochBatches: number;
  skippedBatches: number;
  rngState: number;
  /** The generator of training-mode Dropout masks. */
  dropoutRngState: number;
  order: Int32Array;
  parameters: Map<string, Float32Array>;
  /** BatchNorm running statistics. */
  buffers: Map<string, Float32Array>;
  optimizerState: Map<string, ParamState>;
  /** With selection keep: 'best', the best epoch's weights so far (none before an epoch improved). */
  best?: BestWeights;
  /** Gradient accumulation: the sums of the unfinished group's batches, when the snapshot falls inside one. */
  accumulation?: Accumulation;
  /** Where the snapshot was read from (a checkpoint file), for error messages; a run's own snapshots have none. */
  source?: string;
}

/** A NaN or infinity in the loss or a gradient: the run stops rather than train on it. */
export class NonFiniteError extends UserError {
  override name = 'NonFiniteError';
}

export { InterruptedError } from './breathe.js';

export interface TrainData {
  train: Dataset;
  test: Dataset;
  /** Evaluated after every epoch. */
  validation?: Dataset;
}

export async function train(model: ModelProto, plan: Plan, data: TrainData, config: TrainConfig): Promise<TrainResult> {
  const started = performance.now();
  const summary = describeModel(model);
  checkInputTypes(summary);
  for (const set of [data.train, data.test, data.validation]) if (set) checkDataset(set, summary, config.loss);
  if (config.selection) {
    if (!data.validation) throw new UserError('early stopping and keeping the best epoch judge the epochs by the validation set: the run has none (data.validation)');
    checkMonitor(config.selection.monitor, taskFor(config.loss.name));
  }
  for (const stage of plan.stages) checkStageRecipe(stage, Math.ceil(data.train.count / config.batchSize));
  const run = config.resume ? resumeState(config.resume, model, summary, plan, data, config) : freshState(model, summary, plan, data.train, config);
  const orders = epochOrders(config.rng ?? 'mulberry32', config.seed, run.rngState);
  const dropoutRng = new Rng(run.dropoutRngState);
  const starts = batchStarts(data.train.count, config.batchSize);
  // One copy of each array, into recycled shared memory: the checkpoint writer's thread reads it from there.
  const snapshot = (): RunSnapshot => ({ ...run, rngState: orders.state, dropoutRngState: dropoutRng.state, order: snapshotCopy(run.order), epochLosses: [...run.epochLosses],
    validation: structuredClone(run.validation), parameters: cloneArrays(run.parameters, snapshotCopy), buffers: cloneArrays(run.buffers, snapshotCopy), optimizerState: cloneState(runner!.optimizerState, snapshotCopy),
    best: run.best && { epoch: run.best.epoch, parameters: cloneArrays(run.best.parameters, snapshotCopy), buffers: cloneArrays(run.best.buffers, snapshotCopy) },
    accumulation: runner!.accumulation });
  let artifacts: Artifacts | undefined;
  let runner: StageRunner | undefined;
  let lastSnapshot = performance.now();
  let resumedOptimizerState = config.resume?.optimizerState; // belongs to the stage the run resumes in
  let stoppedEpoch: number | undefined;
  const emit = config.onEvent ?? (() => {});
  const strategy = plan.strategy;
  let resumedAccumulation = config.resume?.accumulation;
  stages: for (; run.stage < plan.stages.length; run.stage++, run.epoch = 0) {
    const stage = plan.stages[run.stage];
    runner = await StageRunner.create(model, run.parameters, stage, data.train, config, dropoutRng, run.buffers);
    if (resumedOptimizerState) runner.optimizerState = cloneState(resumedOptimizerState);
    emit({ type: 'stage-start', strategy, stage: stage.name, index: run.stage, epochs: stage.epochs, groups: runner.groups.map((g) => ({ params: [...g.params], lr: g.lr })), step: run.steps, resumed: resumedOptimizerState !== undefined });
    resumedOptimizerState = undefined;
    runner.accumulation = resumedAccumulation;
    resumedAccumulation = undefined;
    const accumulate = accumulationOf(stage);
    artifacts = runner.artifacts;
    let validator: Evaluator | undefined;
    try {
      if (data.validation) validator = await Evaluator.create(artifacts, data.validation, config);
      for (; run.epoch < stage.epochs; run.epoch++, run.batch = 0) {
        if (run.batch === 0) {
          if (run.epoch === 0 && run.stage > 0) orders.stageBoundary();
          orders.next(run.order, config.shuffle);
          run.epochLossSum = 0;
          run.epochBatches = 0;
        }
        while (run.batch < starts.length) {
          // The plan's epoch count so far (run.epochLosses grows by one per epoch, in every stage) seeds augmentation.
          const update = { index: updateIndex(run.epoch, run.batch, starts.length, accumulate), last: endsGroup(run.batch, starts.length, accumulate) };
          const { loss, skipped } = await runner.step(run.order, starts[run.batch], Math.min(starts[run.batch] + config.batchSize, run.order.length), config.onNonFinite ?? 'stop', run.epochLosses.length, update);
          const lrs = runner.groups.map((g) => g.lr); // the rates of the update just made (a schedule sets them before each update)
          if (skipped) run.skippedBatches++;
          else {
            run.epochLossSum += loss;
            run.epochBatches++;
          }
          run.batch++;
          run.steps++;
          if (skipped === 'stop') {
            throw new NonFiniteError(`non-finite loss or gradient at stage ${run.stage + 1} (${stage.name}), epoch ${run.epoch + 1}, step ${run.batch} of ${starts.length} (step ${run.steps} of the run); lower the learning rate or use --on-nonfinite skip-batch`);
          }
          emit({ type: 'step', strategy, stage: stage.name, epoch: run.epochLosses.length + 1, step: run.steps, loss, lrs, skipped: skipped !== false });
          config.onStep?.(run.steps, run.parameters);
          config.onProgress?.({ stage: stage.name, epoch: run.epoch + 1, epochs: stage.epochs, step: run.batch, steps: starts.length, loss: run.epochLossSum / Math.max(1, run.epochBatches) });
          const due = snapshotDue(config.snapshotEvery, run.steps, run.batch === starts.length, run.batch === starts.length && run.epoch === stage.epochs - 1, lastSnapshot);
          await yieldToEventLoop(); // a signal that arrives now still gets this step's snapshot
          if (due || config.signal?.aborted) {
            config.onSnapshot?.(snapshot());
            lastSnapshot = performance.now();
            emit({ type: 'checkpoint', strategy, step: run.steps });
          }
          if (config.signal?.aborted) throw new InterruptedError(`interrupted after step ${run.steps}`);
        }
        run.epochLosses.push(run.epochLossSum / run.epochBatches);
        emit({ type: 'epoch-end', strategy, stage: stage.name, epoch: run.epochLosses.length, step: run.steps, loss: run.epochLosses[run.epochLosses.length - 1] });
        if (validator) {
          // After the epoch's snapshot: a run resumed from it validates this epoch again, with the same weights.
          const epoch = { epoch: run.epochLosses.length, stage: stage.name, ...scored(await validator.run(run.parameters, run.buffers), config, data.validation!) };
          run.validation.push(epoch);
          config.onValidation?.(epoch);
          const { epoch: _e, stage: _s, loss: validationLoss, ...metrics } = epoch;
          emit({ type: 'validation', strategy, stage: stage.name, epoch: epoch.epoch, step: run.steps, loss: validationLoss, metrics: metrics as Metrics });
          if (config.selection) {
            if (config.selection.keep === 'best' && bestEpoch(run.validation, config.selection.monitor)?.epoch === epoch.epoch) {
              run.best = { epoch: epoch.epoch, parameters: cloneArrays(run.parameters), buffers: cloneArrays(run.buffers) };
            }
            if (stopsEarly(run.validation, config.selection)) {
              stoppedEpoch = epoch.epoch;
              break stages;
            }
          }
        }
      }
      emit({ type: 'stage-end', strategy, stage: stage.name, index: run.stage, step: run.steps });
    } finally {
      await validator?.release();
      await runner.release();
    }
  }
  if (!artifacts) throw new UserError('the plan has no stages');
  // The best epoch's weights, where kept, are the run's result: tested and exported.
  const kept = run.best ?? { epoch: run.validation.length, parameters: run.parameters, buffers: run.buffers };
  if (kept.epoch !== run.validation.length) artifacts = bestArtifacts(model, kept, artifacts, plan.stages[Math.min(run.stage, plan.stages.length - 1)], config);
  const tested = await evaluate(artifacts, kept.parameters, data.test, config, kept.buffers);
  const { loss: testLoss, ...testMetrics } = scored(tested, config, data.test);
  const best = config.selection && bestEpoch(run.validation, config.selection.monitor);
  const seconds = (performance.now() - started) / 1000;
  emit({ type: 'run-end', strategy, steps: run.steps, skippedBatches: run.skippedBatches, accuracy: tested.accuracy, testLoss, testMetrics: testMetrics as Metrics, seconds });
  return {
    strategy: plan.strategy, accuracy: tested.accuracy, testLoss, testMetrics, validation: run.validation, epochLosses: run.epochLosses, steps: run.steps, skippedBatches: run.skippedBatches,
    seconds,
    parameters: kept.parameters,
    buffers: kept.buffers,
    model: inEvalMode(inferenceModel(model, new Map([...kept.parameters, ...kept.buffers]))),
    ...(config.selection ? { selection: { ...config.selection, bestEpoch: best?.epoch, bestValue: best?.value, stoppedEpoch } } : {}),
  };
}

/**
 * The last stage's artifacts built again from the best epoch's weights: the stage's artifacts bake its frozen
 * parameters in as they were when it began, which an earlier epoch's weights need not match.
 */
function bestArtifacts(model: ModelProto, best: BestWeights, last: Artifacts, stage: Plan['stages'][number], config: TrainConfig): Artifacts {
  const current = inferenceModel(model, new Map([...best.parameters, ...best.buffers]));
  return buildArtifacts(current, last.trainable.map((p) => p.name), config.loss, { batchNorm: stage.batchNorm ?? config.batchNorm });
}

/** An evaluation's loss and the metrics of the task the loss implies. */
function scored(e: Evaluation, config: Pick<TrainConfig, 'loss'>, data: Dataset): { loss: number } & Metrics {
  return { loss: e.loss, ...computeMetrics(taskFor(config.loss.name), e.logits, data.labels, { classes: e.classes, classNames: data.classNames }) };
}

/** Whether this step's snapshot is due: by step count, by time (and at each stage's end), or at each epoch's end. */
function snapshotDue(every: TrainConfig['snapshotEvery'], steps: number, epochEnd: boolean, stageEnd: boolean, last: number): boolean {
  if (every === undefined) return epochEnd;
  if (typeof every === 'number') return steps % every === 0;
  return stageEnd || performance.now() - last >= every.seconds * 1000;
}

type RunState = Omit<RunSnapshot, 'optimizerState' | 'accumulation'>;

function freshState(model: ModelProto, summary: ModelSummary, plan: Plan, data: Dataset, config: TrainConfig): RunState {
  const seed = config.seed;
  return {
    strategy: plan.strategy, stage: 0, epoch: 0, batch: 0, steps: 0, epochLosses: [], validation: [], epochLossSum: 0, epochBatches: 0, skippedBatches: 0,
    rngState: initialOrderState(config.rng ?? 'mulberry32', seed, config.rngStart), dropoutRngState: (seed ^ 0x9e3779b9) >>> 0, order: Int32Array.from({ length: data.count }, (_, i) => i),
    parameters: initialParameters(model, summary), buffers: runningStatistics(model.graph),
  };
}

/** Refuses a snapshot that does not fit the run, before anything trains (the CLI checks every resume up front). */
export function checkResume(model: ModelProto, plan: Plan, data: Pick<TrainData, 'train' | 'validation'>, config: TrainConfig, snapshot: RunSnapshot): void {
  resumeState(snapshot, model, describeModel(model), plan, data, config);
}

/** A snapshot continues this run only if every field fits it (check-state.ts): a checkpoint's checksum can be forged. */
function resumeState(s: RunSnapshot, model: ModelProto, summary: ModelSummary, plan: Plan, data: Pick<TrainData, 'train' | 'validation'>, config: TrainConfig): RunState {
  checkSnapshot(s, {
    plan, examples: data.train.count, config, validating: data.validation !== undefined,
    parameters: new Map(summary.parameters.map((p) => [p.name, elementCount(p.dims)])),
    buffers: new Map([...runningStatistics(model.graph)].map(([name, values]) => [name, values.length])),
  });
  checkOrderState(config.rng ?? 'mulberry32', s.rngState, config.rngStart ?? 0, plan.stages, s.source && `${s.source}: checkpoint`);
  const { optimizerState: _state, accumulation: _sums, source: _source, ...rest } = s;
  const best = s.best && { epoch: s.best.epoch, parameters: cloneArrays(s.best.parameters), buffers: cloneArrays(s.best.buffers) };
  return { ...rest, best, order: s.order.slice(), epochLosses: [...s.epochLosses], validation: structuredClone(s.validation), parameters: cloneArrays(s.parameters), buffers: cloneArrays(s.buffers) };
}

const slice = (v: Float32Array): Float32Array => v.slice();
const cloneArrays = (m: ReadonlyMap<string, Float32Array>, copy = slice) => new Map([...m].map(([k, v]) => [k, copy(v)]));
const cloneState = (m: ReadonlyMap<string, ParamState>, copy = slice) => new Map([...m].map(([k, v]) => [k, {
  step: v.step, expAvg: v.expAvg && copy(v.expAvg), expAvgSq: v.expAvgSq && copy(v.expAvgSq), momentumBuffer: v.momentumBuffer && copy(v.momentumBuffer),
}]));

/** Builds every stage's artifacts once, so a plan that cannot train (no gradient rule, a bad glob) fails first. */
export function checkPlan(model: ModelProto, plan: Plan, config: Pick<TrainConfig, 'optimizer' | 'weightDecay' | 'loss' | 'batchNorm'>): void {
  const names = describeModel(model).parameters.map((p) => p.name);
  for (const stage of plan.stages) {
    checkStageRecipe(stage);
    const trainable = new Optimizer(stage.optimizer ?? config.optimizer, stage.groups, names, { weightDecay: config.weightDecay }).parameterNames;
    buildArtifacts(model, names.filter((n) => trainable.includes(n)), config.loss, { batchNorm: stage.batchNorm ?? config.batchNorm });
  }
}

export function initialParameters(model: ModelProto, summary = describeModel(model)): Map<string, Float32Array> {
  return new Map(summary.parameters.map((p) => [p.name, tensorValues(model.graph.initializer.find((t) => t.name === p.name)!) as Float32Array]));
}

/** Every input's values must fit the model's input, and labels the head: {0,1} for one logit, [0, classes) for several. */
function checkDataset(data: Dataset, summary: ModelSummary, loss: Loss): void {
  if (data.count === 0) throw new UserError(`${data.source}: no rows`);
  checkDataInputs(data, summary.inputs);
  const classes = summary.logitsShape?.[1];
  for (let i = 0; i < data.count; i++) {
    const y = data.labels[i];
    if (loss.name === 'bce' && y !== 0 && y !== 1) throw new UserError(`${data.source}: ${exampleLocation(data, i)}: label ${y} is not 0 or 1 (the model has one logit)`);
    if (loss.name === 'ce' && (!Number.isInteger(y) || y < 0 || (typeof classes === 'number' && y >= classes))) {
      throw new UserError(`${data.source}: ${exampleLocation(data, i)}: label ${y} is not a class index in [0, ${classes})`);
    }
  }
}
