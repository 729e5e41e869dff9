// The examples a stage's train and eval graphs take: the dataset's inputs by model input name, or, where the
// stage's trainable parameters sit after a frozen prefix, the prefix's outputs computed here once per example,
// in chunks, instead of once per step (and the data inputs the rest of the model reads directly). A lazy
// input (images decoded per batch) is decoded once per stage here, un-augmented; only the features are kept.
import type { ModelProto } from '../onnx/proto.js';
import type { Artifacts } from '../artifacts/build.js';
import { exampleSize, inputsFor, inputType, INPUT_TYPES, type DataInput, type Dataset, type InputValues } from '../data/dataset.js';
import { elementCount } from '../onnx/tensor.js';
import { valueInfoShape } from '../graph/shapes.js';
import { createStepSession, ort, type SessionOptions } from '../runtime/session.js';
import { breathe } from './breathe.js';

const CHUNK = 256;
/** Bytes of a lazy input (decoded images) per chunk. */
const LAZY_CHUNK_BYTES = 32 * 2 ** 20;
/** Examples the prefix check runs on (see notPerExample). */
const SHIFT_CHECK = 8;

/** Prefix outputs found, by running the prefix, not to hold one row per example (see notPerExample). */
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
export async function stageExamples(build: (notPerExample: ReadonlySet<string>, splitPrefix?: boolean) => Artifacts, data: Dataset, options: SessionOptions, signal?: AbortSignal) {
  const notPerExample = new Set<string>();
  for (;;) {
    const artifacts = build(notPerExample);
    if (artifacts.prefix && featuresTooLarge(artifacts.prefix, data)) {
      const whole = build(notPerExample, false);
      return { artifacts: whole, examples: await trainingExamples(whole, data, options, signal) };
    }
    try {
      return { artifacts, examples: await trainingExamples(artifacts, data, options, signal) };
    } catch (e) {
      if (!(e instanceof NotPerExampleError)) throw e;
      for (const name of e.names) notPerExample.add(name);
    }
  }
}

/** Features worth keeping cost memory: the cache is skipped past 64 MiB where it would outgrow the data itself. */
const FEATURE_CACHE_BYTES = 64 * 2 ** 20;

/**
 * Whether the prefix's outputs for every example would take more than FEATURE_CACHE_BYTES and more than the
 * inputs they replace (the seed backbone turns 10 features into 16): then each step runs the frozen layers
 * instead, and memory stays the data's. Images, whose features are far smaller than their pixels, are cached.
 */
function featuresTooLarge(prefix: ModelProto, data: Dataset): boolean {
  const perExample = (shape: readonly unknown[] | null | undefined) => (shape?.slice(1).every((d) => typeof d === 'number') ? elementCount(shape.slice(1) as number[]) : undefined);
  const outputs = prefix.graph.output.map((o) => perExample(valueInfoShape(o)?.shape));
  if (outputs.some((n) => n === undefined)) return false; // sizes known only by running it: cached as before
  const featureBytes = 4 * data.count * outputs.reduce((a, b) => a! + b!, 0)!;
  const held = Object.values(data.inputs).reduce((sum, i) => sum + i.values.byteLength, 0);
  const decoded = data.lazy ? 4 * data.count * exampleSize(data.lazy) : 0;
  return featureBytes > FEATURE_CACHE_BYTES && featureBytes > held + decoded;
}

/** The dataset keyed by the names of `artifacts.inputs`. */
export async function trainingExamples(artifacts: Artifacts, data: Dataset, options: SessionOptions, signal?: AbortSignal): Promise<Dataset> {
  const byModelInput = { ...data, inputs: inputsFor(data, artifacts.summary.inputs.map((i) => i.name)) };
  if (!artifacts.prefix) return byModelInput;
  const computed = await prefixFeatures(artifacts.prefix, byModelInput, options, signal);
  const lazy = data.lazy && artifacts.inputs.includes(data.lazy.inputName) ? data.lazy : undefined; // still read past the prefix
  const held = artifacts.inputs.filter((name) => name !== lazy?.inputName);
  return { ...data, inputs: Object.fromEntries(held.map((name) => [name, computed[name] ?? byModelInput.inputs[name]])), lazy };
}

