// The seed notebook's task: 1200 rows of 10 standard-normal features,
//   score = 1.5·x0 − 0.7·x1 + 0.4·x2·x3 + 0.4·noise,  label = score > 0,
// split 900/300. With PyTorch's generator (the default) these are the notebook's own rows: after
// torch.manual_seed(seed), X = randn(1200, 10), noise = randn(1200), the score in float32 tensor arithmetic,
// and random_split(…, [900, 300], generator=torch.Generator().manual_seed(seed)). With mulberry32 the first
// 900 rows train and the last 300 test.
import { Rng, type RngKind } from '../train/rng.js';
import { normalWords, TorchGenerator } from '../train/torch-rng.js';
import { singleInputDataset, type Dataset } from './dataset.js';

export const NOTEBOOK_TASK = { rows: 1200, trainRows: 900, features: 10 } as const;

/** Words PyTorch's generator draws for the data: randn(1200, 10), then randn(1200). */
export const NOTEBOOK_DATA_WORDS = normalWords(NOTEBOOK_TASK.rows * NOTEBOOK_TASK.features) + normalWords(NOTEBOOK_TASK.rows);

/**
 * Independent generator seeds from one user seed, one per purpose (data, head initialization, …), so that
 * the data do not share a stream with the trainer's shuffle (which draws from `new Rng(seed)`).
 */
export function streamSeed(seed: number, stream: number): number {
  // murmur3's 32-bit finalizer over seed + stream · golden ratio.
  let h = (seed + Math.imul(stream, 0x9e3779b9)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

export const STREAMS = { data: 1, head: 2 } as const;

export function notebookTask(seed: number, rng: RngKind = 'torch'): { train: Dataset; test: Dataset } {
  return rng === 'torch' ? torchTask(seed) : mulberryTask(seed);
}

function torchTask(seed: number): { train: Dataset; test: Dataset } {
  const { rows, trainRows, features: d } = NOTEBOOK_TASK;
  const g = new TorchGenerator(seed);
  const x = g.normalFill(new Float32Array(rows * d));
  const noise = g.normalFill(new Float32Array(rows));
  const f = Math.fround;
  // Each tensor operation rounds to float32; a Python scalar enters a float32 kernel as float32.
  const labels = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    const o = r * d;
    const linear = f(f(f(1.5) * x[o]) - f(f(0.7) * x[o + 1]));
    const score = f(f(linear + f(f(f(0.4) * x[o + 2]) * x[o + 3])) + f(f(0.4) * noise[r]));
    labels[r] = score > 0 ? 1 : 0;
  }
  // random_split: a permutation from its own generator; the first 900 indices train, in that order.
  const order = new TorchGenerator(seed).randperm(rows);
  const part = (start: number, end: number, name: string): Dataset => {
    const values = new Float32Array((end - start) * d), y = new Float64Array(end - start);
    for (let i = start; i < end; i++) {
      values.set(x.subarray(order[i] * d, order[i] * d + d), (i - start) * d);
      y[i - start] = labels[order[i]];
    }
    return singleInputDataset(`synthetic task (torch.manual_seed(${seed})), random_split ${name} (${end - start} rows)`, 'x', [d], values, y);
  };
  return { train: part(0, trainRows, 'train'), test: part(trainRows, rows, 'test') };
}

function mulberryTask(seed: number): { train: Dataset; test: Dataset } {
  const { rows, trainRows, features: d } = NOTEBOOK_TASK;
  const rng = new Rng(streamSeed(seed, STREAMS.data));
  // As the notebook draws them: X = randn(1200, 10), then noise = randn(1200).
  const x = new Float32Array(rows * d);
  for (let i = 0; i < x.length; i++) x[i] = rng.normal();
  const labels = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    const o = r * d;
    const score = 1.5 * x[o] - 0.7 * x[o + 1] + 0.4 * x[o + 2] * x[o + 3] + 0.4 * rng.normal();
    labels[r] = score > 0 ? 1 : 0;
  }
  const part = (start: number, end: number): Dataset =>
    singleInputDataset(`synthetic task (seed ${seed}), rows ${start + 1}-${end}`, 'x', [d], x.slice(start * d, end * d), labels.slice(start, end));
  return { train: part(0, trainRows), test: part(trainRows, rows) };
}
