// Adam over several threads, for models with millions of parameters: the WebAssembly kernel of
// adam-kernel.wat, instantiated once per thread over one shared memory. The update is elementwise, so each
// thread takes its own range of every parameter (split at multiples of four elements, the kernel's lanes):
// the same operations on the same values, so the same bits as one thread. The training thread copies the
// parameters and gradients in, does its own share, waits for the others (Atomics), and copies the
// parameters out. Threads wait between steps without spinning.
import { Worker } from 'node:worker_threads';
import { ADAM_KERNEL_SHARED_WASM } from './adam-kernel-wasm.js';
import { adamScalars, type Optimizer, type UpdateKernel } from './optimizer.js';

/**
 * Trained parameters (a stage's, all together) from which several threads may pay; below it the update fits
 * the caches and takes under a millisecond on one thread, less than waking the others costs. On the 2-core
 * VM, 2 threads were slower at 2^18 and 2^19 parameters (0.5 → 0.6-0.9 ms, 0.9 → 1.1 ms), and even at 2^20
 * and 1.9M the two were within the noise of a shared machine; the same threshold as ONNX Runtime's (session.ts).
 */
export const ADAM_THREADS_MIN_PARAMETERS = 1 << 20;

/**
 * One parameter's update, as the threads read it (share): byte offsets of the parameter, gradient and moments,
 * lanes, the scalars w1 b2 w2 eps negStep bc2 (adamScalars), decay, wd, and the weight decay's Mode.
 */
const RECORD = 14;
const enum Mode { Plain, Coupled, Decoupled }
/** control[0]: the step's generation (threads wait on it); [1]: threads still working; [2]: records this step. */
const enum Control { Generation, Working, Records }

interface Exports {
  adam(p: number, g: number, m: number, v: number, n: number, w1: number, b2: number, w2: number, eps: number, negStep: number, bc2: number): void;
  decayGradient(g: number, p: number, n: number, wd: number): void;
  scale(p: number, n: number, c: number): void;
}

const lanes = (n: number) => (n + 3) & ~3;
let compiled: WebAssembly.Module | null | undefined;

export class ThreadedAdamKernel implements UpdateKernel {
  private constructor(
    private readonly x: Exports,
    private readonly heap: Float32Array,
    private readonly workers: Worker[],
    private readonly control: Int32Array,
    private readonly records: Float64Array,
    /** Each parameter's place in the memory (elements): parameter, gradient and moments at fixed distances. */
    private readonly offsets: ReadonlyMap<string, number>,
    private readonly stride: number,
  ) {}

  /** Undefined without WebAssembly SIMD and threads, or where the memory would pass 4 GiB. */
  static create(sizes: ReadonlyMap<string, number>, threads: number): ThreadedAdamKernel | undefined {
    if (compiled === undefined) {
      try {
        compiled = new WebAssembly.Module(Buffer.from(ADAM_KERNEL_SHARED_WASM, 'base64'));
      } catch {
        compiled = null;
      }
    }
    // Four regions (parameters, gradients, first and second moments), each parameter at the same place in
    // each; a 64-byte gap keeps the regions from starting at the same offset in a page (adam-kernel.ts).
    const offsets = new Map<string, number>();
    let total = 0;
    for (const [name, n] of sizes) {
      offsets.set(name, total);
      total += lanes(n);
    }
    const stride = total + 16;
    const pages = Math.ceil((4 * 4 * stride) / 65536);
    if (!compiled || pages > 65536) return undefined;
    let memory: WebAssembly.Memory;
    try {
      memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
    } catch {
      return undefined;
    }
    const x = new WebAssembly.Instance(compiled, { env: { memory } }).exports as unknown as Exports;
    const control = new Int32Array(new SharedArrayBuffer(16));
    const records = new Float64Array(new SharedArrayBuffer(8 * RECORD * Math.max(1, sizes.size)));
    const source = `${share.toString()}\n(${adamThread.toString()})()`;
    const workers = Array.from({ length: threads - 1 }, (_, i) => {
      const worker = new Worker(source, { eval: true, workerData: { module: compiled, memory, control, records, index: i + 1, threads } });
      worker.unref();
      return worker;
    });
    return new ThreadedAdamKernel(x, new Float32Array(memory.buffer), workers, control, records, offsets, stride);
  }

