// The browser's sessions: onnxruntime-web, on WebAssembly (SIMD; threads where the page is cross-origin
// isolated) or WebGPU. The same exports as session.ts, so the trainer runs on either unchanged. Sessions
// answer with promises here: the WASM backend runs a graph in a worker or in an async call.
import * as Ort from 'onnxruntime-web';
import type { ModelProto } from '../onnx/proto.js';
import { encodeModel } from '../onnx/io.js';
import { UserError } from '../errors.js';

const ort = Ort;
/** The onnxruntime-web types the rest of the project names as ort.X. */
declare namespace ort {
  type Tensor = Ort.Tensor;
  type InferenceSession = Ort.InferenceSession;
}

/** 'cpu' is the WebAssembly backend (the library's `device: 'wasm'`). */
export type Device = 'cpu' | 'cuda' | 'webgpu';
export const DEVICES: readonly Device[] = ['cpu', 'webgpu'];

export interface SessionOptions {
  device?: Device;
  /** WebAssembly threads; default 1. ONNX Runtime takes them once, at its first session. */
  threads?: number;
}

export const MULTI_THREAD_MIN_PARAMETERS = 1 << 20;
export function defaultThreads(_parameters: number): number {
  return 1;
}

ort.env.logLevel = 'fatal';

/** Where the .wasm files lie (the page's folder by default); set before the first session. */
export function setWasmPaths(prefix: string): void {
  ort.env.wasm.wasmPaths = prefix;
}

let threadsSet: number | undefined;

/** A device this browser can run on, or a UserError saying why not. */
export async function checkWebDevice(device: Device = 'cpu'): Promise<void> {
  if (device === 'cuda') throw new UserError("device 'cuda' is Node's; in the browser use 'wasm' or 'webgpu'");
  if (device !== 'webgpu') return;
  const gpu = (globalThis.navigator as { gpu?: { requestAdapter(): Promise<unknown> } } | undefined)?.gpu;
  const adapter = gpu ? await gpu.requestAdapter().catch(() => null) : null;
  if (!adapter) throw webgpuMissing(gpu ? 'navigator.gpu.requestAdapter() found no adapter' : 'this browser has no navigator.gpu');
}

export function checkDevice(device: Device = 'cpu'): void {
  if (device === 'cuda') throw new UserError("device 'cuda' is Node's; in the browser use 'wasm' or 'webgpu'");
}

function settings(options: SessionOptions): Ort.InferenceSession.SessionOptions {
  const device = options.device ?? 'cpu';
  checkDevice(device);
  // Threads need SharedArrayBuffer, which only a cross-origin isolated page (COOP + COEP) has.
  const threads = globalThis.crossOriginIsolated ? Math.max(1, options.threads ?? 1) : 1;
  if (threadsSet === undefined) ort.env.wasm.numThreads = threadsSet = threads;
  return { executionProviders: [device === 'webgpu' ? 'webgpu' : 'wasm'], graphOptimizationLevel: 'all' };
}

export async function createSession(model: ModelProto | Uint8Array, options: SessionOptions = {}): Promise<ort.InferenceSession> {
  if (options.device === 'webgpu') await checkWebDevice('webgpu');
  const bytes = model instanceof Uint8Array ? model : encodeModel(model);
  try {
    return await ort.InferenceSession.create(bytes, settings(options));
  } catch (e) {
    throw sessionError(e as Error, options);
  }
}

export type Feeds = Record<string, ort.Tensor>;
export type Results = Record<string, ort.Tensor>;

export interface StepSession {
  readonly synchronous: boolean;
  run(feeds: Feeds): Results | Promise<Results>;
  release(): Promise<void>;
}

export async function createStepSession(model: ModelProto, options: SessionOptions = {}, outputs?: string[]): Promise<StepSession> {
  const session = await createSession(model, options);
  const names = outputs ?? [...session.outputNames];
  return { synchronous: false, run: (feeds) => session.run(feeds, names), release: () => session.release() };
}

function sessionError(e: Error, options: SessionOptions): Error {
  if (options.device === 'webgpu' && /adapter|webgpu/i.test(e.message)) return webgpuMissing(e.message.split('\n')[0]);
  return e;
}

function webgpuMissing(why: string): UserError {
  return new UserError(`device 'webgpu': no WebGPU adapter in this browser (${why.slice(0, 200)}); use device 'wasm'`);
}

export { ort };
