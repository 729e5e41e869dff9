// The seed notebook's task: 1200 rows of 10 standard-normal features,
//   score = 1.5·x0 − 0.7·x1 + 0.4·x2·x3 + 0.4·noise,  label = score > 0,
// the first 900 rows for training and the last 300 for testing. Everything comes from one seed.
import { Rng } from '../train/rng.js';
import { singleInputDataset, type Dataset } from './dataset.js';

export const NOTEBOOK_TASK = { rows: 1200, trainRows: 900, features: 10 } as const;

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

export function notebookTask(seed: number): { train: Dataset; test: Dataset } {
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
