// Gathers examples into reused batch buffers, one per data input, with one ort.Tensor per input and batch
// size wrapping them, so a training step allocates nothing for its inputs. A lazy input (decoded images) is
// loaded per batch into one of two buffers: while the caller runs a batch, the next one is read ahead into
// the other, so at most two batches are ever decoded.
import { ort } from '../runtime/session.js';
import type { Dataset, InputValues, LazyInput } from '../data/dataset.js';
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
interface Entry { batch: Batch; x: InputValues[]; y: Float32Array | BigInt64Array }

/** One of the two buffers a lazy input is loaded into, with the batches (one per size) that view it. */
interface Slot { values: Float32Array; bySize: Map<number, Entry> }

/** A batch being read ahead: which examples, for which epoch, into which slot. */
interface Ahead { indices: Int32Array; epoch: number | undefined; slot: Slot; done: Promise<unknown> }

export class BatchBuffers {
  private readonly bySize = new Map<number, Entry>();
  private readonly columns: Column[];
  private readonly lazy?: { input: LazyInput; rowSize: number; slots: [Slot, Slot] };
  private ahead?: Ahead;

  /** `names`: the graph's data inputs, fed in this order; `labelShape` is the loss's label shape, its first dim the batch. */
  constructor(private readonly data: Dataset, private readonly names: readonly string[], private readonly labelShape: Dim[], private readonly labelType: 'float' | 'int64') {
    const inputs = inputsFor(data, names);
    const lazy = data.lazy && names.includes(data.lazy.inputName) ? data.lazy : undefined;
    this.columns = names.filter((n) => n !== lazy?.inputName).map((n) => ({ values: inputs[n].values, shape: inputs[n].shape, rowSize: exampleSize(inputs[n]) }));
    if (lazy) {
      const slot = (): Slot => ({ values: new Float32Array(0), bySize: new Map() });
      this.lazy = { input: lazy, rowSize: exampleSize(lazy), slots: [slot(), slot()] };
    }
  }

  /**
   * The batch holding rows order[start..end). `epoch` (training batches only) lets a lazy input augment.
   * The batch returned stays valid until the next call; with a lazy input, that call's batch is read
   * ahead meanwhile (the rows after `end` in the same order and epoch).
   */
  async gather(order: Int32Array, start: number, end: number, epoch?: number): Promise<Batch> {
    const size = end - start;
    const entry = this.lazy ? await this.loadLazy(order, start, end, epoch) : this.buffersFor(this.bySize, size);
    for (let c = 0; c < this.columns.length; c++) gatherRows(this.columns[c].values, entry.x[c], this.columns[c].rowSize, order, start, size);
    const { y } = entry;
    const labels = this.data.labels;
    if (y instanceof BigInt64Array) for (let i = 0; i < size; i++) y[i] = BigInt(labels[order[start + i]]);
    else for (let i = 0; i < size; i++) y[i] = labels[order[start + i]];
    return entry.batch;
  }

  /** The lazy input's rows into a slot: the one read ahead if it holds these rows, else loaded now; then the next batch read ahead. */
  private async loadLazy(order: Int32Array, start: number, end: number, epoch: number | undefined): Promise<Entry> {
    const lazy = this.lazy!;
    const indices = order.slice(start, end);
    const ahead = this.ahead;
    this.ahead = undefined;
    let slot: Slot;
    if (ahead && ahead.epoch === epoch && sameIndices(ahead.indices, indices)) {
      await ahead.done;
      slot = ahead.slot;
    } else {
      // Not the batch read ahead (a new epoch's order, evaluation from the start): wait until it stops writing, then load.
      if (ahead) await ahead.done.catch(() => undefined);
      slot = lazy.slots[0];
      await lazy.input.load(indices, this.lazyValues(slot, indices.length), epoch);
    }
    const entry = this.buffersFor(slot.bySize, indices.length, slot);
    if (end < order.length) {
      const next = order.slice(end, Math.min(order.length, end + indices.length));
      const other = lazy.slots[slot === lazy.slots[0] ? 1 : 0];
      const done = lazy.input.load(next, this.lazyValues(other, next.length), epoch);
      done.catch(() => undefined); // a read-ahead nobody asks for may fail unseen; the batch asked for fails when loaded
      this.ahead = { indices: next, epoch, slot: other, done };
    }
    return entry;
  }

  /** The first rows × rowSize values of a slot's buffer, grown (and its batches dropped) where too small. */
  private lazyValues(slot: Slot, rows: number): Float32Array {
    const length = rows * this.lazy!.rowSize;
    if (slot.values.length < length) {
      slot.values = new Float32Array(length);
      slot.bySize.clear();
    }
    return slot.values.subarray(0, length);
  }

  private buffersFor(cache: Map<number, Entry>, size: number, slot?: Slot): Entry {
    let entry = cache.get(size);
    if (!entry) {
      const x = this.columns.map((c) => new (c.values.constructor as new (n: number) => InputValues)(size * c.rowSize));
      const labelDims = [size, ...this.labelShape.slice(1).map((d) => (typeof d === 'number' ? d : 1))];
      const y = this.labelType === 'int64' ? new BigInt64Array(size) : new Float32Array(size);
      const feeds: Record<string, ort.Tensor> = Object.fromEntries(this.columns.map((c, i) => [this.eagerName(i), new ort.Tensor(inputType(x[i]), x[i], [size, ...c.shape])]));
      if (slot) feeds[this.lazy!.input.inputName] = new ort.Tensor('float32', this.lazyValues(slot, size), [size, ...this.lazy!.input.shape]);
      const batch: Batch = {
        size,
        feeds: Object.fromEntries(this.names.map((n) => [n, feeds[n]])),
        labels: this.labelType === 'int64' ? new ort.Tensor('int64', y as BigInt64Array, labelDims) : new ort.Tensor('float32', y as Float32Array, labelDims),
      };
      entry = { batch, x, y };
      cache.set(size, entry);
    }
    return entry;
  }

  /** The graph input name of eager column i. */
  private eagerName(i: number): string {
    return this.names.filter((n) => n !== this.lazy?.input.inputName)[i];
  }
}

function sameIndices(a: Int32Array, b: Int32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
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
