// Runs a sweep's jobs on this machine, N child processes at a time. A stop (Ctrl-C) starts no more runs and
// passes one SIGINT to those running, which stop at their next step with a checkpoint to resume from.
import { hostname } from 'node:os';
import { executeJob, type JobOutcome, type RunJob } from './job.js';

export interface Finished {
  job: RunJob;
  outcome: JobOutcome;
  worker: string | null;
  attempts: number;
}

export async function runLocally(jobs: RunJob[], options: { workers: number; threads: number; cli: string; stop: AbortSignal; onFinished: (f: Finished) => void }): Promise<void> {
  const queue = [...jobs];
  const running = new Set<{ kill: (signal: NodeJS.Signals) => void }>();
  const onStop = () => {
    for (const r of running) r.kill('SIGINT');
  };
  options.stop.addEventListener('abort', onStop);
  const slot = async (n: number) => {
    for (let job = queue.shift(); job && !options.stop.aborted; job = queue.shift()) {
      const { child, done } = executeJob(job, options.cli, options.threads);
      const handle = { kill: (signal: NodeJS.Signals) => child.pid !== undefined && child.exitCode === null && process.kill(child.pid, signal) };
      running.add(handle);
      const outcome = await done;
      running.delete(handle);
      options.onFinished({ job, outcome, worker: `${hostname()}/local-${n}`, attempts: 1 });
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(options.workers, jobs.length) }, (_, i) => slot(i + 1)));
  } finally {
    options.stop.removeEventListener('abort', onStop);
  }
}
