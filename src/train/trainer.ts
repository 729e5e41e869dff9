// Runs a plan: for each stage, builds the training artifacts for the parameters it trains (the others baked
// in as constants), then epochs over batches with a fresh optimizer; finally evaluates on the test set.
import type { ModelProto } from '../onnx/proto.js';
import { tensorValues } from '../onnx/tensor.js';
import { buildArtifacts, inferenceModel, LABELS, LOSS, type Artifacts } from '../artifacts/build.js';
import { describeModel, type ModelSummary } from '../model/describe.js';
import { createSession, createStepSession, ort, type Device, type StepSession } from '../runtime/session.js';
import { Optimizer, type OptimizerKind } from '../optim/optimizer.js';
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
  seconds: number;
  parameters: Map<string, Float32Array>;
  /** The trained model, inference-ready: the source model with the trained weights. */
  model: ModelProto;
}

export async function train(model: ModelProto, plan: Plan, data: { train: Dataset; test: Dataset }, config: TrainConfig): Promise<TrainResult> {
  const started = performance.now();
  const summary = describeModel(model);
  checkDataset(data.train, summary, config.loss);
  checkDataset(data.test, summary, config.loss);
  const parameters = initialParameters(model, summary);
  const rng = new Rng(config.seed);
  const epochLosses: number[] = [];
  const order = new Int32Array(data.train.count).map((_, i) => i);
  const starts = batchStarts(data.train.count, config.batchSize);
  let steps = 0;
  let artifacts: Artifacts | undefined;
  for (const stage of plan.stages) {
    const runner = await StageRunner.create(model, parameters, stage, data.train, config);
    artifacts = runner.artifacts;
    for (let epoch = 0; epoch < stage.epochs; epoch++) {
      if (config.shuffle) rng.permutation(order.length, order);
      let lossSum = 0;
      for (let b = 0; b < starts.length; b++) {
        lossSum += await runner.step(order, starts[b], Math.min(starts[b] + config.batchSize, order.length));
        steps++;
        config.onStep?.(steps, parameters);
        config.onProgress?.({ stage: stage.name, epoch: epoch + 1, epochs: stage.epochs, step: b + 1, steps: starts.length, loss: lossSum / (b + 1) });
      }
      epochLosses.push(lossSum / starts.length);
    }
    await runner.release();
  }
  if (!artifacts) throw new UserError('the plan has no stages');
  const { accuracy, loss: testLoss } = await evaluate(artifacts, parameters, data.test, config);
  return {
    strategy: plan.strategy, accuracy, testLoss, epochLosses, steps,
    seconds: (performance.now() - started) / 1000,
    parameters,
    model: inferenceModel(model, parameters),
  };
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

  /** Forward, backward and one optimizer update on rows order[start..end); returns the batch loss. */
  async step(order: Int32Array, start: number, end: number): Promise<number> {
    const batch = this.batches.gather(order, start, end);
    this.feeds[this.artifacts.input] = batch.features;
    this.feeds[LABELS] = batch.labels;
    const out = await this.session.run(this.feeds);
    for (const p of this.artifacts.trainable) this.grads.set(p.name, out[p.gradient].data as Float32Array);
    this.optimizer.step(this.parameters, this.grads);
    return out[LOSS].data[0] as number;
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

function parameterFeeds(artifacts: Artifacts, parameters: Map<string, Float32Array>): Record<string, ort.Tensor> {
  // The tensors wrap the parameter arrays themselves: the optimizer updates them in place between runs.
  return Object.fromEntries(artifacts.trainable.map((p) => [p.name, new ort.Tensor('float32', parameters.get(p.name)!, p.dims)]));
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
