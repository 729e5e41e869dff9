// One onnxruntime-node InferenceSession per artifact. Small models run best on one intra-op thread: the
// per-step work is tiny and thread hand-offs cost more than they save.
import type * as Ort from 'onnxruntime-node';
import { existsSync, readdirSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import type { ModelProto } from '../onnx/proto.js';
import { encodeModel } from '../onnx/io.js';
import { UserError } from '../errors.js';
import { requirePackage } from '../require.js';

const ort: typeof Ort = requirePackage('onnxruntime-node');
/** The onnxruntime-node types the rest of the project names as ort.X. */
declare namespace ort {
  type Tensor = Ort.Tensor;
  type InferenceSession = Ort.InferenceSession;
}

export type Device = 'cpu' | 'cuda' | 'webgpu';
export const DEVICES: readonly Device[] = ['cpu', 'cuda', 'webgpu'];

export interface SessionOptions {
  device?: Device;
  /** Intra-op threads; default 1. */
  threads?: number;
}

export const CUDA_INSTALL_HINT = 'node node_modules/onnxruntime-node/script/install --onnxruntime-node-install=cuda12';

/**
 * Models with at least this many parameters default to every core. Their GEMMs split well across threads
 * (the 784-1024-1024-10 MLP's step: 53 ms on 1 thread, 36 ms on 2, the same bits); a smaller model's step
 * is mostly per-node overhead, which more threads only add to.
 */
export const MULTI_THREAD_MIN_PARAMETERS = 1 << 20;

/** Intra-op threads for a model of this many parameters when none are asked for. */
export function defaultThreads(parameters: number): number {
  return parameters >= MULTI_THREAD_MIN_PARAMETERS ? availableParallelism() : 1;
}

// ONNX Runtime's own log lines (warnings about unused initializers, provider load failures) are not for
// our users: every failure reaches them as one error message instead.
ort.env.logLevel = 'fatal';

/** onnxruntime-node ships the CPU provider; the CUDA one arrives only with ONNXRUNTIME_NODE_INSTALL=cuda12. */
export function cudaProviderInstalled(): boolean {
  const bin = join(dirname(requirePackage.resolve('onnxruntime-node')), '..', 'bin');
  if (!existsSync(bin)) return false;
  return readdirSync(bin).some((napi) => existsSync(join(bin, napi, process.platform, process.arch, 'libonnxruntime_providers_cuda.so')));
}

/** A device this onnxruntime-node can run on, or a UserError saying why not. */
export function checkDevice(device: Device = 'cpu'): void {
  if (!DEVICES.includes(device)) throw new UserError(`unknown device '${device}' (expected one of: ${DEVICES.join(', ')})`);
  if (device === 'cuda' && !cudaProviderInstalled()) throw cudaMissing();
  // Without a Vulkan loader, Dawn (the WebGPU implementation inside ONNX Runtime) finds no adapter, after
  // writing its own warning to stderr: said here first, in one line.
  if (device === 'webgpu' && process.platform === 'linux' && !vulkanLoaderFound()) throw webgpuMissing('the Vulkan loader, libvulkan.so.1, is not installed');
}

/** Whether libvulkan.so.1 is where the dynamic loader looks (LD_LIBRARY_PATH, then the usual library folders). */
function vulkanLoaderFound(): boolean {
  const dirs = [...(process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean), `/usr/lib/${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu`, '/usr/lib64', '/usr/lib', '/lib64', '/lib'];
  return dirs.some((dir) => existsSync(join(dir, 'libvulkan.so.1')));
}

function sessionOptions(options: SessionOptions): Ort.InferenceSession.SessionOptions {
  const device = options.device ?? 'cpu';
  checkDevice(device);
  return { executionProviders: [device], intraOpNumThreads: options.threads ?? 1, interOpNumThreads: 1, graphOptimizationLevel: 'all' };
}

export async function createSession(model: ModelProto | Uint8Array, options: SessionOptions = {}): Promise<ort.InferenceSession> {
  const settings = sessionOptions(options);
  const bytes = model instanceof Uint8Array ? model : encodeModel(model);
  try {
    return await ort.InferenceSession.create(bytes, settings);
  } catch (e) {
    throw sessionError(e as Error, options);
  }
}

export type Feeds = Record<string, ort.Tensor>;
export type Results = Record<string, ort.Tensor>;

/** A session for the training loop, whose run answers synchronously where it can. */
export interface StepSession {
  /** Whether run answers synchronously (the native binding) rather than with a promise. */
  readonly synchronous: boolean;
  run(feeds: Feeds): Results | Promise<Results>;
  release(): Promise<void>;
}

/**
 * `outputs` limits what each run returns (default: every graph output); `into` names outputs to be written
 * into the given tensors rather than into new ones.
 *
 * The training loop makes thousands of tiny runs, and InferenceSession.run costs ~20 µs a call in its
 * setImmediate hop and wrapping, as much as a small model's whole forward pass. onnxruntime-node's native
 * binding runs synchronously; we call it directly when it is there, and fall back to the public API if a
 * future onnxruntime-node moves it.
 */
export async function createStepSession(model: ModelProto, options: SessionOptions = {}, outputs?: string[], into?: Results): Promise<StepSession> {
  const settings = sessionOptions(options);
  const bytes = encodeModel(model);
  const binding = nativeBinding();
  if (!binding) {
    const session = await createSession(bytes, options);
    const names = outputs ?? session.outputNames;
    const fetches = into ? Object.fromEntries(names.map((name) => [name, into[name] ?? null])) : names;
    return { synchronous: false, run: (feeds) => session.run(feeds, fetches as never), release: () => session.release() };
  }
  return sessions.take(bytes, settings, outputs, into, () => {
    const native = new binding.InferenceSession();
    try {
      native.loadModel(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength, settings);
    } catch (e) {
      throw sessionError(e as Error, options);
    }
    // Only the outputs asked for: each fetched one costs a copy into a new JavaScript tensor.
    const fetches = Object.fromEntries((outputs ?? native.outputMetadata.map((m) => m.name)).map((name) => [name, null]));
    return { fetches, run: (feeds: Feeds, own?: Record<string, ort.Tensor | null>) => native.run(feeds, own ?? fetches, {}) as Results, dispose: () => native.dispose() };
  });
}

/**
 * Sessions of small graphs, kept for whoever asks for the same graph (the same bytes) with the same settings
 * and outputs: a stage's validation and the final test evaluation run one eval graph, and `compare`'s
 * strategies share some. Loading a session costs milliseconds; a graph's bytes are hashed only where they
 * are small. A session nobody holds stays open for the next asker, up to IDLE_SESSIONS of them.
 */
const SHARED_SESSION_MAX_BYTES = 4 * 2 ** 20;
const IDLE_SESSIONS = 16;

interface LoadedSession {
  /** What a run fetches: each output asked for, null (a new tensor each run). */
  fetches: Record<string, null>;
  /** `own`: the fetches of one holder of the session, some of them tensors to write into. */
  run(feeds: Feeds, own?: Record<string, ort.Tensor | null>): Results;
  dispose(): void;
}

const sessions = new (class SessionCache {
  private readonly entries = new Map<string, { session: LoadedSession; users: number }>();

  take(bytes: Uint8Array, settings: object, outputs: string[] | undefined, into: Results | undefined, load: () => LoadedSession): StepSession {
    // Outputs written into the holder's own tensors (preallocated, e.g. in the Adam kernel's memory): this holder's fetches.
    const own = (session: LoadedSession) => (into ? { ...session.fetches, ...into } : undefined);
    if (bytes.length > SHARED_SESSION_MAX_BYTES) {
      const session = load();
      const fetches = own(session);
      return { synchronous: true, run: (feeds) => session.run(feeds, fetches), release: async () => session.dispose() };
    }
    const key = `${createHash('sha256').update(bytes).digest('hex')} ${JSON.stringify(settings)} ${JSON.stringify(outputs ?? null)}`;
    let entry = this.entries.get(key);
    if (!entry) {
      entry = { session: load(), users: 0 };
    }
    // Most recently used last: the idle sessions beyond IDLE_SESSIONS go first-used first.
    this.entries.delete(key);
    this.entries.set(key, entry);
    entry.users++;
    const held = entry;
    const fetches = own(held.session);
    let released = false;
    return {
      synchronous: true,
      run: (feeds) => held.session.run(feeds, fetches),
      release: async () => {
        if (released) return;
        released = true;
        held.users--;
        this.trim();
      },
    };
  }

  private trim(): void {
    const idle = [...this.entries].filter(([, e]) => e.users === 0);
    for (const [key, entry] of idle.slice(0, Math.max(0, idle.length - IDLE_SESSIONS))) {
      this.entries.delete(key);
      entry.session.dispose();
    }
  }
})();

interface NativeSession {
  loadModel(buffer: ArrayBuffer, byteOffset: number, byteLength: number, options: object): void;
  readonly outputMetadata: { name: string }[];
  run(feeds: Feeds, fetches: Record<string, ort.Tensor | null>, options: object): unknown;
  dispose(): void;
}

let cachedBinding: { InferenceSession: new () => NativeSession } | null | undefined;

function nativeBinding() {
  if (cachedBinding === undefined) {
    try {
      const module = requirePackage('onnxruntime-node/dist/binding.js');
      module.initOrt();
      cachedBinding = typeof module.binding?.InferenceSession === 'function' ? module.binding : null;
    } catch {
      cachedBinding = null;
    }
  }
  return cachedBinding;
}

function sessionError(e: Error, options: SessionOptions): Error {
  const message = e.message;
  if (options.device === 'cuda' && /cuda|providers_shared|Failed to load/i.test(message)) return cudaMissing(message.split('\n')[0]);
  if (options.device === 'webgpu' && /adapter|webgpu|dawn/i.test(message)) return webgpuMissing(message.split('\n')[0].replace(/^.*?(Failed to get a WebGPU adapter)/, '$1'));
  return e;
}

function webgpuMissing(why: string): UserError {
  return new UserError(`--device webgpu: no WebGPU adapter on this machine (${why.slice(0, 200)}); install the GPU's Vulkan driver (Debian: libvulkan1 and the vendor's ICD), or use --device cpu or cuda`);
}

function cudaMissing(detail?: string): UserError {
  const why = detail ? ` (${detail.slice(0, 200)})` : '';
  return new UserError(`the CUDA execution provider is not installed in onnxruntime-node${why}; install it with: ${CUDA_INSTALL_HINT}`);
}

export { ort };
