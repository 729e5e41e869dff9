// One stage's training session: the artifacts for the parameters its groups select, a fresh optimizer, and
// one step = gather a batch, run the train graph, update the parameters in place.
import type { ModelProto } from '../onnx/proto.js';
import { buildArtifacts, GRADIENTS, inferenceModel, LABELS, LOSS, type Artifacts } from '../artifacts/build.js';
import { createStepSession, ort, type StepSession } from '../runtime/session.js';
import { Optimizer, type ParamState, type UpdateKernel } from '../optim/optimizer.js';
import { AdamKernel, allFinite } from '../optim/adam-kernel.js';
import type { ParamGroup } from '../optim/groups.js';
import { ADAM_THREADS_MIN_PARAMETERS, ThreadedAdamKernel } from '../runtime/adam-threads.js';
import type { Dataset } from '../data/dataset.js';
import { BatchBuffers } from './batches.js';
import { stageExamples } from './prefix-features.js';
import type { Stage } from './strategies.js';
import type { TrainConfig } from './trainer.js';
import type { Rng } from './rng.js';
import { drawMask } from '../artifacts/dropout-masks.js';
import { runningStatistics, updateRunningStatistics } from '../artifacts/batch-norm-mode.js';
import { clearRows, scatterRows, withRowGradients, type RowGradient } from './row-gradients.js';
import { StageSchedule, checkSchedule } from '../optim/schedules.js';
import { clipGradNorm } from '../optim/clip.js';
import { accumulationOf, stageUpdates } from './updates.js';

/** Gradients summed over the batches of an unfinished accumulation group (each scaled by 1/accumulate). */
export interface Accumulation {
  /** Batches whose gradients are in the sums (skipped ones are not). */
  batches: number;
  gradients: Map<string, Float32Array>;
}

