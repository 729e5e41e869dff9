// Choosing the model by the validation set: early stopping (stop once the monitored metric has not improved
// for `patience` epochs, as Keras's EarlyStopping with min_delta 0) and which weights a run keeps, the last
// epoch's or the best one's (Keras's restore_best_weights, Hugging Face's load_best_model_at_end).
// The counters are not state of their own: they follow from the validation results, which a run's snapshots
// already carry, so a resumed run counts exactly as the uninterrupted one did. Only the best weights are kept.
import { UserError } from '../errors.js';
import type { Task } from './metrics.js';
import type { EpochValidation } from './trainer.js';

/** The validation metrics a run can be judged by, their key in an epoch's results, and which way is better. */
export const MONITORS = {
  val_loss: { key: 'loss', better: 'lower', tasks: ['binary', 'multiclass', 'regression'] },
  val_accuracy: { key: 'accuracy', better: 'higher', tasks: ['binary', 'multiclass'] },
  val_f1: { key: 'macro_f1', better: 'higher', tasks: ['binary', 'multiclass'] },
  val_roc_auc: { key: 'roc_auc', better: 'higher', tasks: ['binary'] },
  val_mae: { key: 'mae', better: 'lower', tasks: ['regression'] },
  val_rmse: { key: 'rmse', better: 'lower', tasks: ['regression'] },
  val_r2: { key: 'r2', better: 'higher', tasks: ['regression'] },
} as const satisfies Record<string, { key: string; better: 'lower' | 'higher'; tasks: readonly Task[] }>;

export type Monitor = keyof typeof MONITORS;
export const MONITOR_NAMES = Object.keys(MONITORS) as Monitor[];
export const KEEP = ['last', 'best'] as const;
export type Keep = (typeof KEEP)[number];

export interface Selection {
  monitor: Monitor;
  /** Epochs without improvement after which the run stops; undefined: it runs every epoch of the plan. */
  patience?: number;
  keep: Keep;
}

/** The best epoch's weights, kept while the run goes on (a snapshot carries them). */
export interface BestWeights {
  /** The epoch (counted from 1 across the plan's stages) whose weights these are. */
  epoch: number;
  parameters: Map<string, Float32Array>;
  buffers: Map<string, Float32Array>;
}

/** A monitor the task does not compute is refused before anything trains. */
export function checkMonitor(monitor: Monitor, task: Task): void {
  const tasks: readonly Task[] = MONITORS[monitor].tasks;
  if (!tasks.includes(task)) {
    const fit = MONITOR_NAMES.filter((m) => (MONITORS[m].tasks as readonly Task[]).includes(task));
    throw new UserError(`--monitor ${monitor}: a ${task} run has no such metric (choices: ${fit.join(', ')})`);
  }
}

/** The monitored value of one epoch's validation; undefined where it is not a number (NaN, or null). */
export function monitoredValue(v: EpochValidation, monitor: Monitor): number | undefined {
  const value = (v as unknown as Record<string, unknown>)[MONITORS[monitor].key];
  return typeof value === 'number' && !Number.isNaN(value) ? value : undefined;
}

/** The first epoch with the best monitored value (an improvement must be strict), or undefined if none has one. */
export function bestEpoch(validation: readonly EpochValidation[], monitor: Monitor): { epoch: number; value: number } | undefined {
  const lower = MONITORS[monitor].better === 'lower';
  let best: { epoch: number; value: number } | undefined;
  for (const v of validation) {
    const value = monitoredValue(v, monitor);
    if (value === undefined) continue;
    if (best === undefined || (lower ? value < best.value : value > best.value)) best = { epoch: v.epoch, value };
  }
  return best;
}

/** Whether the run stops after its latest validation: `patience` epochs have passed without improvement. */
export function stopsEarly(validation: readonly EpochValidation[], selection: Selection): boolean {
  if (selection.patience === undefined || validation.length === 0) return false;
  const since = validation.length - (bestEpoch(validation, selection.monitor)?.epoch ?? 0);
  return since >= selection.patience;
}
