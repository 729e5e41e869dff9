// What a command prints and the <strategy>.json report it writes.
import type { TrainResult } from '../train/trainer.js';
import type { Plan } from '../train/strategies.js';
import { isClassification, type Metrics, type Task } from '../train/metrics.js';

/** The record --json prints for one strategy. */
export interface RunRecord {
  /** The plan's name. */
  strategy: string;
  accuracy: number;
  test_loss: number;
  epoch_losses: number[];
  /** Path of the trained .onnx file. */
  model: string;
  steps: number;
  /** Batches skipped for a non-finite loss or gradient (--on-nonfinite skip-batch). */
  skipped_batches: number;
  seconds: number;
  /** Parameters (elements) the plan trains in any of its stages: LoRA's adapters and head, a probe's head, … */
  trainable_parameters?: number;
}

export function runRecord(result: TrainResult, modelPath: string): RunRecord {
  return {
    strategy: result.strategy, accuracy: result.accuracy, test_loss: result.testLoss, epoch_losses: result.epochLosses, model: modelPath, steps: result.steps,
    skipped_batches: result.skippedBatches, seconds: round(result.seconds, 3),
  };
}

/**
 * The <strategy>.json file: the record plus everything needed to rerun it, and the metrics in full: the task
 * they measure, the test set's, and the validation set's per epoch (where the run has one); `classes`, where
 * the data names them, the class of each index.
 */
export function reportJson(record: RunRecord, result: TrainResult, plan: Plan, settings: object, sources: object, version: string, task: Task, classes?: string[]) {
  return {
    ...record,
    ...(classes ? { classes } : {}),
    task,
    test_metrics: result.testMetrics,
    ...(result.validation.length > 0 ? { validation: result.validation } : {}),
    ...(result.selection ? { early_stopping: earlyStopping(result.selection) } : {}),
    plan: plan.stages.map((s) => ({ stage: s.name, epochs: s.epochs, groups: s.groups, ...stageSettings(s) })),
    settings,
    data: sources,
    onnx_finetune: version,
  };
}

/** What a stage sets for itself (a plan file's stage), where it does: the built-in strategies set none. */
function stageSettings(s: Plan['stages'][number]) {
  const given = { optimizer: s.optimizer, batch_norm: s.batchNorm, schedule: s.schedule, clip_norm: s.clipNorm, accumulate: s.accumulate };
  return Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined));
}

/** What the run judged by the validation set, and which epoch's weights it exported. */
/** <strategy>.json's early_stopping entry (the report shows it too). */
export function earlyStopping(s: NonNullable<TrainResult['selection']>) {
  return {
    monitor: s.monitor, patience: s.patience ?? null, keep: s.keep, best_epoch: s.bestEpoch ?? null, best_value: s.bestValue ?? null, stopped_early_at_epoch: s.stoppedEpoch ?? null,
  };
}

export function humanSummary(records: RunRecord[], results: TrainResult[], dir: string, description: string[]): string {
  const lines = [...description];
  const width = Math.max('strategy'.length, ...records.map((r) => r.strategy.length));
  // The trainable-parameter count sits beside the accuracy: what each strategy pays for its result.
  const counts = records.map((r) => (r.trainable_parameters === undefined ? '' : String(r.trainable_parameters)));
  const cw = Math.max(9, ...counts.map((c) => c.length));
  const trainable = (c: string) => (records.some((r) => r.trainable_parameters !== undefined) ? `  ${c.padStart(cw)}` : '');
  lines.push(`${'strategy'.padEnd(width)}  accuracy${trainable('trainable')}  test loss  steps  seconds`);
  records.forEach((r, i) => {
    lines.push(`${r.strategy.padEnd(width)}  ${r.accuracy.toFixed(4).padStart(8)}${trainable(counts[i])}  ${results[i].testLoss.toFixed(4).padStart(9)}  ${String(r.steps).padStart(5)}  ${r.seconds.toFixed(2).padStart(7)}`);
  });
  for (const r of records) lines.push(`  ${r.strategy} epoch losses: ${r.epoch_losses.map((l) => l.toFixed(4)).join(' ')}`);
  for (const r of results) lines.push(`  ${r.strategy} test: ${shortMetrics(r.testMetrics)}`);
  for (const r of results) {
    if (r.validation.length === 0) continue;
    lines.push(`  ${r.strategy} validation:`);
    for (const v of r.validation) lines.push(`    epoch ${String(v.epoch).padStart(3)} (${v.stage})  loss ${v.loss.toFixed(4)}  ${shortMetrics(v)}`);
  }
  for (const r of results) {
    const s = r.selection;
    if (!s) continue;
    const best = s.bestEpoch === undefined ? `no epoch gave a ${s.monitor}` : `best ${s.monitor} ${s.bestValue!.toFixed(4)} at epoch ${s.bestEpoch}`;
    lines.push(`  ${r.strategy}: ${best}${s.stoppedEpoch !== undefined ? `; stopped early after epoch ${s.stoppedEpoch}` : ''}; exported the ${s.keep === 'best' && s.bestEpoch !== undefined ? `best epoch's (${s.bestEpoch})` : 'last epoch\'s'} weights`);
  }
  results.forEach((r) => r.skippedBatches > 0 && lines.push(`  ${r.strategy}: skipped ${r.skippedBatches} of ${r.steps} batches for a non-finite loss or gradient`));
  lines.push(`wrote ${records.map((r) => r.strategy).join(', ')} (.onnx + .safetensors + .json) to ${dir}`);
  return lines.join('\n') + '\n';
}

/** A line's worth of metrics: the per-class figures and the confusion matrix are in the .json report. */
export function shortMetrics(m: Metrics): string {
  const f = (x: number | null | undefined) => (x === null || x === undefined ? '-' : x.toFixed(4));
  if (!isClassification(m)) return `MAE ${f(m.mae)}  RMSE ${f(m.rmse)}  R² ${f(m.r2)}`;
  return `accuracy ${f(m.accuracy)}  macro-F1 ${f(m.macro_f1)}${m.roc_auc !== undefined ? `  ROC-AUC ${f(m.roc_auc)}` : ''}`;
}

function round(x: number, digits: number): number {
  return Number(x.toFixed(digits));
}
