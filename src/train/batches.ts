// Gathers examples into reused batch buffers, one per data input, with one ort.Tensor per input and batch
// size wrapping them, so a training step allocates nothing for its inputs.
import { ort } from '../runtime/session.js';
import type { Dataset, InputValues } from '../data/dataset.js';
import { exampleSize, inputsFor, inputType } from '../data/dataset.js';
import type { Dim } from '../onnx/builder.js';

export interface Batch {
  size: number;
  /** One tensor per data input, keyed by the graph's input name: the step's data feeds. */
  feeds: Record<string, ort.Tensor>;
  labels: ort.Tensor;
}

const LONG_ROW = 64;

interface Column { values: InputValues; shape: number[]; rowSize: number }

export class BatchBuffers {
  private readonly bySize = new Map<number, { batch: Batch; x: InputValues[]; y: Float32Array | BigInt64Array }>();
  private readonly columns: Column[];

  /** `names`: the graph's data inputs, fed in this order; `labelShape` is the loss's label shape, its first dim the batch. */
  constructor(private readonly data: Dataset, private readonly names: readonly string[], private readonly labelShape: Dim[], private readonly labelType: 'float' | 'int64') {
    const inputs = inputsFor(data, names);
    this.columns = names.map((n) => ({ values: inputs[n].values, shape: inputs[n].shape, rowSize: exampleSize(inputs[n]) }));
  }

  /** The batch holding rows order[start..end). Async: a data source may decode its examples per batch. */
  async gather(order: Int32Array, start: number, end: number): Promise<Batch> {
    const size = end - start;
    const entry = this.buffersFor(size);
    for (let c = 0; c < this.columns.length; c++) gatherRows(this.columns[c].values, entry.x[c], this.columns[c].rowSize, order, start, size);
    const { y } = entry;
    const labels = this.data.labels;
    if (y instanceof BigInt64Array) for (let i = 0; i < size; i++) y[i] = BigInt(labels[order[start + i]]);
    else for (let i = 0; i < size; i++) y[i] = labels[order[start + i]];
    return entry.batch;
  }

  private buffersFor(size: number) {
    let entry = this.bySize.get(size);
    if (!entry) {
      const x = this.columns.map((c) => new (c.values.constructor as new (n: number) => InputValues)(size * c.rowSize));
      const labelDims = [size, ...this.labelShape.slice(1).map((d) => (typeof d === 'number' ? d : 1))];
      const y = this.labelType === 'int64' ? new BigInt64Array(size) : new Float32Array(size);
      const batch: Batch = {
        size,
        feeds: Object.fromEntries(this.columns.map((c, i) => [this.names[i], new ort.Tensor(inputType(x[i]), x[i], [size, ...c.shape])])),
        labels: this.labelType === 'int64' ? new ort.Tensor('int64', y as BigInt64Array, labelDims) : new ort.Tensor('float32', y as Float32Array, labelDims),
      };
      entry = { batch, x, y };
      this.bySize.set(size, entry);
    }
    return entry;
  }
}

/** Rows order[start..start+size) of `from` into `to`: a small row in a plain loop, cheaper than a subarray; a long one with set. */
function gatherRows(from: InputValues, to: InputValues, rowSize: number, order: Int32Array, start: number, size: number): void {
  for (let i = 0; i < size; i++) {
    const f = order[start + i] * rowSize, t = i * rowSize;
    if (rowSize >= LONG_ROW) to.set(from.subarray(f, f + rowSize) as never, t);
    else for (let k = 0; k < rowSize; k++) (to as Float32Array)[t + k] = (from as Float32Array)[f + k]; // the same array type: a column's buffer is made like its values
  }
}

/** Row order for one epoch: file order, or a permutation drawn from `shuffle`. */
export function batchStarts(count: number, batchSize: number): number[] {
  const starts: number[] = [];
  for (let s = 0; s < count; s += batchSize) starts.push(s);
  return starts;
}
