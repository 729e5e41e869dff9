// The run's step log, kept from the event stream: every step's loss and learning rates, every epoch's mean loss
// and validation figures, per strategy. It is written as metrics.csv (the layout of Lightning's CSVLogger: one
// header, a row per step and a row per epoch, empty cells where a row has no value) and read back from it when
// a run resumes, cut to the checkpoint's step: the CSV is the log's only copy on disk, and holds it exactly.
import type { parse as Parse } from 'csv-parse/sync';
import { requirePackage } from '../require.js';
import { UserError } from '../errors.js';
import type { RunEvent } from '../train/events.js';
import type { Metrics } from '../train/metrics.js';
import { PLAN_NAME, RESULT_STRATEGIES, type StrategyKey } from '../train/strategies.js';

export interface StepRecord { stage: string; epoch: number; step: number; loss: number; lrs: number[] }
export interface EpochRecord { stage: string; epoch: number; step: number; loss: number }
/** The validation set's loss and its scalar metrics (null where one cannot be computed, as metrics.ts has it). */
export interface ValidationRecord { stage: string; epoch: number; step: number; loss: number; metrics: Record<string, number | null> }

export interface StrategyLog {
  strategy: string;
  steps: StepRecord[];
  epochs: EpochRecord[];
  validation: ValidationRecord[];
}

/** The scalar metrics a chart or a CSV cell can hold, in a fixed order. */
export const SCALAR_METRICS = ['accuracy', 'macro_f1', 'roc_auc', 'mae', 'rmse', 'r2'] as const;

export function scalarMetrics(m: Metrics): Record<string, number | null> {
  const values = m as unknown as Record<string, unknown>;
  return Object.fromEntries(SCALAR_METRICS.filter((k) => k in values).map((k) => [k, (values[k] as number | null | undefined) ?? null]));
}

/** Where a run continues from: the steps, epochs and validations a checkpoint holds. */
export interface ResumePoint { strategy: string; steps: number; epochs: number; validations: number }

export class MetricsLog {
  readonly strategies = new Map<string, StrategyLog>();
  /**
   * Each step's CSV line, made once: a run writes metrics.csv at every checkpoint and with its outputs, and
   * a long run's lines (two shortest round-trip numbers apiece) cost more to format than to write. Valid for
   * one layout of the columns (`linesLayout`); records are never changed once logged.
   */
  private stepLines = new Map<string, { records: StepRecord[]; lines: string[] }>();
  private linesLayout = '';

  /** Records the events that make up the log (the others are for live subscribers). */
  onEvent(e: RunEvent): void {
    if (e.type === 'step') this.of(e.strategy).steps.push({ stage: e.stage, epoch: e.epoch, step: e.step, loss: e.loss, lrs: [...e.lrs] });
    else if (e.type === 'epoch-end') this.of(e.strategy).epochs.push({ stage: e.stage, epoch: e.epoch, step: e.step, loss: e.loss });
    else if (e.type === 'validation') this.of(e.strategy).validation.push({ stage: e.stage, epoch: e.epoch, step: e.step, loss: e.loss, metrics: scalarMetrics(e.metrics) });
  }

  of(strategy: string): StrategyLog {
    let log = this.strategies.get(strategy);
    if (!log) {
      log = { strategy, steps: [], epochs: [], validation: [] };
      // Kept in the strategies' own order, whatever order a resume or an overlay meets them in.
      const entries = [...this.strategies, [strategy, log] as const].sort((a, b) => strategyRank(a[0]) - strategyRank(b[0]));
      this.strategies.clear();
      for (const [k, v] of entries) this.strategies.set(k, v);
    }
    return log;
  }

  /**
   * The log as a resumed run continues it: each resumed strategy's records up to its checkpoint, nothing of a
   * strategy that starts afresh. Returns the strategies whose log on disk falls short of their checkpoint.
   */
  cutTo(points: (ResumePoint | undefined)[], planned: string[]): string[] {
    const short: string[] = [];
    for (const strategy of planned) {
      const point = points.find((p) => p?.strategy === strategy);
      if (!point) {
        this.strategies.delete(strategy);
        continue;
      }
      const kept = this.of(strategy);
      kept.steps = kept.steps.filter((s) => s.step <= point.steps);
      kept.epochs = kept.epochs.filter((e) => e.epoch <= point.epochs);
      kept.validation = kept.validation.filter((v) => v.epoch <= point.validations);
      const complete = kept.steps.length === point.steps && kept.steps.every((s, i) => s.step === i + 1) && kept.epochs.length === point.epochs && kept.validation.length === point.validations;
      if (!complete) short.push(strategy);
    }
    for (const strategy of [...this.strategies.keys()]) if (!planned.includes(strategy)) this.strategies.delete(strategy);
    return short;
  }

