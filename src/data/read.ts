// A data file for a model's data inputs, its format chosen by extension: .jsonl (any inputs), .npz (an array
// per input), .parquet (a column per input, or per feature), .npy (one input, its labels in a second .npy),
// else CSV (one float input, its feature columns reshaped to the input's fixed shape). With a tokenizer, a CSV
// or JSONL file holds text instead; a folder is an image folder (a subfolder of images per class).
import { statSync } from 'node:fs';
import { extname } from 'node:path';
import type { DataInputInfo } from '../model/describe.js';
import { DataType } from '../onnx/builder.js';
import { UserError } from '../errors.js';
import { elementCount } from '../onnx/tensor.js';
import { readCsvDataset } from './csv.js';
import { readJsonlDataset, type JsonlInput } from './jsonl.js';
import { readParquetDataset } from './parquet.js';
import { npyCount, npyExampleShape, npyLabels, npyValues, readNpyFile, type NpyArray } from './npy.js';
import { readNpzArrays } from './npz.js';
import { readTextDataset, type TextOptions, type TextPreprocessing } from './text.js';
import { INPUT_TYPES, type Dataset, type Preprocessing } from './dataset.js';
import { readImageFolder } from './image-folder.js';
import { parseImageOptions, type ImageOptions } from './image-options.js';

/** What the readers of the several formats need besides the path; each format reads its own part. */
export interface DataOptions {
  /** Label column or key; default 'y'. */
  label?: string;
  /** .npy features: the .npy file of their labels (--train-labels, --test-labels). */
  labelsFile?: string;
  /** Text tokenized for the model (a CSV column or JSONL key): see text.ts. */
  text?: TextOptions;
  /** false: the data need not have labels (predict on new data); a label column or key, if there, is left out. Default true. */
  labels?: boolean;
  /** CSV: the feature columns, in order (--features), or the columns to leave out (--ignore). */
  features?: string[];
  ignore?: string[];
  /** A folder of class subfolders of images: size, normalization and (training data only) augmentation. */
  image?: ImageOptions;
}

/**
 * The options that make a reader prepare data as a model's training did, from the preprocessing its exported
 * metadata records (data-metadata.ts). Each format that writes a preprocessing kind reads its own back here;
 * a kind this version does not know gives no options.
 */
export function dataOptionsFromPreprocessing(preprocessing: Preprocessing | undefined): DataOptions {
  switch (preprocessing?.kind) {
    case 'text': {
      const { tokenizer, column, maxLength } = preprocessing as TextPreprocessing;
      return { text: { tokenizerJson: tokenizer, tokenizerSource: "the model's tokenizer (its metadata)", column, maxLength } };
    }
    case 'image': {
      const { size, mean, std } = preprocessing as unknown as { size: [number, number]; mean: number[]; std: number[] };
      return { image: { size, mean, std, augment: [], seed: 0 } };
    }
    default:
      return {};
  }
}

export function readDataset(path: string, inputs: readonly DataInputInfo[], options: DataOptions = {}): Dataset {
  if (statSync(path, { throwIfNoEntry: false })?.isDirectory()) return readImageFolder(path, inputs, options.image ?? parseImageOptions({}, 0), undefined, options.labels !== false);
  const format = extname(path).toLowerCase();
  if (options.labelsFile !== undefined && format !== '.npy') {
    throw new UserError(`${path}: a separate labels file goes with .npy features only; a ${format || 'CSV'} file holds its own labels`);
  }
  if ((options.features || options.ignore) && (options.text || !['', '.csv', '.txt', '.tsv'].includes(format))) {
    throw new UserError(`${path}: --features and --ignore choose the columns of a CSV file of numbers; this data is read by name (keys, arrays or text)`);
  }
  if (options.text) return readTextDataset(path, inputs, { ...options.text, label: options.labels === false ? null : options.label });
  const typed = (): JsonlInput[] => inputs.map((i) => ({ name: i.name, type: INPUT_TYPES[i.elemType]!.type, shape: i.shape?.slice(1) ?? null }));
  if (format === '.jsonl') return readJsonlDataset(path, { inputs: typed(), label: options.label, labels: options.labels });
  if (format === '.npy') return readNpyDataset(path, inputs, options);
  if (format === '.npz') return readNpzDataset(path, inputs, options);
  if (format === '.parquet' || format === '.pq') return readParquetDataset(path, { inputs: typed(), label: options.label, featureShape: fixedExampleShape(inputs[0]), labels: options.labels });
  const [input] = inputs;
  if (inputs.length > 1 || input.elemType !== DataType.FLOAT) {
    const what = inputs.length > 1 ? `${inputs.length} inputs (${inputs.map((i) => i.name).join(', ')})` : `the ${DataType[input.elemType]} input '${input.name}'`;
    throw new UserError(`${path}: a CSV file feeds one float input, but the model has ${what}; give the data as JSONL (a .jsonl file, one JSON object per line with one key per input and the label)`);
  }
  return readCsvDataset(path, { label: options.label, featureShape: fixedExampleShape(input), input: input.name, labels: options.labels, features: options.features, ignore: options.ignore });
}

