// A data file for a model's data inputs, its format chosen by extension: .jsonl (any inputs), else CSV (one
// float input, its feature columns reshaped to the input's fixed shape); a folder is an image folder.
import { statSync } from 'node:fs';
import { extname } from 'node:path';
import type { DataInputInfo } from '../model/describe.js';
import { DataType } from '../onnx/builder.js';
import { UserError } from '../errors.js';
import { readCsvDataset } from './csv.js';
import { readJsonlDataset } from './jsonl.js';
import { INPUT_TYPES, type Dataset } from './dataset.js';
import { readImageFolder } from './image-folder.js';
import { parseImageOptions, type ImageOptions } from './image-options.js';

/** What the readers of the several formats need besides the path; each format reads its own part. */
export interface DataOptions {
  /** Label column or key; default 'y'. */
  label?: string;
  /** A folder of class subfolders of images: size, normalization and (training data only) augmentation. */
  image?: ImageOptions;
}

export function readDataset(path: string, inputs: readonly DataInputInfo[], options: DataOptions = {}): Dataset {
  if (statSync(path, { throwIfNoEntry: false })?.isDirectory()) return readImageFolder(path, inputs, options.image ?? parseImageOptions({}, 0));
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
