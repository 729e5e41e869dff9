// One stage's training session: the artifacts for the parameters its groups select, a fresh optimizer, and
// one step = gather a batch, run the train graph, update the parameters in place.
import type { ModelProto } from '../onnx/proto.js';
import { buildArtifacts, GRADIENTS, inferenceModel, LABELS, LOSS, type Artifacts } from '../artifacts/build.js';
import { createStepSession, ort, type StepSession } from '../runtime/session.js';
import { Optimizer, type ParamState, type UpdateKernel } from '../optim/optimizer.js';
import { AdamKernel, allFinite } from '../optim/adam-kernel.js';
import { ADAM_THREADS_MIN_PARAMETERS, ThreadedAdamKernel } from '../optim/adam-kernel-threads.js';
import type { Dataset } from '../data/dataset.js';
import { BatchBuffers } from './batches.js';
import { stageExamples } from './prefix-features.js';
import type { Stage } from './strategies.js';
import type { TrainConfig } from './trainer.js';
import type { Rng } from './rng.js';
import { drawMask } from '../artifacts/dropout-masks.js';
import { runningStatistics, updateRunningStatistics } from '../artifacts/batch-norm-mode.js';
import { clearRows, scatterRows, withRowGradients, type RowGradient } from './row-gradients.js';

/**
 * One stage's training session: artifacts built for the parameters its groups select (the rest baked in at
 * their current values), a fresh optimizer, and feeds that wrap the parameter arrays the optimizer updates.
 */
export class StageRunner {
  private readonly grads = new Map<string, Float32Array>();
  /** Every gradient in one buffer, where the train graph outputs them flat (a small model). */
  private readonly flatGradients: Float32Array | undefined;
  /** The trainable parameters whose gradient is fetched whole (not as rows). */
  private readonly dense: Artifacts['trainable'];

  private constructor(
    readonly artifacts: Artifacts,
    private readonly session: StepSession,
    private readonly optimizer: Optimizer,
    private readonly parameters: Map<string, Float32Array>,
    private readonly feeds: Record<string, ort.Tensor>,
    private readonly batches: BatchBuffers,
    private readonly dropoutRng: Rng,
    private readonly buffers: Map<string, Float32Array>,
    /** Gradients fetched as scattered rows (embedding tables): see row-gradients.ts. */
    private readonly rows: RowGradient[] = [],
  ) {
    this.dense = fetchedWhole(artifacts.trainable, rows);
    if (artifacts.flatGradients) {
      this.flatGradients = new Float32Array(artifacts.trainable.reduce((n, p) => n + p.size, 0));
      for (const p of artifacts.trainable) this.grads.set(p.name, this.flatGradients.subarray(p.offset, p.offset + p.size));
    }
  }