  /** metrics.csv: strategy, stage, epoch, step, then each step's loss and lr per group, each epoch's loss and validation. */
  toCsv(): string {
    const logs = [...this.strategies.values()];
    const groups = logs.reduce((n, l) => l.steps.reduce((m, s) => Math.max(m, s.lrs.length), n), 0);
    const metricKeys = SCALAR_METRICS.filter((k) => logs.some((l) => l.validation.some((v) => k in v.metrics)));
    const header = ['strategy', 'stage', 'epoch', 'step', 'loss', ...Array.from({ length: groups }, (_, i) => `lr_group_${i}`), 'epoch_loss', 'val_loss', ...metricKeys.map((k) => `val_${k}`)];
    const lines = [header.join(',')];
    const layout = `${groups} ${metricKeys.length}`;
    if (layout !== this.linesLayout) {
      this.stepLines.clear();
      this.linesLayout = layout;
    }
    for (const log of logs) {
      let made = this.stepLines.get(log.strategy);
      if (!made) this.stepLines.set(log.strategy, (made = { records: [], lines: [] }));
      const { records, lines: madeLines } = made;
      for (let i = 0; i < log.steps.length; i++) {
        const s = log.steps[i];
        if (records[i] !== s) {
          records[i] = s;
          madeLines[i] = csvLine([log.strategy, s.stage, s.epoch, s.step, s.loss, ...Array.from({ length: groups }, (_, g) => s.lrs[g] ?? ''), '', '', ...metricKeys.map(() => '')]);
        }
      }
      records.length = madeLines.length = log.steps.length;
    }
    for (const log of logs) {
      const validation = new Map(log.validation.map((v) => [v.epoch, v]));
      const epochRow = (e: EpochRecord) => {
        const v = validation.get(e.epoch);
        return [log.strategy, e.stage, e.epoch, e.step, '', ...Array(groups).fill(''), e.loss, v ? v.loss : '', ...metricKeys.map((k) => (v ? v.metrics[k] ?? '' : ''))];
      };
      // Each epoch's row follows its last step's.
      let next = 0;
      const stepLines = this.stepLines.get(log.strategy)!.lines;
      for (let i = 0; i < log.steps.length; i++) {
        lines.push(stepLines[i]);
        for (; next < log.epochs.length && log.epochs[next].step <= log.steps[i].step; next++) lines.push(csvLine(epochRow(log.epochs[next])));
      }
      for (; next < log.epochs.length; next++) lines.push(csvLine(epochRow(log.epochs[next])));
    }
    return lines.join('\n') + '\n';
  }

  /** Reads metrics.csv back (written by toCsv); `source` names the file in errors. */
  static fromCsv(text: string, source: string): MetricsLog {
    const parse: typeof Parse = requirePackage('csv-parse/sync').parse;
    let rows: Record<string, string>[];
    try {
      rows = parse(text, { columns: true, skip_empty_lines: true }) as Record<string, string>[];
    } catch (e) {
      throw new UserError(`${source}: not a valid metrics.csv (${(e as Error).message})`);
    }
    const log = new MetricsLog();
    const lrColumns = rows.length ? Object.keys(rows[0]).filter((k) => /^lr_group_\d+$/.test(k)) : [];
    const metricColumns = rows.length ? Object.keys(rows[0]).filter((k) => k.startsWith('val_') && k !== 'val_loss') : [];
    rows.forEach((row, i) => {
      const where = `${source}: row ${i + 2}`;
      const strategy = row.strategy;
      if (!PLAN_NAME.test(strategy)) throw new UserError(`${where}: '${row.strategy}' is not a strategy or plan name`);
      const epoch = wholeNumber(row.epoch, `${where}: epoch`), step = wholeNumber(row.step, `${where}: step`);
      const strategyLog = log.of(strategy);
      if (row.loss !== '') {
        const lrs = lrColumns.filter((c) => row[c] !== '').map((c) => cellNumber(row[c], `${where}: ${c}`));
        strategyLog.steps.push({ stage: row.stage, epoch, step, loss: cellNumber(row.loss, `${where}: loss`), lrs });
      } else {
        strategyLog.epochs.push({ stage: row.stage, epoch, step, loss: cellNumber(row.epoch_loss, `${where}: epoch_loss`) });
        if (row.val_loss !== undefined && row.val_loss !== '') {
          const metrics = Object.fromEntries(metricColumns.map((c) => [c.slice(4), row[c] === '' ? null : cellNumber(row[c], `${where}: ${c}`)]));
          strategyLog.validation.push({ stage: row.stage, epoch, step, loss: cellNumber(row.val_loss, `${where}: val_loss`), metrics });
        }
      }
    });
    return log;
  }
}

/** A number as a CSV cell that reads back exactly: JavaScript's shortest round-trip form; nan and inf as pandas reads them. */
export function numberCell(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  return String(x);
}

function cellNumber(text: string | undefined, where: string): number {
  if (text === 'nan') return NaN;
  if (text === 'inf') return Infinity;
  if (text === '-inf') return -Infinity;
  const value = text === undefined || text.trim() === '' ? NaN : Number(text);
  if (Number.isNaN(value)) throw new UserError(`${where}: '${text ?? ''}' is not a number`);
  return value;
}

function wholeNumber(text: string | undefined, where: string): number {
  const value = cellNumber(text, where);
  if (!Number.isInteger(value) || value < 0) throw new UserError(`${where}: '${text}' is not a whole number`);
  return value;
}

function csvLine(cells: (string | number | null)[]): string {
  return cells.map((c) => (typeof c === 'number' ? numberCell(c) : c === null ? '' : /[",\n\r]/.test(c) ? `"${c.replace(/"/g, '""')}"` : c)).join(',');
}

/** The built-in strategies in the notebook's order and LoRA, then plans by name (a stable order for a page). */
const strategyRank = (name: string) => (RESULT_STRATEGIES.includes(name as StrategyKey) ? RESULT_STRATEGIES.indexOf(name as StrategyKey) : RESULT_STRATEGIES.length);
