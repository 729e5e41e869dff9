// An in-memory table of examples: for each model input, one row-major typed array of its values, plus one
// numeric label per example. Every format (CSV, JSONL, ...) reads into this; the trainer never learns which.
import { DataType } from '../onnx/builder.js';
import { elementCount } from '../onnx/tensor.js';
import { UserError } from '../errors.js';

/** The element types a data input may have, and the arrays that hold them. */
export type InputValues = Float32Array | BigInt64Array | Int32Array;
export type InputType = 'float32' | 'int64' | 'int32';

export interface DataInput {
  /** Shape of one example, without the batch dimension. */
  shape: number[];
  /** count × elementCount(shape) values, example after example. */
  values: InputValues;
}

export interface Dataset {
  /** Where the rows came from, for error messages. */
  source: string;
  count: number;
  /** One entry per model input, keyed by the input's name. */
  inputs: Record<string, DataInput>;
  labels: Float64Array;
  /** The file line of each example, so that errors can point at it. */
  lines?: Int32Array;
  /** The file's header, label included (CSV). */
  columns?: string[];
  /** The name of each class index, where the data names them (an image folder's class folders). */
  classNames?: string[];
  /** How raw examples became the model's inputs (image size and normalization, the tokenizer): kept in the exported model's metadata, so that predict prepares new data the same way. */
  preprocessing?: Preprocessing;
  /** An input whose values are made per batch (decoded images) instead of held in `inputs`. */
  lazy?: LazyInput;
}

/**
 * One float input made on demand, a batch at a time, so that a data set larger than memory trains: its
 * examples are never all in `inputs`. `load` must be a pure function of (indices, epoch): a resumed run
 * reads the same values.
 */
export interface LazyInput {
  /** The model input it feeds. */
  inputName: string;
  /** Shape of one example, without the batch dimension. */
  shape: number[];
  /**
   * Writes examples indices[0..], one after another, into `into`. `epoch` (the plan's epoch count so far)
   * is given for training batches only: where it is, the values may be augmented as a function of it.
   */
  load(indices: ArrayLike<number>, into: Float32Array, epoch?: number): Promise<void>;
  /** Bytes that identify the examples (names, sizes, times, settings), for the resume check. */
  identity: Uint8Array;
}

/** JSON-serializable; `kind` says which reader wrote it ('image', 'text', ...). */
export interface Preprocessing {
  kind: string;
  [key: string]: unknown;
}

/** ONNX element types accepted for data inputs, with their onnxruntime name and array. */
export const INPUT_TYPES: Partial<Record<number, { type: InputType; make(length: number): InputValues }>> = {
  [DataType.FLOAT]: { type: 'float32', make: (n) => new Float32Array(n) },
  [DataType.INT64]: { type: 'int64', make: (n) => new BigInt64Array(n) },
  [DataType.INT32]: { type: 'int32', make: (n) => new Int32Array(n) },
};

/** The onnxruntime element type of an input's values. */
export function inputType(values: InputValues): InputType {
  return values instanceof Float32Array ? 'float32' : values instanceof BigInt64Array ? 'int64' : 'int32';
}

/** Where example i came from, for error messages: 'line 7' in a file, else 'row 6'. */
export function exampleLocation(d: Pick<Dataset, 'lines'>, i: number): string {
  return d.lines ? `line ${d.lines[i]}` : `row ${i + 1}`;
}

/** Values per example of an input. */
export function exampleSize(input: Pick<DataInput, 'shape'>): number {
  return elementCount(input.shape);
}

/** A dataset with one input (a CSV file's feature columns, generated data). */
export function singleInputDataset(source: string, name: string, shape: number[], values: InputValues, labels: Float64Array): Dataset {
  return { source, count: labels.length, inputs: { [name]: { shape, values } }, labels };
}

/** The input of a one-input dataset (a CSV file's features). */
export function singleInput(data: Dataset): DataInput {
  const keys = Object.keys(data.inputs);
  if (keys.length !== 1) throw new UserError(`${data.source}: ${keys.length} inputs (${keys.join(', ')}), not one`);
  return data.inputs[keys[0]];
}

/**
 * The dataset's inputs keyed by the given model input names. A CSV file names no input, so a one-input
 * dataset feeds a one-input model whatever its key; otherwise every name must be there.
 */
export function inputsFor(data: Dataset, names: readonly string[]): Record<string, DataInput> {
  const keys = Object.keys(data.inputs);
  if (names.length === 1 && keys.length === 1) return { [names[0]]: data.inputs[keys[0]] };
  const lazy = data.lazy?.inputName;
  names = names.filter((n) => n !== lazy); // a lazy input is made per batch, not held here
  const missing = names.filter((n) => !Object.hasOwn(data.inputs, n));
  if (missing.length > 0) {
    throw new UserError(`${data.source}: no values for the model's input${missing.length > 1 ? 's' : ''} ${missing.map((n) => `'${n}'`).join(', ')} (the data has ${keys.map((k) => `'${k}'`).join(', ') || 'none'})`);
  }
  return Object.fromEntries(names.map((n) => [n, data.inputs[n]]));
}

/**
 * CSV and JSONL files of numbers are streamed, any size; a record can be large (an image's pixels) but not
 * unbounded: it is held whole while it is read. Files read whole (text to tokenize, a tokenizer.json) stop at
 * 256 MiB: one string, which V8 caps at 512 MiB.
 */
export const TEXT_DATA_LIMITS = { lineChars: 16 * 2 ** 20, fileBytes: 256 * 2 ** 20 };
