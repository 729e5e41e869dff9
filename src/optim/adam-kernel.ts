// Adam/AdamW in WebAssembly SIMD (adam-kernel.wat). The JavaScript loop rounds to float32 a dozen times per
// element: 13 µs for the seed model's 897 parameters, more than the model's GEMMs for millions of them; an
// ONNX graph of the same elementwise operations makes a pass over memory for each one. The kernel does the
// same float32 operations, in the same order, four lanes at a time, in one pass: 3-5x faster on 897
// parameters, 7x on 1.9M, and the same bits as optimizer.ts's loop (the tests compare them).
import { ADAM_KERNEL_WASM } from './adam-kernel-wasm.js';
import { adamScalars, type Optimizer, type UpdateKernel } from './optimizer.js';

/** Base64 to bytes with atob, which Node and browsers both have (Buffer is Node's alone). */
const base64Bytes = (text: string) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));

/** Elements per chunk: a parameter chunk and its gradient (256 KiB) stay in a core's L2 cache. */
export const CHUNK = 1 << 15;
/**
 * Where the parameter and gradient chunks and then Adam's moments lie in the kernel's memory (in elements).
 * 64-byte gaps keep arrays from starting at the same offset in a 4 KiB page, where loads and stores of the
 * same index in two arrays alias in the caches (copies out of the module ran at half speed).
 */
const P = 0, G = CHUNK + 16, MOMENTS = 2 * (CHUNK + 16);

interface KernelExports {
  memory: WebAssembly.Memory;
  adam(p: number, g: number, m: number, v: number, n: number, w1: number, b2: number, w2: number, eps: number, negStep: number, bc2: number): void;
  decayGradient(g: number, p: number, n: number, wd: number): void;
  scale(p: number, n: number, c: number): void;
  allFinite(x: number, n: number): number;
}

let compiled: WebAssembly.Module | null | undefined;

/** A fresh instance of the module with at least `elements` float32s of memory; null without WebAssembly SIMD. */
function instantiate(elements: number): { x: KernelExports; heap: Float32Array } | null {
  if (compiled === undefined) {
    try {
      compiled = new WebAssembly.Module(base64Bytes(ADAM_KERNEL_WASM));
    } catch {
      compiled = null;
    }
  }
  if (!compiled) return null;
  const x = new WebAssembly.Instance(compiled).exports as unknown as KernelExports;
  try {
    x.memory.grow(Math.max(0, Math.ceil((4 * elements) / 65536) - x.memory.buffer.byteLength / 65536));
  } catch {
    return null; // past WebAssembly's 4 GiB
  }
  return { x, heap: new Float32Array(x.memory.buffer) };
}

/** Lanes past n in the last chunk hold stale values: the kernel computes them, and they are never copied out. */
const lanes = (n: number) => (n + 3) & ~3;

/**
 * Adam's moments live in the kernel's memory, where it updates them in place, and the optimizer's state
 * holds views of them; the parameters and gradients pass through in chunks.
 */
export class AdamKernel implements UpdateKernel {
  private constructor(
    private readonly x: KernelExports,
    private readonly heap: Float32Array,
    /**
     * Each parameter's first moment: where it starts in the kernel's memory, views of both moments, and a
     * view of the updated parameter chunk to copy out (a whole parameter of at most CHUNK elements).
     */
    private readonly moments: ReadonlyMap<string, { offset: number; m: Float32Array; v: Float32Array; updated: Float32Array; gradient: Float32Array }>,
    /** How far past its first moment a parameter's second moment starts, and its gradient's place. */
    private readonly second: number,
    private readonly third: number,
  ) {}

  /**
   * A place in the kernel's memory for each parameter's gradient: the train session writes the gradients
   * there (preallocated outputs), and the update reads them where they are, with no copy in between.
   */
  get gradients(): Map<string, Float32Array> {
    return new Map([...this.moments].map(([name, { gradient }]) => [name, gradient]));
  }

