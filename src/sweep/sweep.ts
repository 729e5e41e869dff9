// `onnx-finetune sweep sweep.yaml`: the sweep's runs, each a normal run folder under --out, run here (--workers
// child processes) or by workers through a BullMQ queue (--queue); then sweep.json, sweep.csv, the leaderboard
// and one report overlaying the runs. Runs finished by an earlier, stopped sweep are read back, not run again.
import { availableParallelism } from 'node:os';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { UserError } from '../errors.js';
import { writeFileAtomic } from '../runtime/files.js';
import { parsePlan, readPlanFile } from '../plan/read-plan.js';
import { renderReport } from '../report/html-report.js';
import { readRunFolder, REPORT_HTML } from '../cli/report-files.js';
import { COMMANDS, type CommandKey } from '../cli/run.js';
import { readSweepFile, type SweepFile } from './sweep-file.js';
import { checkRuns, planFieldParent, sweepRuns, type SweepRun } from './runs.js';
import { isFinished, optionArgs, readResult, type RunJob } from './job.js';
import { runLocally, type Finished } from './local-pool.js';
import { runOnQueue } from './queue-dispatch.js';
import { probeRedis } from './queue.js';
import { checkMetric, chooseMetric, leaderboard, metricsOf, writeResults, SWEEP_JSON, type SweepRow } from './results.js';

export interface SweepOptions {
  file: string;
  out: string;
  workers?: number;
  queue?: string;
  metric?: string;
  /** The CLI each run starts: this very command's script. */
  cli: string;
  version: string;
  stdout: NodeJS.WritableStream;
  log: (line: string) => void;
  stop: AbortSignal;
}

/** Runs the sweep; the exit status: 0 when every run finished, 1 when some failed, 130 when stopped. */
export async function runSweep(options: SweepOptions): Promise<number> {
  checkMetric(options.metric);
  const sweep = readSweepFile(options.file);
  const runs = sweepRuns(sweep);
  checkRuns(sweep, runs);
  if (options.queue !== undefined) await probeRedis(options.queue);
  const out = resolve(options.out);
  const jobs = runs.map((run) => jobOf(sweep, run, out, options.version));
  mkdirSync(out, { recursive: true });
  const earlier = earlierRows(out);
  const rows = new Map<string, SweepRow>();
  const pending: RunJob[] = [];
  for (const [i, job] of jobs.entries()) {
    if (isFinished(job)) rows.set(job.name, finishedRow(runs[i], job, earlier.get(job.name)));
    else pending.push(job);
  }
  const skipped = jobs.length - pending.length;
  options.log(`sweep: ${jobs.length} run${jobs.length === 1 ? "" : "s"} in ${out}${skipped > 0 ? ` (${skipped} finished earlier, ${pending.length} to run)` : ''}`);
  const runOf = new Map(runs.map((r) => [r.name, r]));
  const save = () => writeResults(out, { version: options.version, sweep: resolve(options.file), metric: chooseMetric(options.metric, [...rows.values()]) }, inOrder(jobs, rows, runs, out));
  const onFinished = (f: Finished) => {
    const run = runOf.get(f.job.name)!;
    const row = f.outcome.status === 'ok'
      ? { ...finishedRow(run, f.job), wall_seconds: f.outcome.wall_seconds, worker: f.worker, attempts: f.attempts, resumed: f.outcome.resumed }
      : { ...emptyRow(run, f.job), status: f.outcome.status === 'failed' ? 'failed' as const : f.outcome.status === 'crashed' ? 'crashed' as const : 'interrupted' as const, error: f.outcome.error ?? null, worker: f.worker, attempts: f.attempts, wall_seconds: f.outcome.wall_seconds };
    rows.set(f.job.name, row);
    options.log(`${f.job.name}: ${row.status}${row.error ? `: ${row.error}` : ''}${f.worker ? ` (${f.worker})` : ''}`);
    save();
  };
  if (options.queue !== undefined) {
    await runOnQueue(pending, { url: options.queue, out, stop: options.stop, log: options.log, onFinished });
  } else {
    const workers = options.workers ?? availableParallelism();
    await runLocally(pending, { workers, threads: Math.max(1, Math.floor(availableParallelism() / workers)), cli: options.cli, stop: options.stop, onFinished });
  }
  const all = inOrder(jobs, rows, runs, out);
  const metric = chooseMetric(options.metric, all);
  save();
  const finished = all.filter((r) => r.status === 'finished');
  if (finished.length > 0) writeFileAtomic(join(out, REPORT_HTML), renderReport(finished.map((r) => readRunFolder(join(out, r.dir)))));
  options.stdout.write(leaderboard(all, metric));
  options.stdout.write(`results: ${join(out, SWEEP_JSON)}, ${join(out, 'sweep.csv')}${finished.length > 0 ? `; report: ${join(out, REPORT_HTML)}` : ''}\n`);
  if (options.stop.aborted) {
    options.log(`sweep: stopped with ${finished.length} of ${all.length} runs finished; run the same command again to continue`);
    return 130;
  }
  return finished.length === all.length ? 0 : 1;
}

