// Where optimizer updates fall among a stage's batches with gradient accumulation: every `accumulate` batches
// of an epoch make one update, and a last, shorter group at the epoch's end updates too (as the usual PyTorch
// loop `if (i + 1) % N == 0 or i + 1 == len(loader): optimizer.step()` and Hugging Face's Trainer do).
// A schedule's position is the update's index here: a pure function of the position in the plan.
import type { Stage } from './strategies.js';

export const accumulationOf = (stage: Pick<Stage, 'accumulate'>): number => stage.accumulate ?? 1;

/** Optimizer updates in one epoch of `batches` batches. */
export const updatesPerEpoch = (batches: number, accumulate: number): number => Math.ceil(batches / accumulate);

/** Optimizer updates in the whole stage. */
export const stageUpdates = (stage: Pick<Stage, 'accumulate' | 'epochs'>, batches: number): number => stage.epochs * updatesPerEpoch(batches, accumulationOf(stage));

/** The index (in the stage) of the update that the batch at (epoch, batch) contributes to. */
export const updateIndex = (epoch: number, batch: number, batches: number, accumulate: number): number =>
  epoch * updatesPerEpoch(batches, accumulate) + Math.floor(batch / accumulate);

/** Whether the batch at index `batch` of an epoch ends its group (an update follows it). */
export const endsGroup = (batch: number, batches: number, accumulate: number): boolean => (batch + 1) % accumulate === 0 || batch + 1 === batches;

/** Updates the stage has made once `batch` batches of epoch `epoch` have run (none skipped). */
export const updatesDone = (epoch: number, batch: number, batches: number, accumulate: number): number =>
  epoch * updatesPerEpoch(batches, accumulate) + (batch === batches ? updatesPerEpoch(batches, accumulate) : Math.floor(batch / accumulate));

/** Batches run in the current, unfinished group (whose gradients wait in the accumulation buffers). */
export const pendingBatches = (batch: number, batches: number, accumulate: number): number => (batch === batches ? 0 : batch % accumulate);
