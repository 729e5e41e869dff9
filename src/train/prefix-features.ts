// A stage whose trainable parameters sit after a frozen prefix trains on the prefix's output: computed here
// once per example, in chunks, instead of once per step.
import type { ModelProto } from '../onnx/proto.js';
import type { Dataset } from '../data/dataset.js';
import { featureSize } from '../data/dataset.js';
import { createStepSession, ort, type SessionOptions } from '../runtime/session.js';
import { breathe } from './breathe.js';

const CHUNK = 256;

export async function prefixFeatures(prefix: ModelProto, data: Dataset, options: SessionOptions, signal?: AbortSignal): Promise<Dataset> {
  const session = await createStepSession(prefix, options);
  const input = prefix.graph.input[0].name, output = prefix.graph.output[0].name;
  const rowSize = featureSize(data);
  let features = new Float32Array(0);
  let featureShape: number[] = [];
  for (let start = 0; start < data.count; start += CHUNK) {
    const rows = Math.min(CHUNK, data.count - start);
    const x = new ort.Tensor('float32', data.features.subarray(start * rowSize, (start + rows) * rowSize), [rows, ...data.featureShape]);
    const y = (await session.run({ [input]: x }))[output];
    if (start === 0) {
      featureShape = y.dims.slice(1) as number[];
      features = new Float32Array(data.count * featureSize({ featureShape }));
    }
    features.set(y.data as Float32Array, start * featureSize({ featureShape }));
    await breathe(signal, 'while computing the frozen layers\' features');
  }
  await session.release();
  return { ...data, featureShape, features };
}
