// One stage's training session: the artifacts for the parameters its groups select, a fresh optimizer, and
// one step = gather a batch, run the train graph, update the parameters in place.
import type { ModelProto } from '../onnx/proto.js';
import { buildArtifacts, GRADIENTS, inferenceModel, LABELS, LOSS, type Artifacts } from '../artifacts/build.js';
import { createStepSession, ort, type StepSession } from '../runtime/session.js';
import { Optimizer, type ParamState, type UpdateKernel } from '../optim/optimizer.js';
import { AdamGraphUpdate, GRAPH_UPDATE_MIN_PARAMETERS } from '../optim/adam-graph.js';
import type { Dataset } from '../data/dataset.js';
import { BatchBuffers } from './batches.js';
import { prefixFeatures } from './prefix-features.js';
import type { Stage } from './strategies.js';
import type { TrainConfig } from './trainer.js';
import type { Rng } from './rng.js';
import { drawMask } from '../artifacts/dropout-masks.js';

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
    private readonly dropoutRng: Rng,
  ) {}

  static async create(model: ModelProto, parameters: Map<string, Float32Array>, stage: Stage, data: Dataset, config: TrainConfig, dropoutRng: Rng): Promise<StageRunner> {
    const optimizer = new Optimizer(config.optimizer, stage.groups, [...parameters.keys()], { weightDecay: config.weightDecay });
    const trainable = [...parameters.keys()].filter((n) => optimizer.parameterNames.includes(n));
    const artifacts = buildArtifacts(inferenceModel(model, parameters), trainable, config.loss);
    const session = await createStepSession(artifacts.train, config, [LOSS, GRADIENTS]);
    const kernel = await updateKernel(optimizer, artifacts, config);
    const examples = artifacts.prefix ? await prefixFeatures(artifacts.prefix, data, config, config.signal) : data;
    const batches = new BatchBuffers(examples, artifacts.labelShape, artifacts.labelType);
    optimizer.kernel = kernel;
    return new StageRunner(artifacts, session, optimizer, parameters, parameterFeeds(artifacts, parameters), batches, dropoutRng);
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
    for (const mask of this.artifacts.masks) {
      const values = drawMask(mask, batch.size, () => this.dropoutRng.next());
      this.feeds[mask.input] = new ort.Tensor('float32', values, [batch.size, ...(mask.shape.slice(1) as number[])]);
    }
    const out = await this.session.run(this.feeds);
    const loss = out[LOSS].data[0] as number;
    const gradients = out[GRADIENTS].data as Float32Array;
    if (!Number.isFinite(loss) || !allFinite(gradients)) return { loss, skipped: onNonFinite };
    for (const p of this.artifacts.trainable) this.grads.set(p.name, gradients.subarray(p.offset, p.offset + p.size));
    this.optimizer.step(this.parameters, this.grads);
    return { loss, skipped: false };
  }

  async release(): Promise<void> {
    await this.optimizer.kernel?.release();
    await this.session.release();
  }
}

/** Adam on a large model updates in a graph (same bits, vectorized); small models keep the JavaScript loop. */
async function updateKernel(optimizer: Optimizer, artifacts: Artifacts, config: TrainConfig): Promise<UpdateKernel | undefined> {
  const count = artifacts.trainable.reduce((n, p) => n + p.dims.reduce((a, b) => a * b, 1), 0);
  const threshold = config.graphUpdateMinParameters ?? GRAPH_UPDATE_MIN_PARAMETERS;
  if (optimizer.kind === 'sgd' || count < threshold) return undefined;
  return AdamGraphUpdate.create(optimizer, new Map(artifacts.trainable.map((p) => [p.name, p.dims])), config);
}

export function parameterFeeds(artifacts: Artifacts, parameters: Map<string, Float32Array>): Record<string, ort.Tensor> {
  // The tensors wrap the parameter arrays themselves: the optimizer updates them in place between runs.
  return Object.fromEntries(artifacts.trainable.map((p) => [p.name, new ort.Tensor('float32', parameters.get(p.name)!, p.dims)]));
}

function allFinite(values: Float32Array): boolean {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) return false;
  return true;
}

