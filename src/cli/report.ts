// What a command prints and the <strategy>.json report it writes.
import type { TrainResult } from '../train/trainer.js';
import type { Plan, StrategyKey } from '../train/strategies.js';

/** The record --json prints for one strategy. */
export interface RunRecord {
  strategy: StrategyKey;
  accuracy: number;
  epoch_losses: number[];
  /** Path of the trained .onnx file. */
  model: string;
  steps: number;
  seconds: number;
}

export function runRecord(result: TrainResult, modelPath: string): RunRecord {
  return { strategy: result.strategy, accuracy: result.accuracy, epoch_losses: result.epochLosses, model: modelPath, steps: result.steps, seconds: round(result.seconds, 3) };
}

/** The <strategy>.json file: the record plus everything needed to rerun it; `classes`, where the data names them, the class of each index. */
export function reportJson(record: RunRecord, result: TrainResult, plan: Plan, settings: object, sources: object, version: string, classes?: string[]) {
  return {
    ...record,
    ...(classes ? { classes } : {}),
    test_loss: result.testLoss,
    skipped_batches: result.skippedBatches,
    plan: plan.stages.map((s) => ({ stage: s.name, epochs: s.epochs, groups: s.groups })),
    settings,
    data: sources,
    onnx_finetune: version,
  };
}

export function humanSummary(records: RunRecord[], results: TrainResult[], dir: string, description: string[]): string {
  const lines = [...description];
  const width = Math.max(...records.map((r) => r.strategy.length));
  lines.push(`${'strategy'.padEnd(width)}  accuracy  test loss  steps  seconds`);
  records.forEach((r, i) => {
    lines.push(`${r.strategy.padEnd(width)}  ${r.accuracy.toFixed(4).padStart(8)}  ${results[i].testLoss.toFixed(4).padStart(9)}  ${String(r.steps).padStart(5)}  ${r.seconds.toFixed(2).padStart(7)}`);
  });
  for (const r of records) lines.push(`  ${r.strategy} epoch losses: ${r.epoch_losses.map((l) => l.toFixed(4)).join(' ')}`);
  results.forEach((r) => r.skippedBatches > 0 && lines.push(`  ${r.strategy}: skipped ${r.skippedBatches} of ${r.steps} batches for a non-finite loss or gradient`));
  lines.push(`wrote ${records.map((r) => r.strategy).join(', ')} (.onnx + .safetensors + .json) to ${dir}`);
  return lines.join('\n') + '\n';
}

/** The seed notebook's closing line: {'linear_probe': 0.627, 'partial_unfreeze': 0.783, 'full_fine_tune': 0.883}. */
export function notebookDict(records: RunRecord[]): string {
  return `{${records.map((r) => `'${r.strategy}': ${pythonFloat(round(r.accuracy, 3))}`).join(', ')}}`;
}

/** A float as Python's repr prints it for these values: 0.78, 1.0, 0.0. */
function pythonFloat(x: number): string {
  return Number.isInteger(x) ? x.toFixed(1) : String(x);
}

function round(x: number, digits: number): number {
  return Number(x.toFixed(digits));
}