const COMMAND_KEYS = Object.fromEntries(Object.entries(COMMANDS).map(([key, name]) => [name, key as CommandKey]));

/** The run as a job: its command line, and for a plan with swept fields, its own plan file (checked here). */
function jobOf(sweep: SweepFile, run: SweepRun, out: string, version: string): RunJob {
  const dir = join(out, run.name);
  let planArgs: string[] = [];
  let strategy = COMMAND_KEYS[run.command] as string;
  if (sweep.plan) {
    let path = sweep.plan.path;
    if (Object.keys(run.planFields).length > 0) {
      const document = structuredClone(sweep.plan.document);
      for (const [field, value] of Object.entries(run.planFields)) {
        const { parent, key } = planFieldParent(document, field, `${sweep.path}: plan.${field}`);
        (parent as Record<string, unknown>)[key] = value;
      }
      // The plan keeps its name: its results are <name>.json in the run's folder, as for the plan itself.
      if (document.name === undefined) document.name = readPlanFile(sweep.plan.path).strategy;
      path = join(out, 'plans', `${run.name}.json`);
      const text = JSON.stringify(document, null, 2) + '\n';
      strategy = checkedPlan(() => parsePlan(text, path), sweep, run);
      mkdirSync(join(out, 'plans'), { recursive: true });
      writeFileAtomic(path, text);
    } else {
      strategy = checkedPlan(() => readPlanFile(path), sweep, run);
    }
    planArgs = [path];
  }
  return { name: run.name, dir, strategy, args: [run.command, ...planArgs, ...optionArgs(run.options)], version };
}

/** The plan's name, or its error naming the run's settings too. */
function checkedPlan(read: () => { strategy: string }, sweep: SweepFile, run: SweepRun): string {
  try {
    return read().strategy;
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    throw new UserError(`${sweep.path}: run ${run.name} (${describe(run.settings)}): ${e.message}`);
  }
}

const describe = (settings: Record<string, unknown>) => Object.entries(settings).map(([k, v]) => `${k}=${v}`).join(' ');

function emptyRow(run: SweepRun, job: RunJob): SweepRow {
  return { run: run.name, status: 'cancelled', settings: run.settings, metrics: {}, steps: null, seconds: null, wall_seconds: null, worker: null, attempts: 0, resumed: false, error: null, dir: relative(resolve(job.dir, '..'), job.dir), args: job.args };
}

/** A finished run's row from its report; worker and attempts from the earlier sweep.json where it ran then. */
function finishedRow(run: SweepRun, job: RunJob, earlier?: SweepRow): SweepRow {
  const { metrics, steps, seconds } = metricsOf(readResult(job));
  return { ...emptyRow(run, job), status: 'finished', metrics, steps, seconds, wall_seconds: earlier?.wall_seconds ?? null, worker: earlier?.worker ?? null, attempts: earlier?.attempts ?? 1, resumed: earlier?.resumed ?? false };
}

function inOrder(jobs: RunJob[], rows: Map<string, SweepRow>, runs: SweepRun[], out: string): SweepRow[] {
  return jobs.map((job, i) => rows.get(job.name) ?? { ...emptyRow(runs[i], job), dir: relative(out, job.dir) });
}

function earlierRows(out: string): Map<string, SweepRow> {
  const path = join(out, SWEEP_JSON);
  if (!existsSync(path)) return new Map();
  try {
    const { runs } = JSON.parse(readFileSync(path, 'utf8')) as { runs: SweepRow[] };
    return new Map(runs.filter((r) => r.status === 'finished').map((r) => [r.run, r]));
  } catch {
    return new Map(); // an unreadable earlier sweep.json only loses the earlier rows' worker names
  }
}
