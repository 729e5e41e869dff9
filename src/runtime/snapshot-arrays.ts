// Copies of arrays for a run's snapshots, in shared memory recycled from one checkpoint to the next. A fresh
// 20 MB buffer per checkpoint costs more than copying into it (the pages are faulted in, and V8 collects
// garbage as external memory grows); shared memory also reaches the checkpoint writer's thread without a copy
// or a transfer. A buffer comes back only through recycle, once the checkpoint holding it is on disk.

/** The most bytes kept for reuse between checkpoints (past it, buffers are left to the garbage collector). */
const KEEP_BYTES = 256 * 2 ** 20;
const free = new Map<number, SharedArrayBuffer[]>();
let kept = 0;

/** A copy of `values` in shared memory, reusing a recycled buffer of its size where there is one. */
export function snapshotCopy<T extends Float32Array | Int32Array>(values: T): T {
  const buffer = free.get(values.byteLength)?.pop();
  if (buffer) kept -= buffer.byteLength;
  const copy = new (values.constructor as new (b: SharedArrayBuffer) => T)(buffer ?? new SharedArrayBuffer(values.byteLength));
  copy.set(values);
  return copy;
}

/** Buffers of snapshot copies no longer read by anyone, to be reused. */
export function recycle(buffers: Iterable<ArrayBufferLike>): void {
  for (const buffer of buffers) {
    if (!(buffer instanceof SharedArrayBuffer) || kept + buffer.byteLength > KEEP_BYTES) continue;
    kept += buffer.byteLength;
    const list = free.get(buffer.byteLength) ?? [];
    list.push(buffer);
    free.set(buffer.byteLength, list);
  }
}
