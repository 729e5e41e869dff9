// Gathers examples into reused batch buffers, with one ort.Tensor per batch size wrapping them, so a
// training step allocates nothing for its inputs.
import { ort } from '../runtime/session.js';
import type { Dataset } from '../data/dataset.js';
import { featureSize } from '../data/dataset.js';
import type { Dim } from '../onnx/builder.js';

export interface Batch {
  size: number;
  features: ort.Tensor;
  labels: ort.Tensor;
}

const LONG_ROW = 64;

export class BatchBuffers {
  private readonly bySize = new Map<number, { batch: Batch; x: Float32Array; y: Float32Array | BigInt64Array }>();
  private readonly rowSize: number;

  /** `labelShape` is the loss's label shape; its first dim is the batch. */
  constructor(private readonly data: Dataset, private readonly labelShape: Dim[], private readonly labelType: 'float' | 'int64') {
    this.rowSize = featureSize(data);
  }

  /** The batch holding rows order[start..end). */
  gather(order: Int32Array, start: number, end: number): Batch {
    const size = end - start;
    const entry = this.buffersFor(size);
    const { x, y } = entry;
    const { features, labels } = this.data;
    const rowSize = this.rowSize;
    // A small row is copied in a plain loop, cheaper than making a subarray for it; a long one with set.
    for (let i = 0; i < size; i++) {
      const from = order[start + i] * rowSize, to = i * rowSize;
      if (rowSize >= LONG_ROW) x.set(features.subarray(from, from + rowSize), to);
      else for (let k = 0; k < rowSize; k++) x[to + k] = features[from + k];
    }
    if (y instanceof BigInt64Array) for (let i = 0; i < size; i++) y[i] = BigInt(labels[order[start + i]]);
    else for (let i = 0; i < size; i++) y[i] = labels[order[start + i]];
    return entry.batch;
  }

  private buffersFor(size: number) {
    let entry = this.bySize.get(size);
    if (!entry) {
      const x = new Float32Array(size * this.rowSize);
      const labelDims = [size, ...this.labelShape.slice(1).map((d) => (typeof d === 'number' ? d : 1))];
      const y = this.labelType === 'int64' ? new BigInt64Array(size) : new Float32Array(size);
      const batch: Batch = {
        size,
        features: new ort.Tensor('float32', x, [size, ...this.data.featureShape]),
        labels: this.labelType === 'int64' ? new ort.Tensor('int64', y as BigInt64Array, labelDims) : new ort.Tensor('float32', y as Float32Array, labelDims),
      };
      entry = { batch, x, y };
      this.bySize.set(size, entry);
    }
    return entry;
  }
}

/** Row order for one epoch: file order, or a permutation drawn from `shuffle`. */
export function batchStarts(count: number, batchSize: number): number[] {
  const starts: number[] = [];
  for (let s = 0; s < count; s += batchSize) starts.push(s);
  return starts;
}
