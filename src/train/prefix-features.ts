// The examples a stage's train and eval graphs take: the dataset's inputs by model input name, or, where the
// stage's trainable parameters sit after a frozen prefix, the prefix's outputs computed here once per example,
// in chunks, instead of once per step (and the data inputs the rest of the model reads directly).
import type { ModelProto } from '../onnx/proto.js';
import type { Artifacts } from '../artifacts/build.js';
import { exampleSize, inputsFor, inputType, INPUT_TYPES, type DataInput, type Dataset, type InputValues } from '../data/dataset.js';
import { createStepSession, ort, type SessionOptions } from '../runtime/session.js';
import { breathe } from './breathe.js';

const CHUNK = 256;

/** The dataset keyed by the names of `artifacts.inputs`. */
export async function trainingExamples(artifacts: Artifacts, data: Dataset, options: SessionOptions, signal?: AbortSignal): Promise<Dataset> {
  const byModelInput = { ...data, inputs: inputsFor(data, artifacts.summary.inputs.map((i) => i.name)) };
  if (!artifacts.prefix) return byModelInput;
  const computed = await prefixFeatures(artifacts.prefix, byModelInput, options, signal);
  return { ...data, inputs: Object.fromEntries(artifacts.inputs.map((name) => [name, computed[name] ?? byModelInput.inputs[name]])) };
}

async function prefixFeatures(prefix: ModelProto, data: Dataset, options: SessionOptions, signal?: AbortSignal): Promise<Record<string, DataInput>> {
  const session = await createStepSession(prefix, options);
  const inputs = prefix.graph.input.map((i) => [i.name, data.inputs[i.name]] as const);
  const outputs: Record<string, DataInput> = {};
  for (let start = 0; start < data.count; start += CHUNK) {
    const rows = Math.min(CHUNK, data.count - start);
    const feeds = Object.fromEntries(inputs.map(([name, input]) => {
      const size = exampleSize(input);
      return [name, new ort.Tensor(inputType(input.values), input.values.subarray(start * size, (start + rows) * size), [rows, ...input.shape])];
    }));
    const results = await session.run(feeds);
    for (const { name } of prefix.graph.output) {
      const y = results[name];
      // The boundary was chosen as batch-first tensors (see splitFrozenPrefix); this is the check that it is.
      if (y.dims[0] !== rows) throw new Error(`frozen prefix output '${name}' has dims [${y.dims}] for a chunk of ${rows} examples`);
      outputs[name] ??= { shape: y.dims.slice(1) as number[], values: valuesFor(y.type, data.count * (y.size / rows), name) };
      outputs[name].values.set(y.data as never, start * exampleSize(outputs[name]));
    }
    await breathe(signal, 'while computing the frozen layers\' features');
  }
  await session.release();
  return outputs;
}

function valuesFor(type: string, length: number, name: string): InputValues {
  const kind = Object.values(INPUT_TYPES).find((t) => t!.type === type);
  if (!kind) throw new Error(`frozen prefix output '${name}' is ${type}`);
  return kind.make(length);
}
