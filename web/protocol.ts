// Messages between the page and its training worker.
import type { BuiltInStrategy } from '../src/train/strategies.js';

export interface TrainRequest {
  type: 'train';
  /** The seed notebook's job, or the user's model and CSV files as bytes. */
  job: { kind: 'seed' } | { kind: 'files'; model: ArrayBuffer; modelName: string; train: ArrayBuffer; trainName: string; test: ArrayBuffer; testName: string };
  strategies: BuiltInStrategy[];
  /** Per strategy: its settings over the notebook's (lr, epochs, …). */
  settings: Partial<Record<BuiltInStrategy, Record<string, number | string>>>;
  device: 'wasm' | 'webgpu';
  threads: number;
  seed: number;
  shuffle: boolean;
  batchSize: number;
}

export type WorkerMessage =
  | { type: 'step'; strategy: string; step: number; loss: number }
  | { type: 'progress'; strategy: string; stage: string; epoch: number; epochs: number; batch: number; batches: number; loss: number }
  | { type: 'result'; strategy: string; accuracy: number; testLoss: number; steps: number; seconds: number; epochLosses: number[]; onnx: ArrayBuffer; parameters: Record<string, number[]> }
  | { type: 'done'; notebook: string }
  | { type: 'stopped'; strategy: string }
  | { type: 'error'; message: string };
