// Runs a plan: for each stage, builds the training artifacts for the parameters it trains (the others baked
// in as constants), then epochs over batches with a fresh optimizer; finally evaluates on the test set.
import type { ModelProto } from '../onnx/proto.js';
import { tensorValues } from '../onnx/tensor.js';
import { buildArtifacts, inferenceModel, LABELS, LOSS, type Artifacts } from '../artifacts/build.js';
import { describeModel, type ModelSummary } from '../model/describe.js';
import { createSession, createStepSession, ort, type Device, type StepSession } from '../runtime/session.js';
import { Optimizer, type OptimizerKind, type ParamState } from '../optim/optimizer.js';
import type { Loss } from '../losses/index.js';
import type { Dataset } from '../data/dataset.js';
import { exampleLocation, featureSize } from '../data/dataset.js';
import { UserError } from '../errors.js';
import { Rng } from './rng.js';
import { BatchBuffers, batchStarts } from './batches.js';
import { prefixFeatures } from './prefix-features.js';
import type { Plan, Stage, StrategyKey } from './strategies.js';

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
  /** What a NaN or infinite loss or gradient does: stop the run (default), or skip that batch's update. */
  onNonFinite?: 'stop' | 'skip-batch';
  /** Offer a snapshot every N steps (default: at the end of each epoch) through onSnapshot. */
  snapshotEvery?: number;
  onSnapshot?: (snapshot: RunSnapshot) => void;
  /** Continue a run from a snapshot of it instead of starting afresh. */
  resume?: RunSnapshot;
  /** Checked after every step: when aborted, the run offers a snapshot and throws InterruptedError. */
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
  /** Called after every optimizer step with the step count so far and the (live) parameters. */
  onStep?: (step: number, parameters: ReadonlyMap<string, Float32Array>) => void;
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

export interface TrainResult {
  strategy: StrategyKey;
  accuracy: number;
  testLoss: number;
  /** Mean batch loss of each epoch, across all stages. */
  epochLosses: number[];
  steps: number;
  /** Batches whose update was skipped for a non-finite loss or gradient (onNonFinite: 'skip-batch'). */
  skippedBatches: number;
  seconds: number;
  parameters: Map<string, Float32Array>;
  /** The trained model, inference-ready: the source model with the trained weights. */
  model: ModelProto;
}

/**
 * Everything needed to continue a run exactly: where it stands in the plan (the next batch to run), the
 * epoch's data order and the shuffle RNG's state, the parameters and the optimizer state.
 */
export interface RunSnapshot {
  strategy: StrategyKey;
  stage: number;
  epoch: number;
  /** Batches of this epoch already run. */
  batch: number;
  steps: number;
  epochLosses: number[];
  /** Sum and count of the batch losses so far in this epoch. */
  epochLossSum: number;
  epochBatches: number;
  skippedBatches: number;
  rngState: number;
  order: Int32Array;
  parameters: Map<string, Float32Array>;
  optimizerState: Map<string, ParamState>;
}

/** A NaN or infinity in the loss or a gradient: the run stops rather than train on it. */
export class NonFiniteError extends UserError {
  override name = 'NonFiniteError';
}

/** The run was asked to stop (config.signal) and has offered its last snapshot. */
export class InterruptedError extends Error {
  override name = 'InterruptedError';
}

export async function train(model: ModelProto, plan: Plan, data: { train: Dataset; test: Dataset }, config: TrainConfig): Promise<TrainResult> {
  const started = performance.now();
  const summary = describeModel(model);
  checkDataset(data.train, summary, config.loss);
  checkDataset(data.test, summary, config.loss);
  const run = config.resume ? resumeState(config.resume, plan, data.train) : freshState(model, summary, plan, data.train, config.seed);
  const rng = new Rng(run.rngState);
  const starts = batchStarts(data.train.count, config.batchSize);
  const snapshot = (): RunSnapshot => ({ ...run, rngState: rng.state, order: run.order.slice(), epochLosses: [...run.epochLosses],
    parameters: cloneArrays(run.parameters), optimizerState: cloneState(runner!.optimizerState) });
  let artifacts: Artifacts | undefined;
  let runner: StageRunner | undefined;
  let resumedOptimizerState = config.resume?.optimizerState; // belongs to the stage the run resumes in
  let lastYield = performance.now();
  for (; run.stage < plan.stages.length; run.stage++, run.epoch = 0) {
    const stage = plan.stages[run.stage];
    runner = await StageRunner.create(model, run.parameters, stage, data.train, config);
    if (resumedOptimizerState) runner.optimizerState = cloneState(resumedOptimizerState);
    resumedOptimizerState = undefined;
    artifacts = runner.artifacts;
    for (; run.epoch < stage.epochs; run.epoch++, run.batch = 0) {
      if (run.batch === 0) {
        if (config.shuffle) rng.permutation(run.order.length, run.order);
        run.epochLossSum = 0;
        run.epochBatches = 0;
      }
      for (; run.batch < starts.length; ) {
        const { loss, skipped } = await runner.step(run.order, starts[run.batch], Math.min(starts[run.batch] + config.batchSize, run.order.length), config.onNonFinite ?? 'stop');
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
        // Steps run synchronously; let timers and signal handlers in every few milliseconds.
        if (performance.now() - lastYield > 20) {
          await new Promise(setImmediate);
          lastYield = performance.now();
        }
        config.onStep?.(run.steps, run.parameters);
        config.onProgress?.({ stage: stage.name, epoch: run.epoch + 1, epochs: stage.epochs, step: run.batch, steps: starts.length, loss: run.epochLossSum / Math.max(1, run.epochBatches) });
        const due = config.snapshotEvery ? run.steps % config.snapshotEvery === 0 : run.batch === starts.length;
        if (config.signal?.aborted) {
          config.onSnapshot?.(snapshot());
          throw new InterruptedError(`interrupted after step ${run.steps}`);
        }
        if (due) config.onSnapshot?.(snapshot());
      }
      run.epochLosses.push(run.epochLossSum / run.epochBatches);
    }
    await runner.release();
  }
  if (!artifacts) throw new UserError('the plan has no stages');
  const { accuracy, loss: testLoss } = await evaluate(artifacts, run.parameters, data.test, config);
  return {
    strategy: plan.strategy, accuracy, testLoss, epochLosses: run.epochLosses, steps: run.steps, skippedBatches: run.skippedBatches,
    seconds: (performance.now() - started) / 1000,
    parameters: run.parameters,
    model: inferenceModel(model, run.parameters),
  };
}

