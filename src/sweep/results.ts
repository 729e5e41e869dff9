// The sweep's results: one row per run (its settings, metrics, steps, seconds, worker), written whole as
// <out>/sweep.json and <out>/sweep.csv, and the leaderboard printed at the end, best first by --metric.
import { join } from 'node:path';
import { writeFileAtomic } from '../runtime/files.js';
import { UserError } from '../errors.js';
import { nearestName } from '../plan/near-miss.js';
import type { Scalar } from './sweep-file.js';

export const SWEEP_JSON = 'sweep.json';
export const SWEEP_CSV = 'sweep.csv';

/** The metrics a sweep ranks by: test metrics by their names, validation metrics (last epoch) as val_<name>. */
export const METRICS: Record<string, 'higher' | 'lower'> = {
  accuracy: 'higher', test_loss: 'lower', macro_f1: 'higher', roc_auc: 'higher', mae: 'lower', rmse: 'lower', r2: 'higher',
  val_loss: 'lower', val_accuracy: 'higher', val_macro_f1: 'higher', val_roc_auc: 'higher', val_mae: 'lower', val_rmse: 'lower', val_r2: 'higher',
};

export function checkMetric(metric: string | undefined): void {
  if (metric === undefined || metric in METRICS) return;
  const near = nearestName(metric, Object.keys(METRICS));
  throw new UserError(`--metric: unknown metric '${metric}'${near ? ` (did you mean ${near}?)` : ''} (metrics: ${Object.keys(METRICS).join(', ')})`);
}

export type RunStatus = 'finished' | 'failed' | 'crashed' | 'interrupted' | 'cancelled';

export interface SweepRow {
  run: string;
  status: RunStatus;
  settings: Record<string, Scalar>;
  metrics: Record<string, number | null>;
  steps: number | null;
  /** Training seconds (the run's own report), and the whole process's. */
  seconds: number | null;
  wall_seconds: number | null;
  worker: string | null;
  /** How many times a worker started the run (more than one: retried after a worker was lost, and resumed). */
  attempts: number;
  resumed: boolean;
  error: string | null;
  /** The run's folder, relative to the sweep's --out. */
  dir: string;
  /** The run's command line (onnx-finetune …) without --out, --threads and --json: to run it again by hand. */
  args: string[];
}

/** A finished run's metrics from its <strategy>.json report. */
export function metricsOf(report: Record<string, unknown>): { metrics: Record<string, number | null>; steps: number | null; seconds: number | null; task?: string } {
  const metrics: Record<string, number | null> = {};
  const put = (name: string, v: unknown) => {
    if (typeof v === 'number' || v === null) metrics[name] = v;
  };
  put('accuracy', report.accuracy);
  put('test_loss', report.test_loss);
  for (const [k, v] of Object.entries((report.test_metrics as Record<string, unknown>) ?? {})) if (k !== 'accuracy') put(k, v);
  const validation = report.validation as Record<string, unknown>[] | undefined;
  const last = validation?.[validation.length - 1];
  if (last) for (const [k, v] of Object.entries((last.metrics as Record<string, unknown>) ?? last)) if (k !== 'epoch') put(`val_${k}`, v);
  if (last && typeof last.loss === 'number') metrics.val_loss = last.loss;
  return { metrics, steps: typeof report.steps === 'number' ? report.steps : null, seconds: typeof report.seconds === 'number' ? report.seconds : null, task: report.task as string | undefined };
}

/** The metric to rank by: --metric, else accuracy for classification and test_loss for regression. */
export function chooseMetric(metric: string | undefined, rows: SweepRow[]): string {
  if (metric !== undefined) return metric;
  const finished = rows.filter((r) => r.status === 'finished');
  return finished.length > 0 && finished.every((r) => typeof r.metrics.accuracy === 'number') ? 'accuracy' : 'test_loss';
}

/** Finished runs best first; runs without the metric (and unfinished ones) after them, in sweep order. */
export function ranked(rows: SweepRow[], metric: string): SweepRow[] {
  const sign = METRICS[metric] === 'lower' ? 1 : -1;
  const value = (r: SweepRow) => (r.status === 'finished' ? r.metrics[metric] : undefined);
  return rows.map((r, i) => ({ r, i })).sort((a, b) => {
    const [x, y] = [value(a.r), value(b.r)];
    const [hx, hy] = [typeof x === 'number', typeof y === 'number'];
    if (hx && hy) return sign * ((x as number) - (y as number)) || a.i - b.i;
    return hx === hy ? a.i - b.i : hx ? -1 : 1;
  }).map(({ r }) => r);
}

export function writeResults(out: string, info: { version: string; sweep: string; metric: string }, rows: SweepRow[]): void {
  writeFileAtomic(join(out, SWEEP_JSON), JSON.stringify({ onnx_finetune: info.version, sweep: info.sweep, metric: info.metric, runs: rows }, null, 2) + '\n');
  writeFileAtomic(join(out, SWEEP_CSV), toCsv(rows));
}

function toCsv(rows: SweepRow[]): string {
  const union = (pick: (r: SweepRow) => object) => [...new Set(rows.flatMap((r) => Object.keys(pick(r))))];
  const settings = union((r) => r.settings), metrics = union((r) => r.metrics);
  const header = ['run', 'status', ...settings, ...metrics, 'steps', 'seconds', 'wall_seconds', 'worker', 'attempts', 'resumed', 'error', 'dir'];
  const lines = rows.map((r) => [r.run, r.status, ...settings.map((s) => r.settings[s]), ...metrics.map((m) => r.metrics[m]), r.steps, r.seconds, r.wall_seconds, r.worker, r.attempts, r.resumed, r.error, r.dir].map(csvCell).join(','));
  return [header.map(csvCell).join(','), ...lines].join('\n') + '\n';
}

function csvCell(v: unknown): string {
  if (v === undefined || v === null) return '';
  const text = String(v);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** The leaderboard: rank, run, the metric, steps, seconds, worker and the run's settings; then the runs that did not finish, with their errors. */
export function leaderboard(rows: SweepRow[], metric: string): string {
  const order = ranked(rows, metric);
  const done = order.filter((r) => r.status === 'finished');
  const fmt = (v: number | null | undefined) => (typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toPrecision(4)) : '-');
  const table = [['#', 'run', metric, 'steps', 'seconds', 'worker', 'settings'], ...done.map((r, i) => [String(i + 1), r.run, fmt(r.metrics[metric]), fmt(r.steps), r.seconds === null ? '-' : r.seconds.toFixed(3), r.worker ?? '-', Object.entries(r.settings).map(([k, v]) => `${k}=${v}`).join(' ')])];
  const widths = table[0].map((_, c) => Math.max(...table.map((row) => row[c].length)));
  const lines = table.map((row) => row.map((cell, c) => (c === row.length - 1 ? cell : cell.padEnd(widths[c]))).join('  ').trimEnd());
  for (const r of order.filter((r) => r.status !== 'finished')) lines.push(`${r.run}: ${r.status}${r.error ? `: ${r.error}` : ''}`);
  return `${lines.join('\n')}\n`;
}