async function prefixFeatures(prefix: ModelProto, data: Dataset, options: SessionOptions, signal?: AbortSignal): Promise<Record<string, DataInput>> {
  const session = await createStepSession(prefix, options);
  try {
    const run = async (start: number, rows: number) => session.run(await chunkFeeds(prefix, data, start, rows));
    const wrong = await notPerExample(prefix, run, data.count);
    if (wrong.length > 0) throw new NotPerExampleError(wrong);
    const outputs: Record<string, DataInput> = {};
    const chunk = chunkRows(prefix, data);
    // A lazy input's next chunk is decoded while the prefix runs on this one.
    let next: Promise<Record<string, ort.Tensor>> | undefined = chunkFeeds(prefix, data, 0, Math.min(chunk, data.count));
    for (let start = 0; start < data.count; start += chunk) {
      const rows = Math.min(chunk, data.count - start);
      const feeds = await next!;
      const after = start + rows;
      next = after < data.count ? chunkFeeds(prefix, data, after, Math.min(chunk, data.count - after)) : undefined;
      next?.catch(() => undefined); // seen when awaited; not unhandled if this chunk fails first
      const results = await session.run(feeds);
      for (const { name } of prefix.graph.output) {
        const y = results[name];
        if (y.dims[0] !== rows) throw new Error(`frozen prefix output '${name}' has dims [${y.dims}] for a chunk of ${rows} examples`);
        outputs[name] ??= { shape: y.dims.slice(1) as number[], values: valuesFor(y.type, data.count * (y.size / rows), name) };
        outputs[name].values.set(y.data as never, start * exampleSize(outputs[name]));
      }
      await breathe(signal, 'while computing the frozen layers\' features');
    }
    await next?.catch(() => undefined);
    return outputs;
  } finally {
    await session.release();
  }
}

/** Examples per chunk: CHUNK, or fewer where a lazy input's examples are large (two chunks of images are held at once). */
function chunkRows(prefix: ModelProto, data: Dataset): number {
  const lazy = data.lazy && prefix.graph.input.some((i) => i.name === data.lazy!.inputName) ? data.lazy : undefined;
  return lazy ? Math.max(1, Math.min(CHUNK, Math.floor(LAZY_CHUNK_BYTES / (4 * exampleSize(lazy))))) : CHUNK;
}

type Results = Record<string, ort.Tensor>;

/**
 * The prefix outputs that, run on the first SHIFT_CHECK examples and on the same examples less the first,
 * do not come out with one row per example of their inferred element type (an inferred type may be a guess
 * too: the run says), or whose row for an example differs between the two runs. Such a row depends on the
 * example's place in the chunk or on the chunk's size (a batch position from Range over Shape(x)[0], as in
 * GPT-2's last-token GatherND indices), which the training batches, sliced from the chunks, do not share.
 */
async function notPerExample(prefix: ModelProto, run: (start: number, rows: number) => Promise<Results> | Results, count: number): Promise<string[]> {
  const rows = Math.min(count, SHIFT_CHECK);
  const all = await run(0, rows);
  const shifted = rows > 1 ? await run(1, rows - 1) : undefined;
  return prefix.graph.output.filter(({ name, type }) => {
    const typeOk = (y: ort.Tensor, n: number) => y.dims[0] === n && y.type === INPUT_TYPES[type?.tensorType?.elemType ?? 0]?.type;
    if (!typeOk(all[name], rows)) return true;
    return !!shifted && (!typeOk(shifted[name], rows - 1) || !sameRows(all[name], 1, shifted[name]));
  }).map((o) => o.name);
}

/** Whether `y` from row `from` on equals `x`: integers exactly, floats up to rounding (kernels may block by batch size). */
function sameRows(y: ort.Tensor, from: number, x: ort.Tensor): boolean {
  if (y.dims.slice(1).join() !== x.dims.slice(1).join()) return false;
  const offset = from * (y.size / y.dims[0]), a = y.data as ArrayLike<number | bigint>, b = x.data as ArrayLike<number | bigint>;
  for (let i = 0; i < x.size; i++) {
    const [u, v] = [a[offset + i], b[i]];
    if (typeof u === 'bigint' || typeof v === 'bigint' ? u !== v : Math.abs((u as number) - (v as number)) > 1e-4 * Math.max(1, Math.abs(u as number), Math.abs(v as number))) return false;
  }
  return true;
}

/** Examples start..start+rows of each input the prefix reads; a lazy input's loaded (not augmented). */
async function chunkFeeds(prefix: ModelProto, data: Dataset, start: number, rows: number): Promise<Record<string, ort.Tensor>> {
  return Object.fromEntries(await Promise.all(prefix.graph.input.map(async ({ name }) => {
    if (name === data.lazy?.inputName) {
      const values = new Float32Array(rows * exampleSize(data.lazy));
      await data.lazy.load(Int32Array.from({ length: rows }, (_, i) => start + i), values);
      return [name, new ort.Tensor('float32', values, [rows, ...data.lazy.shape])];
    }
    const input = data.inputs[name], size = exampleSize(input);
    return [name, new ort.Tensor(inputType(input.values), input.values.subarray(start * size, (start + rows) * size), [rows, ...input.shape])];
  })));
}

function valuesFor(type: string, length: number, name: string): InputValues {
  const kind = Object.values(INPUT_TYPES).find((t) => t!.type === type);
  if (!kind) throw new Error(`frozen prefix output '${name}' is ${type}`);
  return kind.make(length);
}
