// `onnx-finetune worker --queue redis://…`: takes sweep runs from the BullMQ queue and runs each in a child
// process, as the local sweep does. A worker that dies mid-run stops renewing its job's lock; BullMQ's
// stalled-job check then hands the job to another worker, which resumes the run from its last checkpoint.
// A run that fails for bad input (exit 1) fails for good (UnrecoverableError): retrying cannot help.
import { availableParallelism, hostname } from 'node:os';
import { readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { Job } from 'bullmq';
import { LOCK } from '../cli/run-lock.js';
import { executeJob, isFinished, type RunJob } from './job.js';
import { bullmq, connection, probeRedis, QUEUE_NAME } from './queue.js';

export interface JobResult {
  worker: string;
  attempt: number;
  resumed: boolean;
  wall_seconds: number;
}

export interface WorkerOptions {
  queue: string;
  concurrency: number;
  /** Seconds without a lock renewal after which a run's worker counts as lost. */
  stalledAfter: number;
  cli: string;
  /** What the worker does (stdout), and trouble that does not stop it (stderr). */
  log: (line: string) => void;
  warn: (line: string) => void;
  version: string;
}

/** Runs jobs until SIGINT/SIGTERM; resolves with why it stopped by itself (a job from another version), if it did. */
export async function runWorker(options: WorkerOptions): Promise<string | undefined> {
  await probeRedis(options.queue);
  const { Worker, UnrecoverableError } = bullmq();
  const name = `${hostname()}:${process.pid}`;
  const threads = Math.max(1, Math.floor(availableParallelism() / options.concurrency));
  const running = new Set<number>();
  let fatal: string | undefined;
  let stopping = false;
  const processor = async (job: Job<RunJob, JobResult>): Promise<JobResult> => {
    const data = job.data;
    const attempt = job.attemptsMade + job.stalledCounter + 1;
    if (data.version !== options.version) {
      const message = `worker ${name} runs onnx-finetune ${options.version} but run ${data.name} was queued by onnx-finetune ${data.version}: start workers of the same version`;
      fatal = message;
      setImmediate(() => void stop());
      throw new UnrecoverableError(message);
    }
    if (isFinished(data)) return { worker: name, attempt, resumed: false, wall_seconds: 0 };
    if (attempt > 1) {
      // The lost attempt's run may live on here, orphaned by a worker killed alone: it is let finish (or stop),
      // the job's lock renewed meanwhile, and the run then read back or resumed.
      const busy = releaseLostLock(data.dir);
      if (busy !== undefined) options.log(`${data.name}: waiting for pid ${busy}, the lost attempt's run, to end`);
      while (busy !== undefined && isAlive(busy)) await new Promise((r) => setTimeout(r, 1000));
      if (isFinished(data)) return { worker: name, attempt, resumed: false, wall_seconds: 0 };
    }
    options.log(`${data.name}: started on ${name}${attempt > 1 ? ` (attempt ${attempt})` : ''}`);
    const { child, done } = executeJob(data, options.cli, threads);
    if (child.pid !== undefined) running.add(child.pid);
    const outcome = await done;
    if (child.pid !== undefined) running.delete(child.pid);
    options.log(`${data.name}: ${outcome.status}${outcome.error ? `: ${outcome.error}` : ''}`);
    if (outcome.status === 'failed') throw new UnrecoverableError(outcome.error);
    if (outcome.status !== 'ok') throw new Error(outcome.error ?? outcome.status);
    return { worker: name, attempt, resumed: outcome.resumed, wall_seconds: outcome.wall_seconds };
  };
  const worker = new Worker<RunJob, JobResult>(QUEUE_NAME, processor, {
    connection: connection(options.queue, options.warn),
    concurrency: options.concurrency,
    lockDuration: options.stalledAfter * 1000,
    stalledInterval: Math.max(500, (options.stalledAfter * 1000) / 2),
    maxStalledCount: 5,
  });
  worker.on('error', () => {}); // reported once by the connection's retry strategy
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    // The runs stop at their next step with a checkpoint; their jobs go back to the queue for another worker.
    for (const pid of running) process.kill(pid, 'SIGTERM');
    await worker.close();
  };
  const onSignal = () => void stop();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  await worker.waitUntilReady();
  options.log(`worker ${name}: waiting for runs on ${options.queue} (concurrency ${options.concurrency}, ${threads} thread${threads === 1 ? '' : 's'} per run)`);
  await new Promise<void>((resolve) => worker.on('closed', () => resolve()));
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  return fatal;
}

/**
 * A retried run's folder may still hold the lock of the attempt that was lost. The run lock takes over a dead
 * process's lock on this host by itself; one from another host was that lost worker's (BullMQ gave up on it),
 * so it is removed here. Were that worker only cut off, its run finds the lock gone at its next checkpoint
 * and stops without writing more.
 */
function releaseLostLock(dir: string): number | undefined {
  const path = join(dir, LOCK);
  let holder: { pid?: number; host?: string };
  try {
    holder = JSON.parse(readFileSync(path, 'utf8')) as { pid?: number; host?: string };
  } catch {
    return undefined; // no lock, or not one a run wrote: the run's own lock logic decides
  }
  if (holder.host !== undefined && holder.host !== hostname()) {
    unlinkSync(path);
    return undefined;
  }
  return typeof holder.pid === 'number' && isAlive(holder.pid) ? holder.pid : undefined;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