/** Which optimizer update of the stage a batch contributes to, and whether the update follows it. */
export interface UpdatePosition {
  index: number;
  last: boolean;
}

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
  /** The gradient sums of the group being accumulated (stage.accumulate > 1). */
  private readonly sums = new Map<string, Float32Array>();
  private pending = 0;

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
    private readonly rows: RowGradient[],
    private readonly recipe: { schedule?: StageSchedule; clipNorm?: number; accumulate: number },
    /** The kernel whose memory the session writes the dense gradients into, where it does. */
    private readonly places?: AdamKernel,
  ) {
    this.dense = fetchedWhole(artifacts.trainable, rows);
    const views = places?.gradients;
    if (views) for (const p of this.dense) this.grads.set(p.name, views.get(p.name)!);
    if (artifacts.flatGradients) {
      this.flatGradients = new Float32Array(artifacts.trainable.reduce((n, p) => n + p.size, 0));
      for (const p of artifacts.trainable) this.grads.set(p.name, this.flatGradients.subarray(p.offset, p.offset + p.size));
    }
  }

  static async create(model: ModelProto, parameters: Map<string, Float32Array>, stage: Stage, data: Dataset, config: TrainConfig, dropoutRng: Rng,
    buffers = runningStatistics(model.graph)): Promise<StageRunner> {
    // A stage's own optimizer and BatchNorm mode, where it names them, override the run's.
    const optimizer = new Optimizer(stage.optimizer ?? config.optimizer, stage.groups, [...parameters.keys()], { weightDecay: config.weightDecay });
    const trainable = [...parameters.keys()].filter((n) => optimizer.parameterNames.includes(n));
    const current = inferenceModel(model, new Map([...parameters, ...buffers]));
    const build = (notPerExample: ReadonlySet<string>, splitPrefix?: boolean) => buildArtifacts(current, trainable, config.loss, { batchNorm: stage.batchNorm ?? config.batchNorm, notPerExample, splitPrefix });
    const { artifacts, examples } = await stageExamples(build, data, config, config.signal);
    const { model: train, rows } = artifacts.flatGradients ? { model: artifacts.train, rows: [] } : withRowGradients(artifacts.train, artifacts.trainable);
    const gradients = artifacts.flatGradients ? [GRADIENTS] : [...fetchedWhole(artifacts.trainable, rows).map((p) => p.gradient), ...rows.flatMap((r) => [r.indices, r.updates])];
    const statistics = artifacts.batchStatistics.flatMap((s) => [s.mean, s.variance]);
    const kernel = updateKernel(optimizer, artifacts, config);
    // A large model's gradients are written straight into their places in the Adam kernel's memory: no new
    // arrays each step, and no copy before the update.
    const places = kernel instanceof AdamKernel && !artifacts.flatGradients ? kernel : undefined;
    const into = places && Object.fromEntries(fetchedWhole(artifacts.trainable, rows).map((p) => [p.gradient, new ort.Tensor('float32', places.gradients.get(p.name)!, p.dims)]));
    const session = await createStepSession(train, config, [LOSS, ...gradients, ...statistics], into);
    const batches = new BatchBuffers(examples, artifacts.inputs, artifacts.labelShape, artifacts.labelType);
    optimizer.kernel = kernel;
    const updates = stageUpdates(stage, Math.ceil(data.count / config.batchSize));
    // A constant schedule leaves the groups' rates alone: no schedule at all.
    const schedule = stage.schedule && stage.schedule.kind !== 'constant'
      ? new StageSchedule(checkSchedule(stage.schedule, `stage '${stage.name}' schedule`, updates), optimizer.groups, updates) : undefined;
    return new StageRunner(artifacts, session, optimizer, parameters, parameterFeeds(artifacts, parameters), batches, dropoutRng, buffers, rows,
      { schedule, clipNorm: stage.clipNorm, accumulate: accumulationOf(stage) }, places);
  }

  /** The unfinished accumulation group's gradient sums (a copy), if batches of one have run. */
  get accumulation(): Accumulation | undefined {
    if (this.pending === 0) return undefined;
    return { batches: this.pending, gradients: new Map([...this.sums].map(([name, g]) => [name, g.slice()])) };
  }

  set accumulation(a: Accumulation | undefined) {
    this.pending = a?.batches ?? 0;
    this.sums.clear();
    for (const [name, g] of a?.gradients ?? []) this.sums.set(name, g.slice());
  }

  /** The optimizer's parameter groups: their current rates, read for the run's events and set by the learning-rate finder. */
  get groups(): ParamGroup[] {
    return this.optimizer.groups;
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
  async step(order: Int32Array, start: number, end: number, onNonFinite: 'stop' | 'skip-batch' = 'stop', epoch?: number,
    update: UpdatePosition = { index: 0, last: true }): Promise<{ loss: number; skipped: false | 'stop' | 'skip-batch' }> {
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
      if (this.places) for (const p of this.dense) finite &&= this.places.gradientFinite(p.name);
      else {
        for (const p of this.dense) {
          const g = out[p.gradient].data as Float32Array;
          this.grads.set(p.name, g);
          finite &&= allFinite(g);
        }
      }
      for (const row of this.rows) {
        finite = scatterRows(row, out[row.indices].data as BigInt64Array, out[row.indices].dims, out[row.updates].data as Float32Array) && finite;
        this.grads.set(row.name, row.gradient);
      }
    }
    const clear = () => this.rows.forEach((row) => clearRows(row, out[row.indices].data as BigInt64Array, out[row.indices].dims));
    if (!finite) {
      clear();
      // The group's other batches still make their update.
      if (onNonFinite === 'skip-batch' && update.last) this.finishGroup(update.index);
      return { loss, skipped: onNonFinite };
    }
    updateRunningStatistics(this.artifacts.batchStatistics, (name) => out[name].data as Float32Array, this.buffers, batch.size);
    if (this.recipe.accumulate === 1) this.update(this.grads, update.index);
    else {
      this.accumulate();
      if (update.last) this.finishGroup(update.index);
    }
    clear();
    return { loss, skipped: false };
  }

  /**
   * Adds this batch's gradients, scaled by 1/N, to the group's sums: PyTorch users' `(loss / N).backward()`,
   * whose gradients .grad sums in float32.
   */
  private accumulate(): void {
    const scale = Math.fround(1 / this.recipe.accumulate);
    for (const name of this.optimizer.parameterNames) {
      const g = this.grads.get(name)!;
      let sum = this.sums.get(name);
      if (!sum) this.sums.set(name, (sum = new Float32Array(g.length)));
      if (this.pending === 0) for (let i = 0; i < g.length; i++) sum[i] = Math.fround(g[i] * scale);
      else for (let i = 0; i < g.length; i++) sum[i] = Math.fround(sum[i] + Math.fround(g[i] * scale));
    }
    this.pending++;
  }

  private finishGroup(index: number): void {
    if (this.pending === 0) return;
    this.update(this.sums, index);
    this.pending = 0;
  }

  /** clip_grad_norm_, then the schedule's rates for this update, then the optimizer's step. */
  private update(grads: Map<string, Float32Array>, index: number): void {
    if (this.recipe.clipNorm !== undefined) clipGradNorm(this.optimizer.parameterNames.map((name) => grads.get(name)!), this.recipe.clipNorm);
    this.recipe.schedule?.apply(index, this.optimizer.groups, this.optimizer.kind);
    this.optimizer.step(this.parameters, grads);
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
