// Evaluation on a dataset with a stage's eval graph: accuracy and mean loss.
import { LABELS, LOSS, type Artifacts } from '../artifacts/build.js';
import { createStepSession } from '../runtime/session.js';
import type { Dataset } from '../data/dataset.js';
import { BatchBuffers, batchStarts } from './batches.js';
import { trainingExamples } from './prefix-features.js';
import { bufferFeeds, parameterFeeds } from './stage-runner.js';
import type { TrainConfig } from './trainer.js';
import { breathe } from './breathe.js';

/** Accuracy (binary: sigmoid(logit) > 0.5; multi-class: argmax) and mean loss on a dataset, with the eval graph. */
export async function evaluate(artifacts: Artifacts, parameters: Map<string, Float32Array>, data: Dataset, config: TrainConfig, buffers = new Map<string, Float32Array>()) {
  const session = await createStepSession(artifacts.eval, config);
  const feeds = { ...parameterFeeds(artifacts, parameters), ...bufferFeeds(artifacts, buffers) };
  const batches = new BatchBuffers(await trainingExamples(artifacts, data, config, config.signal), artifacts.inputs, artifacts.labelShape, artifacts.labelType);
  const order = new Int32Array(data.count).map((_, i) => i);
  let correct = 0, lossSum = 0;
  for (const start of batchStarts(data.count, config.testBatchSize)) {
    const end = Math.min(start + config.testBatchSize, data.count);
    const batch = await batches.gather(order, start, end);
    Object.assign(feeds, batch.feeds);
    feeds[LABELS] = batch.labels;
    const out = await session.run(feeds);
    await breathe(config.signal, 'during evaluation');
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