/** The model input's example shape where every dimension is a number. */
function fixedExampleShape(input: DataInputInfo | undefined): number[] | undefined {
  const shape = input?.shape?.slice(1);
  return shape?.every((d): d is number => typeof d === 'number') ? shape : undefined;
}

/** An array's example shape, reshaped to the model's fixed one where the value counts agree (as CSV rows are). */
function exampleShape(array: NpyArray, input: DataInputInfo): number[] {
  const own = npyExampleShape(array);
  const fixed = fixedExampleShape(input);
  return fixed && elementCount(fixed) === elementCount(own) ? fixed : own;
}

function readNpyDataset(path: string, inputs: readonly DataInputInfo[], options: DataOptions): Dataset {
  if (inputs.length > 1) {
    throw new UserError(`${path}: an .npy file feeds one input, but the model has ${inputs.length} (${inputs.map((i) => i.name).join(', ')}); give the arrays in one .npz file (np.savez(path, ${inputs.map((i) => `${i.name}=...`).join(', ')}, y=...))`);
  }
  if (options.labelsFile === undefined && options.labels !== false) throw new UserError(`${path}: an .npy file holds the features only; give the labels as a second .npy file (--train-labels, --test-labels), or both in one .npz file`);
  const [input] = inputs;
  const features = readNpyFile(path);
  const labels = options.labelsFile === undefined ? new Float64Array(npyCount(features)).fill(NaN) : npyLabels(readNpyFile(options.labelsFile), '');
  if (labels.length !== npyCount(features)) throw new UserError(`${options.labelsFile}: ${labels.length} labels for the ${npyCount(features)} examples of ${path}`);
  const values = npyValues(features, INPUT_TYPES[input.elemType]!.type, '');
  return { source: path, count: labels.length, inputs: { [input.name]: { shape: exampleShape(features, input), values } }, labels };
}

function readNpzDataset(path: string, inputs: readonly DataInputInfo[], options: DataOptions): Dataset {
  const label = options.label ?? 'y';
  const { arrays, labels } = readNpzArrays(path, label, options.labels !== false);
  // One input and one array: the array feeds it whatever its name ('x', 'X_train').
  const single = inputs.length === 1 && arrays.size === 1;
  const names = single ? [...arrays.keys()] : inputs.map((i) => i.name);
  const missing = names.filter((n) => !arrays.has(n));
  if (missing.length > 0) throw new UserError(`${path}: no array for the model's input${missing.length > 1 ? 's' : ''} ${missing.map((n) => `'${n}'`).join(', ')} (arrays: ${[...arrays.keys(), label].join(', ')})`);
  const extra = [...arrays.keys()].find((n) => !names.includes(n));
  if (extra !== undefined) throw new UserError(`${path}: array '${extra}' is not an input of the model (${inputs.map((i) => `'${i.name}'`).join(', ')}) nor the labels '${label}'`);
  const dataInputs = Object.fromEntries(inputs.map((input, i) => {
    const array = arrays.get(names[i])!;
    return [input.name, { shape: exampleShape(array, input), values: npyValues(array, INPUT_TYPES[input.elemType]!.type, '') }];
  }));
  const count = npyCount(arrays.get(names[0])!);
  const y = labels ? npyLabels(labels, '') : new Float64Array(count).fill(NaN);
  return { source: path, count, inputs: dataInputs, labels: y };
}
