// One run of a sweep as a job: what it runs (the same command line a user would type, in a child process of
// this very CLI) and where (its folder under the sweep's --out, on storage every worker reaches). Executing a
// job continues the run where an earlier attempt left it: a finished folder is read back, a folder with
// checkpoints is resumed (--resume), anything else starts afresh (--out).
import { spawn, type ChildProcess } from 'node:child_process';
import { lstatSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RunCheckpoints } from '../cli/checkpoint-files.js';
import type { Scalar } from './sweep-file.js';

export interface RunJob {
  name: string;
  /** The run's folder (absolute). */
  dir: string;
  /** The plan's name: the run's results are <dir>/<strategy>.json, .onnx, .safetensors. */
  strategy: string;
  /** The command and its options, without --out, --resume and --json. */
  args: string[];
  /** The onnx-finetune version that made the job: a worker of another version refuses it. */
  version: string;
}

export interface JobOutcome {
  /** ok; failed (bad input, exit 1: retrying cannot help); crashed (anything else: a signal, a bug); interrupted. */
  status: 'ok' | 'failed' | 'crashed' | 'interrupted';
  /** The run's one-line error, for any status but ok. */
  error?: string;
  resumed: boolean;
  /** The whole process's wall time, start to results. */
  wall_seconds: number;
}

/** Command-line arguments of an option: --name value, --flag, --no-flag. */
export function optionArgs(options: Record<string, Scalar>): string[] {
  return Object.entries(options).flatMap(([name, value]) => (value === true ? [`--${name}`] : value === false ? [`--no-${name}`] : [`--${name}`, String(value)]));
}

export const resultFile = (job: Pick<RunJob, 'dir' | 'strategy'>) => join(job.dir, `${job.strategy}.json`);
export const isFinished = (job: Pick<RunJob, 'dir' | 'strategy'>) => lstatSync(resultFile(job), { throwIfNoEntry: false })?.isFile() === true;

/** The CLI's exit statuses for an interruption (train-runs.ts). */
const INTERRUPTED = [130, 143];

export interface Execution {
  child: ChildProcess;
  done: Promise<JobOutcome>;
}

/**
 * Starts the run in a child process: `node <cli> <command> … --out|--resume DIR --json`. `threads` is added
 * unless the run sets its own. The child has its own process group: a Ctrl-C at the terminal reaches the
 * sweep, which passes one signal on (a second one would stop the run without its checkpoint).
 */
export function executeJob(job: RunJob, cli: string, threads: number | undefined): Execution {
  const started = performance.now();
  const resumed = new RunCheckpoints(job.dir).list(job.strategy).length > 0;
  const args = [cli, ...job.args, ...(threads !== undefined && !job.args.includes('--threads') ? ['--threads', String(threads)] : []), resumed ? '--resume' : '--out', job.dir, '--json'];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let stderr = '';
  child.stdout!.resume();
  child.stderr!.on('data', (d) => (stderr = (stderr + d).slice(-8192)));
  const done = new Promise<JobOutcome>((resolvePromise) => {
    const finish = (code: number | null, signal: NodeJS.Signals | null, spawnError?: Error) => {
      const wall_seconds = Number(((performance.now() - started) / 1000).toFixed(3));
      const line = lastLine(stderr) ?? spawnError?.message ?? (signal ? `killed by ${signal}` : `exit status ${code}`);
      if (code === 0 && isFinished(job)) resolvePromise({ status: 'ok', resumed, wall_seconds });
      else if (code === 1) resolvePromise({ status: 'failed', error: line, resumed, wall_seconds });
      else if (code !== null && INTERRUPTED.includes(code)) resolvePromise({ status: 'interrupted', error: line, resumed, wall_seconds });
      else resolvePromise({ status: 'crashed', error: signal ? `killed by ${signal}` : line, resumed, wall_seconds });
    };
    child.on('error', (e) => finish(null, null, e));
    child.on('close', (code, signal) => finish(code, signal));
  });
  return { child, done };
}

/** The child's last line on stderr, without the command's own prefix. */
function lastLine(text: string): string | undefined {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  return lines.length === 0 ? undefined : lines[lines.length - 1].replace(/^onnx-finetune: /, '');
}

/** The finished run's report (<strategy>.json): its metrics, steps and seconds. */
export function readResult(job: Pick<RunJob, 'dir' | 'strategy'>): Record<string, unknown> {
  return JSON.parse(readFileSync(resultFile(job), 'utf8')) as Record<string, unknown>;
}