type RunState = Omit<RunSnapshot, 'optimizerState'>;

function freshState(model: ModelProto, summary: ModelSummary, plan: Plan, data: Dataset, seed: number): RunState {
  return {
    strategy: plan.strategy, stage: 0, epoch: 0, batch: 0, steps: 0, epochLosses: [], epochLossSum: 0, epochBatches: 0, skippedBatches: 0,
    rngState: seed >>> 0, order: Int32Array.from({ length: data.count }, (_, i) => i),
    parameters: initialParameters(model, summary),
  };
}

function resumeState(s: RunSnapshot, plan: Plan, data: Dataset): RunState {
  if (s.strategy !== plan.strategy) throw new UserError(`the snapshot is of a ${s.strategy} run, not ${plan.strategy}`);
  if (s.order.length !== data.count) throw new UserError(`the snapshot's run trained on ${s.order.length} examples, this data has ${data.count}`);
  const { optimizerState: _state, ...rest } = s;
  return { ...rest, order: s.order.slice(), epochLosses: [...s.epochLosses], parameters: cloneArrays(s.parameters) };
}

const cloneArrays = (m: ReadonlyMap<string, Float32Array>) => new Map([...m].map(([k, v]) => [k, v.slice()]));
const cloneState = (m: ReadonlyMap<string, ParamState>) => new Map([...m].map(([k, v]) => [k, {
  step: v.step, expAvg: v.expAvg?.slice(), expAvgSq: v.expAvgSq?.slice(), momentumBuffer: v.momentumBuffer?.slice(),
}]));

/** Builds every stage's artifacts once, so a plan that cannot train (no gradient rule, a bad glob) fails first. */
export function checkPlan(model: ModelProto, plan: Plan, config: Pick<TrainConfig, 'optimizer' | 'weightDecay' | 'loss'>): void {
  const names = describeModel(model).parameters.map((p) => p.name);
  for (const stage of plan.stages) {
    const trainable = new Optimizer(config.optimizer, stage.groups, names, { weightDecay: config.weightDecay }).parameterNames;
    buildArtifacts(model, names.filter((n) => trainable.includes(n)), config.loss);
  }
}

export function initialParameters(model: ModelProto, summary = describeModel(model)): Map<string, Float32Array> {
  return new Map(summary.parameters.map((p) => [p.name, tensorValues(model.graph.initializer.find((t) => t.name === p.name)!) as Float32Array]));
}

/**
 * One stage's training session: artifacts built for the parameters its groups select (the rest baked in at
 * their current values), a fresh optimizer, and feeds that wrap the parameter arrays the optimizer updates.
 */
export class StageRunner {
  private readonly grads = new Map<string, Float32Array>();

  private constructor(
    readonly artifacts: Artifacts,
    private readonly session: StepSession,
    private readonly optimizer: Optimizer,
    private readonly parameters: Map<string, Float32Array>,
    private readonly feeds: Record<string, ort.Tensor>,
    private readonly batches: BatchBuffers,
  ) {}

  static async create(model: ModelProto, parameters: Map<string, Float32Array>, stage: Stage, data: Dataset, config: TrainConfig): Promise<StageRunner> {
    const optimizer = new Optimizer(config.optimizer, stage.groups, [...parameters.keys()], { weightDecay: config.weightDecay });
    const trainable = [...parameters.keys()].filter((n) => optimizer.parameterNames.includes(n));
    const artifacts = buildArtifacts(inferenceModel(model, parameters), trainable, config.loss);
    const session = await createStepSession(artifacts.train, config);
    const examples = artifacts.prefix ? await prefixFeatures(artifacts.prefix, data, config) : data;
    const batches = new BatchBuffers(examples, artifacts.labelShape, artifacts.labelType);
    return new StageRunner(artifacts, session, optimizer, parameters, parameterFeeds(artifacts, parameters), batches);
  }