  step(optimizer: Optimizer, params: ReadonlyMap<string, Float32Array>, grads: ReadonlyMap<string, Float32Array>): void {
    const { heap, records, stride, control } = this;
    let count = 0;
    for (const group of optimizer.groups) {
      const mode = group.weightDecay === 0 ? Mode.Plain : optimizer.kind === 'adam' ? Mode.Coupled : Mode.Decoupled;
      for (const name of group.params) {
        const state = optimizer.state.get(name)!;
        const p = params.get(name)!, at = this.offsets.get(name)!;
        state.expAvg = adopt(heap.subarray(at + 2 * stride, at + 2 * stride + p.length), state.expAvg);
        state.expAvgSq = adopt(heap.subarray(at + 3 * stride, at + 3 * stride + p.length), state.expAvgSq);
        heap.set(p, at);
        heap.set(grads.get(name)!, at + stride);
        const { w1, b2, w2, eps, wd, decay, negStep, bc2 } = adamScalars(group, state.step);
        records.set([4 * at, 4 * (at + stride), 4 * (at + 2 * stride), 4 * (at + 3 * stride), lanes(p.length), w1, b2, w2, eps, negStep, bc2, decay, wd, mode], RECORD * count++);
      }
    }
    const threads = this.workers.length + 1;
    control[Control.Records] = count;
    Atomics.store(control, Control.Working, threads - 1);
    Atomics.add(control, Control.Generation, 1);
    Atomics.notify(control, Control.Generation);
    share(this.x, records, count, 0, threads);
    for (let working; (working = Atomics.load(control, Control.Working)) > 0; ) Atomics.wait(control, Control.Working, working);
    for (const group of optimizer.groups) {
      for (const name of group.params) {
        const p = params.get(name)!, at = this.offsets.get(name)!;
        p.set(heap.subarray(at, at + p.length));
      }
    }
  }

  async release(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/** A moment's view in the shared memory, holding the state's values: a snapshot's, or zeros before a first step. */
function adopt(view: Float32Array, current: Float32Array | undefined): Float32Array {
  if (current !== view) {
    if (current) view.set(current);
    else view.fill(0);
  }
  return view;
}

/**
 * Thread `index` of `threads`: its range of every record's lanes, in whole vectors of four. Run by every
 * thread from its source text, so it uses nothing outside itself.
 */
function share(x: Exports, records: Float64Array, count: number, index: number, threads: number): void {
  for (let r = 0; r < count; r++) {
    const at = r * 14;
    const vectors = records[at + 4] / 4;
    const from = 4 * Math.floor((vectors * index) / threads), to = 4 * Math.floor((vectors * (index + 1)) / threads);
    const n = to - from, offset = 4 * from;
    if (n === 0) continue;
    const p = records[at] + offset, g = records[at + 1] + offset, mode = records[at + 13];
    if (mode === 2) x.scale(p, n, records[at + 11]);
    if (mode === 1) x.decayGradient(g, p, n, records[at + 12]);
    x.adam(p, g, records[at + 2] + offset, records[at + 3] + offset, n, records[at + 5], records[at + 6], records[at + 7], records[at + 8], records[at + 9], records[at + 10]);
  }
}

/** A helper thread: waits for a step's generation, does its share, counts itself done. */
function adamThread(): void {
  const { workerData } = process.getBuiltinModule('node:worker_threads');
  const { module, memory, control, records, index, threads } = workerData as { module: WebAssembly.Module; memory: WebAssembly.Memory; control: Int32Array; records: Float64Array; index: number; threads: number };
  const x = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as Exports;
  // From generation 0: a step asked for before this thread started is still its to do.
  for (let seen = 0; ; ) {
    Atomics.wait(control, 0, seen);
    seen = Atomics.load(control, 0);
    share(x, records, control[2], index, threads);
    if (Atomics.sub(control, 1, 1) === 1) Atomics.notify(control, 1);
  }
}
