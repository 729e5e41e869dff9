// A data file for a model's data inputs, its format chosen by extension: .jsonl (any inputs), else CSV (one
// float input, its feature columns reshaped to the input's fixed shape).
import { extname } from 'node:path';
import type { DataInputInfo } from '../model/describe.js';
import { DataType } from '../onnx/builder.js';
import { UserError } from '../errors.js';
import { readCsvDataset } from './csv.js';
import { readJsonlDataset } from './jsonl.js';
import { INPUT_TYPES, type Dataset, type Preprocessing } from './dataset.js';

/** What the readers of the several formats need besides the path; each format reads its own part. */
export interface DataOptions {
  /** Label column or key; default 'y'. */
  label?: string;
  /** false: the data need not have labels (predict on new data); a label column or key, if there, is left out. Default true. */
  labels?: boolean;
}

/**
 * The options that make a reader prepare data as a model's training did, from the preprocessing its exported
 * metadata records (data-metadata.ts). Each format that writes a preprocessing kind reads its own back here;
 * a kind this version does not know gives no options.
 */
export function dataOptionsFromPreprocessing(preprocessing: Preprocessing | undefined): DataOptions {
  switch (preprocessing?.kind) {
    default:
      return {};
  }
}

export function readDataset(path: string, inputs: readonly DataInputInfo[], options: DataOptions = {}): Dataset {
  if (extname(path).toLowerCase() === '.jsonl') {
    const jsonlInputs = inputs.map((i) => ({ name: i.name, type: INPUT_TYPES[i.elemType]!.type, shape: i.shape?.slice(1) ?? null }));
    return readJsonlDataset(path, { inputs: jsonlInputs, label: options.label, labels: options.labels });
  }
  const [input] = inputs;
  if (inputs.length > 1 || input.elemType !== DataType.FLOAT) {
    const what = inputs.length > 1 ? `${inputs.length} inputs (${inputs.map((i) => i.name).join(', ')})` : `the ${DataType[input.elemType]} input '${input.name}'`;
    throw new UserError(`${path}: a CSV file feeds one float input, but the model has ${what}; give the data as JSONL (a .jsonl file, one JSON object per line with one key per input and the label)`);
  }
  const exampleShape = input.shape?.slice(1);
  const featureShape = exampleShape?.every((d): d is number => typeof d === 'number') ? exampleShape : undefined;
  return readCsvDataset(path, { label: options.label, featureShape, input: input.name, labels: options.labels });
}
