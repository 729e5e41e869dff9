// Growable typed arrays for readers that learn the row count only at the end of a file: values are kept in
// fixed-size typed chunks (no per-row objects, no doubling copies), joined into one array when the file ends,
// so the peak is the data twice at most, for an instant.
import type { InputType, InputValues } from './dataset.js';

type Typed = Float32Array | Float64Array | Int32Array | BigInt64Array;
type Make<T extends Typed> = (length: number) => T;

const CHUNK = 1 << 18;

export class GrowableArray<T extends Typed> {
  /** Full arrays, in order; `current` is being filled. */
  private readonly chunks: T[] = [];
  private filled = 0;
  private current: T;
  private used = 0;

  constructor(private readonly make: Make<T>) {
    this.current = make(CHUNK);
  }

  get length(): number {
    return this.filled + this.used;
  }

  push(value: T extends BigInt64Array ? bigint : number): void {
    if (this.used === this.current.length) this.nextChunk(CHUNK);
    this.current[this.used++] = value;
  }

  /**
   * Room for `total` values in one array, where a reader can estimate its size (a file's bytes per row so
   * far): if the estimate holds, finish() returns that array without a copy.
   */
  reserve(total: number): void {
    if (total <= this.length + this.current.length - this.used) return;
    const joined = this.make(total);
    this.copyInto(joined);
    this.chunks.length = 0;
    this.used = this.length;
    this.filled = 0;
    this.current = joined;
  }

  /** The values written so far, as one array of their length; the store is spent. */
  finish(): T {
    // Within an eighth of a reservation: a view of it (the rest stays allocated), rather than the data twice.
    if (this.chunks.length === 0 && this.used >= this.current.length * 0.875) return this.current.subarray(0, this.used) as T;
    const out = this.make(this.length);
    this.copyInto(out);
    this.chunks.length = 0;
    return out;
  }

  private copyInto(out: T): void {
    let at = 0;
    for (const chunk of this.chunks) {
      out.set(chunk as never, at);
      at += chunk.length;
    }
    out.set(this.current.subarray(0, this.used) as never, at);
  }

  private nextChunk(size: number): void {
    this.chunks.push(this.current);
    this.filled += this.current.length;
    this.current = this.make(size);
    this.used = 0;
  }
}

export const float32Store = () => new GrowableArray((n) => new Float32Array(n));
export const float64Store = () => new GrowableArray((n) => new Float64Array(n));
export const int32Store = () => new GrowableArray((n) => new Int32Array(n));

/** The store for a data input's element type; values are given as numbers (int64 ones converted here). */
export interface InputStore {
  readonly length: number;
  reserve(total: number): void;
  push(value: number): void;
  finish(): InputValues;
}

export function inputStore(type: InputType): InputStore {
  if (type === 'float32') return float32Store();
  if (type === 'int32') return int32Store();
  const store = new GrowableArray((n) => new BigInt64Array(n));
  return {
    get length() { return store.length; },
    push: (value: number) => store.push(BigInt(value)),
    reserve: (total: number) => store.reserve(total),
    finish: () => store.finish(),
  };
}
