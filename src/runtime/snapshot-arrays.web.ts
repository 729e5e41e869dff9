// Snapshot copies in the browser: plain buffers. Shared memory exists only on cross-origin isolated pages,
// and there is no checkpoint writer thread to share them with.

export function snapshotCopy<T extends Float32Array | Int32Array>(values: T): T {
  return values.slice() as T;
}

export function recycle(_buffers: Iterable<ArrayBufferLike>): void {}
