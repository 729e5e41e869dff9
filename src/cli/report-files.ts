// The run folder's report files: run.json (what the run is, written as it starts), metrics.csv (the step log)
// and report.html. A run writes the last two at every checkpoint, before the checkpoint itself, so that the log
// on disk always reaches at least as far as the newest checkpoint; a resumed run reads the log back and cuts it
// to the checkpoint's step. They are written once more, with the results, together with the run's outputs.
import { earlyStopping } from './report.js';
import { lstatSync } from 'node:fs';
import { join } from 'node:path';
import { readTextFile } from '../runtime/files.js';
import { UserError } from '../errors.js';
import { MetricsLog, type ResumePoint } from '../report/metrics-log.js';
import { renderReport, type RunReport } from '../report/html-report.js';
import type { RunInfo, StrategyResult } from '../report/run-info.js';
import type { RunEvent } from '../train/events.js';
import type { RunSnapshot, TrainResult } from '../train/trainer.js';
import { PLAN_NAME } from '../train/strategies.js';

export const RUN_INFO = 'run.json';
export const METRICS_CSV = 'metrics.csv';
export const REPORT_HTML = 'report.html';
const READ_LIMIT = { limit: 1 << 30, noFollow: true };

/** The report of a run in progress: fed by the run's events, saved at each checkpoint and with the outputs. */
export class RunReportFiles {
  private readonly results: Partial<Record<string, StrategyResult>> = {};

  private constructor(readonly dir: string, private readonly info: RunInfo, readonly log: MetricsLog) {}

  /**
   * Starts the run's report (nothing is written before the first checkpoint); on a resume, the log read back from metrics.csv and cut to
   * each strategy's checkpoint. A log that falls short of a checkpoint (metrics.csv lost) is said, not fatal.
   */
  static open(dir: string, info: RunInfo, resumes: (RunSnapshot | undefined)[], warn: (message: string) => void): RunReportFiles {
    const csv = join(dir, METRICS_CSV);
    const resuming = resumes.some((r) => r !== undefined);
    const log = resuming && lstatSync(csv, { throwIfNoEntry: false }) ? MetricsLog.fromCsv(readTextFile(csv, 'metrics log', READ_LIMIT), csv) : new MetricsLog();
    if (resuming) {
      const points: (ResumePoint | undefined)[] = resumes.map((r) => r && { strategy: r.strategy, steps: r.steps, epochs: r.epochLosses.length, validations: r.validation.length });
      const short = log.cutTo(points, info.strategies.map((s) => s.strategy));
      if (short.length > 0) warn(`${csv} does not reach the checkpoint of ${short.join(', ')}: the report's curves miss the steps it lacks`);
    }
    return new RunReportFiles(dir, info, log);
  }

  readonly onEvent = (e: RunEvent): void => {
    this.log.onEvent(e);
    // A strategy that has finished shows its results at the next checkpoint of the one after it.
    if (e.type === 'run-end') {
      const epochLosses = this.log.of(e.strategy).epochs.map((x) => x.loss);
      this.results[e.strategy] = { accuracy: e.accuracy, test_loss: e.testLoss, steps: e.steps, seconds: Number(e.seconds.toFixed(3)), skipped_batches: e.skippedBatches, test_metrics: e.testMetrics, epoch_losses: epochLosses };
    }
  };

  /** The three files' paths and contents, with the finished strategies' results (the run's outputs stage them). */
  files(finished: { result: TrainResult; record: { accuracy: number; test_loss: number; steps: number; seconds: number; skipped_batches: number; epoch_losses: number[] } }[] = []): { path: string; text: string }[] {
    for (const { result, record } of finished) {
      this.results[result.strategy] = { ...record, test_metrics: result.testMetrics, ...(result.selection ? { early_stopping: earlyStopping(result.selection) } : {}) };
    }
    return [
      { path: join(this.dir, RUN_INFO), text: JSON.stringify(this.info, null, 2) + '\n' },
      { path: join(this.dir, METRICS_CSV), text: this.log.toCsv() },
      { path: join(this.dir, REPORT_HTML), text: renderReport([{ dir: this.dir, info: this.info, log: this.log, results: this.results }]) },
    ];
  }
}

/** A run folder's report, read back from its files (`onnx-finetune report DIR`). */
export function readRunFolder(dir: string): RunReport {
  const infoPath = join(dir, RUN_INFO);
  if (!lstatSync(dir, { throwIfNoEntry: false })?.isDirectory()) throw new UserError(`${dir}: no such run folder`);
  if (!lstatSync(infoPath, { throwIfNoEntry: false })) throw new UserError(`${dir}: no ${RUN_INFO} there (not a run folder, or one written before reports existed)`);
  let info: RunInfo;
  try {
    info = JSON.parse(readTextFile(infoPath, 'run description', READ_LIMIT)) as RunInfo;
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`${infoPath}: not valid JSON (${(e as Error).message})`);
  }
  if (!Array.isArray(info.strategies) || !info.model || !info.data) throw new UserError(`${infoPath}: not a run description (no strategies, model or data)`);
  const csv = join(dir, METRICS_CSV);
  const log = lstatSync(csv, { throwIfNoEntry: false }) ? MetricsLog.fromCsv(readTextFile(csv, 'metrics log', READ_LIMIT), csv) : new MetricsLog();
  const results: Partial<Record<string, StrategyResult>> = {};
  for (const { strategy } of info.strategies) {
    if (typeof strategy !== 'string' || !PLAN_NAME.test(strategy)) throw new UserError(`${infoPath}: '${strategy}' is not a strategy or plan name`);
    const path = join(dir, `${strategy}.json`);
    if (!lstatSync(path, { throwIfNoEntry: false })) continue;
    try {
      results[strategy] = JSON.parse(readTextFile(path, 'report', READ_LIMIT)) as StrategyResult;
    } catch (e) {
      if (e instanceof UserError) throw e;
      throw new UserError(`${path}: not valid JSON (${(e as Error).message})`);
    }
  }
  return { dir, info, log, results };
}
