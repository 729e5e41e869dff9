// A validation set taken from the training data before training: a seeded share of the examples, stratified
// by class for classification (each class gives its share, as scikit-learn's train_test_split(stratify=y)),
// drawn at random for regression. The same seed and data give the same split, so a resumed run trains on
// exactly the examples the interrupted one did.
import { UserError } from '../errors.js';
import { Rng } from '../train/rng.js';
import { exampleLocation, exampleSize, type Dataset } from './dataset.js';

export interface Split {
  train: Dataset;
  validation: Dataset;
}

/** `fraction` of the examples (rounded up, as scikit-learn does) into the validation set; both sets keep the file's order. */
export function splitValidation(data: Dataset, fraction: number, seed: number, options: { stratify: boolean; option?: string }): Split {
  const option = options.option ?? '--val-split';
  if (!(fraction > 0 && fraction < 1)) throw new UserError(`${option} must be a fraction between 0 and 1 (exclusive), got ${fraction}`);
  const wanted = Math.ceil(fraction * data.count);
  if (wanted >= data.count) throw new UserError(`${option} ${fraction} of ${data.source}'s ${data.count} examples leaves none for training`);
  const rng = new Rng(seed);
  const chosen = new Uint8Array(data.count);
  const groups = options.stratify ? byClass(data) : [Int32Array.from({ length: data.count }, (_, i) => i)];
  const shares = allocate(groups.map((g) => g.length), wanted);
  groups.forEach((group, g) => {
    const order = rng.permutation(group.length);
    for (let k = 0; k < shares[g]; k++) chosen[group[order[k]]] = 1;
  });
  if (options.stratify) {
    for (const group of groups) {
      if (group.every((i) => chosen[i])) {
        throw new UserError(`${option} ${fraction}: every example of class ${data.labels[group[0]]} in ${data.source} (${group.length}, the first at ${exampleLocation(data, group[0])}) would go to validation, none left for training; use a smaller split or --val FILE`);
      }
    }
  }
  const indices = (keep: number) => Int32Array.from({ length: data.count }, (_, i) => i).filter((i) => chosen[i] === keep);
  return { train: subsetDataset(data, indices(0), data.source), validation: subsetDataset(data, indices(1), `${data.source} (validation split)`) };
}

/** The examples' indices grouped by label, in the order classes first appear. */
function byClass(data: Dataset): Int32Array[] {
  const groups = new Map<number, number[]>();
  for (let i = 0; i < data.count; i++) {
    const label = data.labels[i];
    if (!groups.has(label)) groups.set(label, []);
    groups.get(label)!.push(i);
  }
  return [...groups.keys()].sort((a, b) => a - b).map((label) => Int32Array.from(groups.get(label)!));
}

/**
 * `total` split across groups in proportion to their sizes: each gets the floor of its exact share, and what
 * is left goes one by one to the largest remainders (ties to the larger group, then the earlier).
 */
function allocate(sizes: number[], total: number): number[] {
  const count = sizes.reduce((a, b) => a + b, 0);
  const exact = sizes.map((n) => (n * total) / count);
  const shares = exact.map(Math.floor);
  let left = total - shares.reduce((a, b) => a + b, 0);
  const byRemainder = sizes.map((_, g) => g).sort((a, b) => exact[b] - shares[b] - (exact[a] - shares[a]) || sizes[b] - sizes[a] || a - b);
  for (const g of byRemainder) {
    if (left === 0) break;
    if (shares[g] < sizes[g]) {
      shares[g]++;
      left--;
    }
  }
  return shares;
}

/** The examples at `indices`, in that order, with the data's class names and preprocessing. */
export function subsetDataset(data: Dataset, indices: Int32Array, source: string): Dataset {
  const inputs = Object.fromEntries(Object.entries(data.inputs).map(([name, input]) => {
    const size = exampleSize(input);
    const values = new (input.values.constructor as new (n: number) => typeof input.values)(indices.length * size);
    indices.forEach((from, to) => values.set(input.values.subarray(from * size, (from + 1) * size) as never, to * size));
    return [name, { shape: input.shape, values }];
  }));
  // Examples made per batch (images) are the subset's by their index in the whole set.
  const lazy = data.lazy && {
    ...data.lazy,
    load: (wanted: ArrayLike<number>, into: Float32Array, epoch?: number) => data.lazy!.load(Array.from(wanted, (i) => indices[i]), into, epoch),
    identity: new Uint8Array([...data.lazy.identity, ...new Uint8Array(indices.buffer, indices.byteOffset, indices.byteLength)]),
  };
  return {
    ...data, source, count: indices.length, inputs, ...(lazy ? { lazy } : {}),
    labels: Float64Array.from(indices, (i) => data.labels[i]),
    ...(data.lines ? { lines: Int32Array.from(indices, (i) => data.lines![i]) } : {}),
  };
}