  /** Undefined where WebAssembly SIMD is missing or the moments do not fit: the JavaScript loop serves. */
  static create(sizes: ReadonlyMap<string, number>): AdamKernel | undefined {
    // The first moments one after another, then the second ones, then the gradients, a 64-byte gap after each (as above).
    const total = [...sizes.values()].reduce((a, n) => a + lanes(n), 0), second = total + 16, third = 2 * second;
    const k = instantiate(MOMENTS + third + total);
    if (!k) return undefined;
    let offset = MOMENTS;
    const moments = new Map([...sizes].map(([name, n]) => {
      const at = offset;
      offset += lanes(n);
      const m = k.heap.subarray(at, at + n), v = k.heap.subarray(at + second, at + second + n), gradient = k.heap.subarray(at + third, at + third + n);
      return [name, { offset: at, m, v, updated: k.heap.subarray(P, P + Math.min(n, CHUNK)), gradient }];
    }));
    return new AdamKernel(k.x, k.heap, moments, second, third);
  }

  /** Whether a parameter's gradient in its place here is all finite, checked where it lies. */
  gradientFinite(name: string): boolean {
    const { offset, gradient } = this.moments.get(name)!;
    return this.x.allFinite(4 * (offset + this.third), lanes(gradient.length)) === 1;
  }

  step(optimizer: Optimizer, params: ReadonlyMap<string, Float32Array>, grads: ReadonlyMap<string, Float32Array>): void {
    const { x, heap } = this;
    for (const group of optimizer.groups) {
      const coupled = group.weightDecay !== 0 && optimizer.kind === 'adam', decoupled = group.weightDecay !== 0 && optimizer.kind === 'adamw';
      // The group's constants depend only on its step count, the same for all its parameters but after a resume that differs.
      let scalars: ReturnType<typeof adamScalars> | undefined, scalarsStep = -1;
      for (const name of group.params) {
        const state = optimizer.state.get(name)!;
        const p = params.get(name)!, g = grads.get(name)!;
        const { offset: M, m, v, updated, gradient } = this.moments.get(name)!, V = M + this.second;
        // A gradient the session wrote into its place here is read there (its lanes past n stay zero);
        // Adam's coupled decay changes the gradient, so that one is copied as any other.
        const inPlace = g === gradient && !coupled;
        state.expAvg = adopt(m, state.expAvg);
        state.expAvgSq = adopt(v, state.expAvgSq);
        if (state.step !== scalarsStep) [scalars, scalarsStep] = [adamScalars(group, state.step), state.step];
        const { w1, b2, w2, eps, wd, decay, negStep, bc2 } = scalars!;
        // A parameter that fits one chunk is copied whole, through views made once: a small model's step
        // is short enough that making three views per parameter each step shows.
        const whole = p.length <= CHUNK;
        for (let start = 0; start < p.length; start += CHUNK) {
          const end = Math.min(start + CHUNK, p.length), n = end - start;
          heap.set(whole ? p : p.subarray(start, end), P);
          if (!inPlace) heap.set(whole ? g : g.subarray(start, end), G);
          if (decoupled) x.scale(4 * P, lanes(n), decay);
          if (coupled) x.decayGradient(4 * G, 4 * P, lanes(n), wd);
          x.adam(4 * P, 4 * (inPlace ? M + this.third + start : G), 4 * (M + start), 4 * (V + start), lanes(n), w1, b2, w2, eps, negStep, bc2);
          p.set(whole ? updated : heap.subarray(P, P + n), start);
        }
      }
    }
  }

  async release(): Promise<void> {}
}

/** A moment's view in the kernel's memory, holding the state's values: a snapshot's, or zeros before a first step. */
function adopt(view: Float32Array, current: Float32Array | undefined): Float32Array {
  if (current !== view) {
    if (current) view.set(current);
    else view.fill(0);
  }
  return view;
}

let scratch: ReturnType<typeof instantiate> | undefined;

/** Whether every value is finite (no NaN, no ±Infinity): in the kernel, one chunk at a time, for large arrays. */
export function allFinite(values: Float32Array): boolean {
  if (scratch === undefined && values.length >= CHUNK) scratch = instantiate(CHUNK);
  if (!scratch || values.length < CHUNK) {
    for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) return false;
    return true;
  }
  for (let start = 0; start < values.length; start += CHUNK) {
    const end = Math.min(start + CHUNK, values.length), n = end - start;
    scratch.heap.set(values.subarray(start, end), 0);
    scratch.heap.fill(0, n, lanes(n));
    if (!scratch.x.allFinite(0, lanes(n))) return false;
  }
  return true;
}