  get optimizerState(): Map<string, ParamState> {
    return this.optimizer.state;
  }

  set optimizerState(state: Map<string, ParamState>) {
    this.optimizer.state.clear();
    for (const [name, s] of state) this.optimizer.state.set(name, s);
  }

  /**
   * Forward, backward and one optimizer update on rows order[start..end). A non-finite loss or gradient
   * leaves the parameters untouched and reports what onNonFinite says to do with the batch.
   */
  async step(order: Int32Array, start: number, end: number, onNonFinite: 'stop' | 'skip-batch' = 'stop'): Promise<{ loss: number; skipped: false | 'stop' | 'skip-batch' }> {
    const batch = this.batches.gather(order, start, end);
    this.feeds[this.artifacts.input] = batch.features;
    this.feeds[LABELS] = batch.labels;
    const out = await this.session.run(this.feeds);
    const loss = out[LOSS].data[0] as number;
    let finite = Number.isFinite(loss);
    for (const p of this.artifacts.trainable) {
      const g = out[p.gradient].data as Float32Array;
      this.grads.set(p.name, g);
      if (finite) finite = allFinite(g);
    }
    if (!finite) return { loss, skipped: onNonFinite };
    this.optimizer.step(this.parameters, this.grads);
    return { loss, skipped: false };
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

function parameterFeeds(artifacts: Artifacts, parameters: Map<string, Float32Array>): Record<string, ort.Tensor> {
  // The tensors wrap the parameter arrays themselves: the optimizer updates them in place between runs.
  return Object.fromEntries(artifacts.trainable.map((p) => [p.name, new ort.Tensor('float32', parameters.get(p.name)!, p.dims)]));
}

function allFinite(values: Float32Array): boolean {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) return false;
  return true;
}

/** Accuracy (binary: sigmoid(logit) > 0.5; multi-class: argmax) and mean loss on a dataset, with the eval graph. */
export async function evaluate(artifacts: Artifacts, parameters: Map<string, Float32Array>, data: Dataset, config: TrainConfig) {
  const session = await createSession(artifacts.eval, config);
  const feeds = parameterFeeds(artifacts, parameters);
  const examples = artifacts.prefix ? await prefixFeatures(artifacts.prefix, data, config) : data;
  const batches = new BatchBuffers(examples, artifacts.labelShape, artifacts.labelType);
  const order = new Int32Array(data.count).map((_, i) => i);
  let correct = 0, lossSum = 0;
  for (const start of batchStarts(data.count, config.testBatchSize)) {
    const end = Math.min(start + config.testBatchSize, data.count);
    const batch = batches.gather(order, start, end);
    feeds[artifacts.input] = batch.features;
    feeds[LABELS] = batch.labels;
    const out = await session.run(feeds);
    lossSum += (out[LOSS].data[0] as number) * batch.size;
    const logits = out[artifacts.summary.logits];
    correct += countCorrect(logits.data as Float32Array, logits.dims[1] ?? 1, data.labels.subarray(start, end));
  }
  await session.release();
  return { accuracy: correct / data.count, loss: lossSum / data.count };
}

export function countCorrect(logits: Float32Array, classes: number, labels: Float64Array): number {
  let correct = 0;
  for (let i = 0; i < labels.length; i++) {
    let predicted: number;
    if (classes === 1) {
      predicted = Math.fround(1 / (1 + Math.exp(-logits[i]))) > 0.5 ? 1 : 0;
    } else {
      predicted = 0;
      for (let c = 1; c < classes; c++) if (logits[i * classes + c] > logits[i * classes + predicted]) predicted = c;
    }
    if (predicted === labels[i]) correct++;
  }
  return correct;
}

/** Rows must fit the model's input, and labels the head: {0,1} for one logit, [0, classes) for several. */
function checkDataset(data: Dataset, summary: ModelSummary, loss: Loss): void {
  const inputDims = summary.inputShape?.slice(1);
  if (inputDims && inputDims.every((d) => typeof d === 'number')) {
    const expected = (inputDims as number[]).reduce((a, b) => a * b, 1);
    if (featureSize(data) !== expected) {
      throw new UserError(`${data.source}: ${featureSize(data)} feature columns, but the model's input '${summary.input}' takes ${expected} values per example (shape [${inputDims}])`);
    }
  }
  if (data.count === 0) throw new UserError(`${data.source}: no rows`);
  const classes = summary.logitsShape?.[1];
  for (let i = 0; i < data.count; i++) {
    const y = data.labels[i];
    if (loss.name === 'bce' && y !== 0 && y !== 1) throw new UserError(`${data.source}: ${exampleLocation(data, i)}: label ${y} is not 0 or 1 (the model has one logit)`);
    if (loss.name === 'ce' && (!Number.isInteger(y) || y < 0 || (typeof classes === 'number' && y >= classes))) {
      throw new UserError(`${data.source}: ${exampleLocation(data, i)}: label ${y} is not a class index in [0, ${classes})`);
    }
  }
}
