// One event stream per run: what train() reports as it goes. The progress bar, metrics.csv and the HTML
// report subscribe to it through TrainConfig.onEvent; none of them reaches into the trainer.
import type { Metrics } from './metrics.js';

/** A stage's parameter group as the optimizer resolved it: the parameters it trains and its base learning rate. */
export interface GroupInfo {
  params: string[];
  lr: number;
}

export type RunEvent =
  /** A stage's optimizer is ready (also when a resumed run re-enters the stage it stopped in: `resumed`). */
  | { type: 'stage-start'; strategy: string; stage: string; index: number; epochs: number; groups: GroupInfo[]; step: number; resumed: boolean }
  /**
   * One batch: `step` counts the run's batches from 1 across stages, `epoch` the plan's epochs from 1; `lrs` is
   * the learning rate each group trained this batch with. `skipped`: the update was left out (a non-finite loss).
   */
  | { type: 'step'; strategy: string; stage: string; epoch: number; step: number; loss: number; lrs: number[]; skipped: boolean }
  /** An epoch's mean batch loss (batches skipped for a non-finite loss left out). */
  | { type: 'epoch-end'; strategy: string; stage: string; epoch: number; step: number; loss: number }
  | { type: 'validation'; strategy: string; stage: string; epoch: number; step: number; loss: number; metrics: Metrics }
  /** A snapshot was offered (onSnapshot) after this step. */
  | { type: 'checkpoint'; strategy: string; step: number }
  | { type: 'stage-end'; strategy: string; stage: string; index: number; step: number }
  /** The test set's evaluation, as TrainResult has it. */
  | { type: 'run-end'; strategy: string; steps: number; skippedBatches: number; accuracy: number; testLoss: number; testMetrics: Metrics; seconds: number };

export type RunEventType = RunEvent['type'];