  static async create(model: ModelProto, parameters: Map<string, Float32Array>, stage: Stage, data: Dataset, config: TrainConfig, dropoutRng: Rng,
    buffers = runningStatistics(model.graph)): Promise<StageRunner> {
    const optimizer = new Optimizer(config.optimizer, stage.groups, [...parameters.keys()], { weightDecay: config.weightDecay });
    const trainable = [...parameters.keys()].filter((n) => optimizer.parameterNames.includes(n));
    const current = inferenceModel(model, new Map([...parameters, ...buffers]));
    const build = (notPerExample: ReadonlySet<string>, splitPrefix?: boolean) => buildArtifacts(current, trainable, config.loss, { batchNorm: config.batchNorm, notPerExample, splitPrefix });
    const { artifacts, examples } = await stageExamples(build, data, config, config.signal);
    const { model: train, rows } = artifacts.flatGradients ? { model: artifacts.train, rows: [] } : withRowGradients(artifacts.train, artifacts.trainable);
    const gradients = artifacts.flatGradients ? [GRADIENTS] : [...fetchedWhole(artifacts.trainable, rows).map((p) => p.gradient), ...rows.flatMap((r) => [r.indices, r.updates])];
    const statistics = artifacts.batchStatistics.flatMap((s) => [s.mean, s.variance]);
    const session = await createStepSession(train, config, [LOSS, ...gradients, ...statistics]);
    const kernel = updateKernel(optimizer, artifacts, config);
    const batches = new BatchBuffers(examples, artifacts.inputs, artifacts.labelShape, artifacts.labelType);
    optimizer.kernel = kernel;
    return new StageRunner(artifacts, session, optimizer, parameters, parameterFeeds(artifacts, parameters), batches, dropoutRng, buffers, rows);
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
   * leaves the parameters untouched and reports what onNonFinite says to do with the batch. `epoch` (the
   * plan's epochs before this one) seeds a lazy input's augmentation.
   */
  async step(order: Int32Array, start: number, end: number, onNonFinite: 'stop' | 'skip-batch' = 'stop', epoch?: number): Promise<{ loss: number; skipped: false | 'stop' | 'skip-batch' }> {
    const batch = await this.batches.gather(order, start, end, epoch);
    Object.assign(this.feeds, batch.feeds);
    this.feeds[LABELS] = batch.labels;
    for (const mask of this.artifacts.masks) {
      const values = drawMask(mask, batch.size, () => this.dropoutRng.next());
      this.feeds[mask.input] = new ort.Tensor('float32', values, [batch.size, ...(mask.shape.slice(1) as number[])]);
    }
    const out = await this.session.run(this.feeds);
    const loss = out[LOSS].data[0] as number;
    let finite = Number.isFinite(loss);
    if (this.flatGradients) {
      // Copied into one buffer whose per-parameter views (this.grads) were made once.
      this.flatGradients.set(out[GRADIENTS].data as Float32Array);
      finite &&= allFinite(this.flatGradients);
    } else {
      for (const p of this.dense) {
        const g = out[p.gradient].data as Float32Array;
        this.grads.set(p.name, g);
        finite &&= allFinite(g);
      }
      for (const row of this.rows) {
        finite = scatterRows(row, out[row.indices].data as BigInt64Array, out[row.indices].dims, out[row.updates].data as Float32Array) && finite;
        this.grads.set(row.name, row.gradient);
      }
    }
    const clear = () => this.rows.forEach((row) => clearRows(row, out[row.indices].data as BigInt64Array, out[row.indices].dims));
    if (!finite) {
      clear();
      return { loss, skipped: onNonFinite };
    }
    updateRunningStatistics(this.artifacts.batchStatistics, (name) => out[name].data as Float32Array, this.buffers, batch.size);
    this.optimizer.step(this.parameters, this.grads);
    clear();
    return { loss, skipped: false };
  }

  async release(): Promise<void> {
    await this.optimizer.kernel?.release();
    await this.session.release();
  }
}

/** The trainable parameters whose gradient the session fetches whole rather than as rows. */
function fetchedWhole(trainable: Artifacts['trainable'], rows: RowGradient[]): Artifacts['trainable'] {
  return trainable.filter((p) => !rows.some((r) => r.name === p.name));
}

/**
 * Adam updates in the WebAssembly kernel (same bits, four lanes at a time), on --threads threads for a large
 * model; SGD in the JavaScript loop.
 */
function updateKernel(optimizer: Optimizer, artifacts: Artifacts, config: TrainConfig): UpdateKernel | undefined {
  if (optimizer.kind === 'sgd' || config.adamInJavaScript) return undefined;
  const sizes = new Map(artifacts.trainable.map((p) => [p.name, p.size]));
  const total = artifacts.trainable.reduce((n, p) => n + p.size, 0);
  const threaded = config.threads > 1 && total >= ADAM_THREADS_MIN_PARAMETERS ? ThreadedAdamKernel.create(sizes, config.threads) : undefined;
  return threaded ?? AdamKernel.create(sizes);
}

export function parameterFeeds(artifacts: Artifacts, parameters: Map<string, Float32Array>): Record<string, ort.Tensor> {
  // The tensors wrap the parameter arrays themselves: the optimizer updates them in place between runs.
  return Object.fromEntries(artifacts.trainable.map((p) => [p.name, new ort.Tensor('float32', parameters.get(p.name)!, p.dims)]));
}

/** The running statistics the eval graph takes as inputs (those of BatchNorms on batch statistics). */
export function bufferFeeds(artifacts: Artifacts, buffers: Map<string, Float32Array>): Record<string, ort.Tensor> {
  const names = artifacts.batchStatistics.flatMap((s) => [s.runningMean, s.runningVar]);
  return Object.fromEntries(names.map((name) => [name, new ort.Tensor('float32', buffers.get(name)!, [buffers.get(name)!.length])]));
}
