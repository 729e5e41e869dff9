// onnx-finetune/web: the engine in a browser. The same graph builder, autodiff, losses, Adam kernel and trainer
// as in Node; sessions come from onnxruntime-web (WASM or WebGPU) instead of onnxruntime-node. A model and
// data arrive as bytes (a File, a fetch), never as paths.
import { decodeModel, encodeModel } from '../onnx/io.js';
import type { ModelProto } from '../onnx/proto.js';
import { describeModel } from '../model/describe.js';
import { attachLinearHead } from '../model/attach-head.js';
import { lossForHead, LOSSES, type LossName } from '../losses/index.js';
import { train, DEFAULT_TRAIN_CONFIG, type TrainConfig, type TrainResult, type Progress } from '../train/trainer.js';
import { fullFineTune, linearProbe, partialUnfreeze, NOTEBOOK_DEFAULTS, STRATEGIES, type BuiltInStrategy, type Plan } from '../train/strategies.js';
import { notebookTask, streamSeed, STREAMS } from '../data/synthetic.js';
import { parseCsvBytes, type CsvOptions } from '../data/csv.js';
import type { Dataset } from '../data/dataset.js';
import { Rng } from '../train/rng.js';
import { UserError } from '../errors.js';
import { checkWebDevice, setWasmPaths } from '../runtime/session.web.js';
import { notebookDict } from '../report/notebook-dict.js';

export type WebDevice = 'wasm' | 'webgpu';

export interface FineTuneOptions extends Partial<Omit<TrainConfig, 'device' | 'loss'>> {
  /** onnxruntime-web's backend: 'wasm' (default; SIMD, threads where the page is cross-origin isolated) or 'webgpu'. */
  device?: WebDevice;
  /** Default: from the head (one logit: bce; several: ce). */
  loss?: LossName;
}

export interface FineTuneResult extends TrainResult {
  /** The fine-tuned model as .onnx bytes, ready to save or to load into any ONNX Runtime. */
  onnx: Uint8Array;
}

export interface TrainTest {
  train: Dataset;
  test: Dataset;
  validation?: Dataset;
}

/** A model given as bytes (or already decoded). */
export function readModel(model: Uint8Array | ArrayBuffer | ModelProto, name = 'model.onnx'): ModelProto {
  if (model instanceof ArrayBuffer) return decodeModel(new Uint8Array(model), name);
  if (model instanceof Uint8Array) return decodeModel(model, name);
  return model;
}

/** A CSV file with a header (label column 'y', else the last; featureShape e.g. [1, 8, 8] for images), as the CLI reads it. */
export function readCsv(bytes: Uint8Array | ArrayBuffer | string, name = 'data.csv', options: CsvOptions = {}): Dataset {
  const data = typeof bytes === 'string' ? new TextEncoder().encode(bytes) : bytes instanceof ArrayBuffer ? new Uint8Array(bytes) : bytes;
  return parseCsvBytes(data, name, options);
}

/** A CSV file for `model`'s one input, as the command reads it: rows reshaped to the input's fixed example shape ([1, 8, 8]). */
export function readCsvFor(model: ModelProto, bytes: Uint8Array | ArrayBuffer | string, name = 'data.csv', options: CsvOptions = {}): Dataset {
  const input = describeModel(model, 'the model').inputs[0];
  const shape = input?.shape?.slice(1);
  const featureShape = shape?.every((d): d is number => typeof d === 'number') ? shape : undefined;
  return readCsv(bytes, name, { featureShape, input: input?.name, ...options });
}

/** A built-in strategy's plan with the seed notebook's settings, changed where `settings` says. */
export function strategyPlan(strategy: BuiltInStrategy, settings: Record<string, number | string> = {}): Plan {
  if (strategy === 'linear_probe') return linearProbe({ ...NOTEBOOK_DEFAULTS.linear_probe, ...settings });
  if (strategy === 'partial_unfreeze') return partialUnfreeze({ ...NOTEBOOK_DEFAULTS.partial_unfreeze, ...settings });
  if (strategy === 'full_fine_tune') return fullFineTune({ ...NOTEBOOK_DEFAULTS.full_fine_tune, ...settings });
  throw new UserError(`unknown strategy '${strategy}' (expected one of: ${STRATEGIES.join(', ')})`);
}

/**
 * The seed notebook's job, as the CLI's built-in default runs it: the seed backbone (its .onnx bytes; the
 * page fetches models/seed-backbone.onnx) with a fresh Linear(16,1) head from `seed`, and the synthetic task.
 */
export function seedJob(backbone: Uint8Array | ArrayBuffer, seed = DEFAULT_TRAIN_CONFIG.seed): { model: ModelProto; data: TrainTest } {
  const model = attachLinearHead(readModel(backbone, 'seed-backbone.onnx'), 1, new Rng(streamSeed(seed, STREAMS.head)), 'seed-backbone.onnx');
  return { model, data: notebookTask(seed) };
}

/** Trains `plan` on `model` in this browser and returns the run's results with the fine-tuned model's bytes. */
export async function fineTune(model: Uint8Array | ArrayBuffer | ModelProto, data: TrainTest, plan: Plan | BuiltInStrategy, options: FineTuneOptions = {}): Promise<FineTuneResult> {
  const proto = readModel(model);
  const device = options.device ?? 'wasm';
  if (device !== 'wasm' && device !== 'webgpu') throw new UserError(`unknown device '${device}' (expected 'wasm' or 'webgpu')`);
  await checkWebDevice(device === 'webgpu' ? 'webgpu' : 'cpu');
  const summary = describeModel(proto, 'the model');
  const logits = summary.logitsShape?.length === 2 && typeof summary.logitsShape[1] === 'number' ? summary.logitsShape[1] : 1;
  const { loss, device: _d, ...rest } = options;
  const config: TrainConfig = {
    ...DEFAULT_TRAIN_CONFIG, ...rest,
    loss: loss ? LOSSES[loss] : lossForHead(logits),
    // The trainer's 'cpu' is onnxruntime-web's WebAssembly backend here (session.web.ts).
    device: device === 'webgpu' ? 'webgpu' : 'cpu',
  };
  const result = await train(proto, typeof plan === 'string' ? strategyPlan(plan) : plan, data, config);
  return { ...result, onnx: encodeModel(result.model) };
}

export { setWasmPaths, notebookDict, STRATEGIES, NOTEBOOK_DEFAULTS, DEFAULT_TRAIN_CONFIG, UserError, encodeModel };
export type { Plan, Dataset, TrainConfig, TrainResult, Progress, BuiltInStrategy };
