// Evaluation on a dataset with a stage's eval graph: the logits of every example, accuracy and mean loss.
import { LABELS, LOSS, type Artifacts } from '../artifacts/build.js';
import { createStepSession, type StepSession } from '../runtime/session.js';
import type { Dataset } from '../data/dataset.js';
import { BatchBuffers, batchStarts } from './batches.js';
import { trainingExamples } from './prefix-features.js';
import { bufferFeeds, parameterFeeds } from './stage-runner.js';
import type { TrainConfig } from './trainer.js';
import { breathe } from './breathe.js';
import { predictedClass } from './metrics.js';

export interface Evaluation {
  /** Binary: sigmoid(logit) > 0.5; multi-class: argmax. */
  accuracy: number;
  /** Mean loss over the examples. */
  loss: number;
  /** count × classes logits, example after example. */
  logits: Float32Array;
  /** Logits per example. */
  classes: number;
}

/**
 * One stage's eval graph on one dataset, kept open to evaluate again (validation after every epoch): the
 * frozen prefix's features, where the stage has one, are computed once, when it is created.
 */
export class Evaluator {
  private constructor(private readonly artifacts: Artifacts, private readonly session: StepSession, private readonly batches: BatchBuffers,
    private readonly data: Dataset, private readonly config: TrainConfig) {}

  static async create(artifacts: Artifacts, data: Dataset, config: TrainConfig): Promise<Evaluator> {
    const examples = await trainingExamples(artifacts, data, config, config.signal);
    const session = await createStepSession(artifacts.eval, config);
    return new Evaluator(artifacts, session, new BatchBuffers(examples, artifacts.inputs, artifacts.labelShape, artifacts.labelType), data, config);
  }

  async run(parameters: Map<string, Float32Array>, buffers = new Map<string, Float32Array>()): Promise<Evaluation> {
    const { artifacts, data, config } = this;
    const feeds = { ...parameterFeeds(artifacts, parameters), ...bufferFeeds(artifacts, buffers) };
    const order = new Int32Array(data.count).map((_, i) => i);
    let lossSum = 0, all: Float32Array | undefined, classes = 1;
    for (const start of batchStarts(data.count, config.testBatchSize)) {
      const end = Math.min(start + config.testBatchSize, data.count);
      const batch = await this.batches.gather(order, start, end);
      Object.assign(feeds, batch.feeds);
      feeds[LABELS] = batch.labels;
      const out = await this.session.run(feeds);
      await breathe(config.signal, 'during evaluation');
      lossSum += (out[LOSS].data[0] as number) * batch.size;
      const logits = out[artifacts.summary.logits];
      classes = logits.dims[1] ?? 1;
      all ??= new Float32Array(data.count * classes);
      all.set(logits.data as Float32Array, start * classes);
    }
    const logits = all ?? new Float32Array(0);
    return { accuracy: countCorrect(logits, classes, data.labels) / data.count, loss: lossSum / data.count, logits, classes };
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

/** Accuracy, mean loss and logits on a dataset, with the eval graph. */
export async function evaluate(artifacts: Artifacts, parameters: Map<string, Float32Array>, data: Dataset, config: TrainConfig, buffers = new Map<string, Float32Array>()): Promise<Evaluation> {
  const evaluator = await Evaluator.create(artifacts, data, config);
  try {
    return await evaluator.run(parameters, buffers);
  } finally {
    await evaluator.release();
  }
}

export function countCorrect(logits: Float32Array, classes: number, labels: Float64Array): number {
  let correct = 0;
  for (let i = 0; i < labels.length; i++) if (predictedClass(logits, i, classes) === labels[i]) correct++;
  return correct;
}
