// A data file for a model's data inputs, its format chosen by extension: .jsonl (any inputs), else CSV (one
// float input, its feature columns reshaped to the input's fixed shape); with a tokenizer, either holds text.
import { extname } from 'node:path';
import type { DataInputInfo } from '../model/describe.js';
import { DataType } from '../onnx/builder.js';
import { UserError } from '../errors.js';
import { readCsvDataset } from './csv.js';
import { readJsonlDataset } from './jsonl.js';
import { readTextDataset, type TextOptions } from './text.js';
import { INPUT_TYPES, type Dataset } from './dataset.js';

/** What the readers of the several formats need besides the path; each format reads its own part. */
export interface DataOptions {
  /** Label column or key; default 'y'. */
  label?: string;
  /** Text tokenized for the model (a CSV column or JSONL key): see text.ts. */
  text?: TextOptions;
}

export function readDataset(path: string, inputs: readonly DataInputInfo[], options: DataOptions = {}): Dataset {
  if (options.text) return readTextDataset(path, inputs, { ...options.text, label: options.label });
  if (extname(path).toLowerCase() === '.jsonl') {
    const jsonlInputs = inputs.map((i) => ({ name: i.name, type: INPUT_TYPES[i.elemType]!.type, shape: i.shape?.slice(1) ?? null }));
    return readJsonlDataset(path, { inputs: jsonlInputs, label: options.label });
  }
  const [input] = inputs;
  if (inputs.length > 1 || input.elemType !== DataType.FLOAT) {
    const what = inputs.length > 1 ? `${inputs.length} inputs (${inputs.map((i) => i.name).join(', ')})` : `the ${DataType[input.elemType]} input '${input.name}'`;
    throw new UserError(`${path}: a CSV file feeds one float input, but the model has ${what}; give the data as JSONL (a .jsonl file, one JSON object per line with one key per input and the label)`);
  }
  const exampleShape = input.shape?.slice(1);
  const featureShape = exampleShape?.every((d): d is number => typeof d === 'number') ? exampleShape : undefined;
  return readCsvDataset(path, { label: options.label, featureShape, input: input.name });
}
