// The validation set a training command evaluates after every epoch: --val FILE, or --val-split, a share of
// --train held out before training (the rest trains). Read and checked before anything trains.
import { readDataset } from '../data/read.js';
import { alignClasses } from '../data/label-column.js';
import { splitValidation } from '../data/split.js';
import { streamSeed } from '../data/synthetic.js';
import { fingerprint } from '../checkpoint/checkpoint.js';
import { UserError } from '../errors.js';
import type { Loss } from '../losses/index.js';
import { COMMON_OPTIONS, readNumber, readString, type Argv } from './options.js';
import type { Inputs } from './inputs.js';

/** The split's own random stream, apart from synthetic.ts's STREAMS (data 1, head 2). */
const SPLIT_STREAM = 3;

export interface WithValidation {
  inputs: Inputs;
  /** What identifies the validation set in a checkpoint's settings: a resume must validate on the same data. */
  identity?: { split: number } | { file: string };
}

/** The inputs with their validation set (and, for --val-split, the training data less it); unchanged without one. */
export function withValidation(argv: Argv, inputs: Inputs, seed: number, loss: Loss): WithValidation {
  const file = readString(argv, 'val');
  const fraction = argv['val-split'] === undefined ? undefined : readNumber(argv, 'val-split', COMMON_OPTIONS);
  if (file !== undefined && fraction !== undefined) throw new UserError('--val FILE and --val-split take the validation data from two places: give one of them');
  const { train, test } = inputs.data;
  if (file !== undefined) {
    const validation = alignClasses(train, readDataset(file, inputs.summary.inputs, inputs.readOptions ?? { label: readString(argv, 'label') }));
    if (train.columns && validation.columns && train.columns.join(',') !== validation.columns.join(',')) {
      throw new UserError(`${file}: columns (${validation.columns.join(', ')}) differ from ${train.source}'s (${train.columns.join(', ')})`);
    }
    const bytes = [...Object.values(validation.inputs).map((i) => i.values), validation.labels].map((v) => new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
    return {
      inputs: { ...inputs, data: { train, test, validation }, sources: { ...inputs.sources, validation: file }, description: [...inputs.description, `validation: ${file} (${validation.count} rows), after every epoch`] },
      identity: { file: fingerprint(...bytes) },
    };
  }
  if (fraction === undefined) return { inputs };
  const stratify = loss.name !== 'mse';
  const split = splitValidation(train, fraction, streamSeed(seed, SPLIT_STREAM), { stratify });
  const how = `${fraction} of the training data${stratify ? ', stratified by class' : ''}, seed ${seed}`;
  return {
    inputs: {
      ...inputs, data: { train: split.train, test, validation: split.validation },
      sources: { ...inputs.sources, validation: `--val-split ${how}` },
      description: [...inputs.description, `validation: ${split.validation.count} of the ${train.count} training rows held out (${how}; ${split.train.count} train), after every epoch`],
    },
    identity: { split: fraction },
  };
}
