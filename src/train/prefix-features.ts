// The examples a stage's train and eval graphs take: the dataset's inputs by model input name, or, where the
// stage's trainable parameters sit after a frozen prefix, the prefix's outputs computed here once per example,
// in chunks, instead of once per step (and the data inputs the rest of the model reads directly).
import type { ModelProto } from '../onnx/proto.js';
import type { Artifacts } from '../artifacts/build.js';
import { exampleSize, inputsFor, inputType, INPUT_TYPES, type DataInput, type Dataset, type InputValues } from '../data/dataset.js';
import { createStepSession, ort, type SessionOptions } from '../runtime/session.js';
import { breathe } from './breathe.js';

const CHUNK = 256;

/** Prefix outputs that, run on 1 and 2 examples, did not come out with that many rows (or of their inferred type). */
export class NotPerExampleError extends Error {
  constructor(readonly names: string[]) {
    super(`frozen prefix outputs without one row per example: ${names.join(', ')}`);
  }
}

/**
 * A stage's artifacts and its examples. Where the frozen prefix ends in a tensor that is not one row per
 * example (its shape could not be inferred, and it was guessed wrong), that tensor is computed in the
 * trained part instead and the artifacts are built again.
 */
export async function stageExamples(build: (notPerExample: ReadonlySet<string>) => Artifacts, data: Dataset, options: SessionOptions, signal?: AbortSignal) {
  const notPerExample = new Set<string>();
  for (;;) {
    const artifacts = build(notPerExample);
    try {
      return { artifacts, examples: await trainingExamples(artifacts, data, options, signal) };
    } catch (e) {
      if (!(e instanceof NotPerExampleError)) throw e;
      for (const name of e.names) notPerExample.add(name);
    }
  }
}

/** The dataset keyed by the names of `artifacts.inputs`. */
export async function trainingExamples(artifacts: Artifacts, data: Dataset, options: SessionOptions, signal?: AbortSignal): Promise<Dataset> {
  const byModelInput = { ...data, inputs: inputsFor(data, artifacts.summary.inputs.map((i) => i.name)) };
  if (!artifacts.prefix) return byModelInput;
  const computed = await prefixFeatures(artifacts.prefix, byModelInput, options, signal);
  return { ...data, inputs: Object.fromEntries(artifacts.inputs.map((name) => [name, computed[name] ?? byModelInput.inputs[name]])) };
}

async function prefixFeatures(prefix: ModelProto, data: Dataset, options: SessionOptions, signal?: AbortSignal): Promise<Record<string, DataInput>> {
  const session = await createStepSession(prefix, options);
  try {
    const run = (start: number, rows: number) => session.run(chunkFeeds(prefix, data, start, rows));
    const wrong = new Set<string>();
    for (const rows of [1, 2].filter((r) => r <= data.count)) {
      const results = await run(0, rows);
      for (const { name, type } of prefix.graph.output) {
        // An inferred element type may be a guess too (an op shape inference does not know): the run says.
        if (results[name].dims[0] !== rows || results[name].type !== INPUT_TYPES[type?.tensorType?.elemType ?? 0]?.type) wrong.add(name);
      }
    }
    if (wrong.size > 0) throw new NotPerExampleError([...wrong]);
    const outputs: Record<string, DataInput> = {};
    for (let start = 0; start < data.count; start += CHUNK) {
      const rows = Math.min(CHUNK, data.count - start);
      const results = await run(start, rows);
      for (const { name } of prefix.graph.output) {
        const y = results[name];
        if (y.dims[0] !== rows) throw new Error(`frozen prefix output '${name}' has dims [${y.dims}] for a chunk of ${rows} examples`);
        outputs[name] ??= { shape: y.dims.slice(1) as number[], values: valuesFor(y.type, data.count * (y.size / rows), name) };
        outputs[name].values.set(y.data as never, start * exampleSize(outputs[name]));
      }
      await breathe(signal, 'while computing the frozen layers\' features');
    }
    return outputs;
  } finally {
    await session.release();
  }
}

/** Examples start..start+rows of each input the prefix reads. */
function chunkFeeds(prefix: ModelProto, data: Dataset, start: number, rows: number): Record<string, ort.Tensor> {
  return Object.fromEntries(prefix.graph.input.map(({ name }) => {
    const input = data.inputs[name], size = exampleSize(input);
    return [name, new ort.Tensor(inputType(input.values), input.values.subarray(start * size, (start + rows) * size), [rows, ...input.shape])];
  }));
}

function valuesFor(type: string, length: number, name: string): InputValues {
  const kind = Object.values(INPUT_TYPES).find((t) => t!.type === type);
  if (!kind) throw new Error(`frozen prefix output '${name}' is ${type}`);
  return kind.make(length);
}
