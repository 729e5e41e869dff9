// In the browser Adam runs on the training thread, in the single-threaded WebAssembly kernel: the threaded
// kernel's helpers are Node worker_threads, and it pays only from a million trained parameters on.
import type { UpdateKernel } from '../optim/optimizer.js';

export const ADAM_THREADS_MIN_PARAMETERS = 1 << 20;

export class ThreadedAdamKernel {
  /** No threaded kernel here: the caller falls back to the single-threaded one. */
  static create(_sizes: ReadonlyMap<string, number>, _threads: number): UpdateKernel | undefined {
    return undefined;
  }
}
