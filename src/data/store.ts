// Growable typed arrays for readers that learn the row count only at the end of a file: values are kept in
// fixed-size typed chunks (no per-row objects, no doubling copies), joined into one array when the file ends,
// so the peak is the data twice at most, for an instant.
import type { InputType, InputValues } from './dataset.js';

type Typed = Float32Array | Float64Array | Int32Array | BigInt64Array;
type Make<T extends Typed> = (length: number) => T;

const CHUNK = 1 << 18;

export class GrowableArray<T extends Typed> {
  private readonly chunks: T[] = [];
  private current: T;
  private used = 0;

  constructor(private readonly make: Make<T>) {
    this.current = make(CHUNK);
  }

  get length(): number {
    return this.chunks.length * CHUNK + this.used;
  }

  push(value: T extends BigInt64Array ? bigint : number): void {
    if (this.used === CHUNK) this.nextChunk();
    this.current[this.used++] = value;
  }

  /** The values written so far, as one array of exactly their length; the store is spent. */
  finish(): T {
    const out = this.make(this.length);
    let at = 0;
    for (const chunk of this.chunks) {
      out.set(chunk as never, at);
      at += CHUNK;
    }
    out.set(this.current.subarray(0, this.used) as never, at);
    this.chunks.length = 0;
    return out;
  }

  private nextChunk(): void {
    this.chunks.push(this.current);
    this.current = this.make(CHUNK);
    this.used = 0;
  }
}

export const float32Store = () => new GrowableArray((n) => new Float32Array(n));
export const float64Store = () => new GrowableArray((n) => new Float64Array(n));
export const int32Store = () => new GrowableArray((n) => new Int32Array(n));

/** The store for a data input's element type; values are given as numbers (int64 ones converted here). */
export interface InputStore {
  readonly length: number;
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
    finish: () => store.finish(),
  };
}
