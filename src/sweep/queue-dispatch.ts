// Puts a sweep's runs on the BullMQ queue and waits for the workers to finish them. A job's id is the sweep's
// folder and the run's name: running the sweep again finds a job still queued or running and waits for it.
// A stop (Ctrl-C) removes the jobs not yet started; those running finish on their workers.
import { createHash } from 'node:crypto';
import type { Job } from 'bullmq';
import type { RunJob } from './job.js';
import type { JobResult } from './worker.js';
import type { Finished } from './local-pool.js';
import { bullmq, connection, QUEUE_NAME } from './queue.js';

/** Retries after a crash or a lost worker; a lost worker's job also comes back through the stalled check. */
const ATTEMPTS = 4;

export async function runOnQueue(jobs: RunJob[], options: { url: string; out: string; stop: AbortSignal; log: (line: string) => void; onFinished: (f: Finished) => void }): Promise<void> {
  if (jobs.length === 0) return;
  const { Queue, QueueEvents } = bullmq();
  const queue = new Queue<RunJob, JobResult>(QUEUE_NAME, { connection: connection(options.url, options.log) });
  const events = new QueueEvents(QUEUE_NAME, { connection: connection(options.url, () => {}) });
  queue.on('error', () => {});
  events.on('error', () => {});
  const sweepKey = createHash('sha256').update(options.out).digest('hex').slice(0, 12);
  try {
    await events.waitUntilReady();
    const added: Job<RunJob, JobResult>[] = [];
    for (const job of jobs) {
      const jobId = `${sweepKey}-${job.name}`;
      const earlier = await queue.getJob(jobId);
      // A finished or failed job of an earlier sweep is done with: the run folder says what remains.
      if (earlier && ['completed', 'failed'].includes(await earlier.getState())) await earlier.remove();
      added.push(await queue.add('run', job, { jobId, attempts: ATTEMPTS, backoff: { type: 'fixed', delay: 1000 }, removeOnComplete: { age: 86400 }, removeOnFail: { age: 86400 } }));
    }
    options.log(`sweep: ${jobs.length} run${jobs.length === 1 ? '' : 's'} queued on ${options.url}; waiting for workers (onnx-finetune worker --queue ${options.url})`);
    // A stop ends every wait at once: the runs not finished are reported as such, their folders kept.
    const stopped = new Promise<'stopped'>((resolve) => {
      if (options.stop.aborted) resolve('stopped');
      options.stop.addEventListener('abort', () => resolve('stopped'), { once: true });
    });
    await Promise.all(added.map(async (job, i) => {
      const waited = await Promise.race([job.waitUntilFinished(events).then((result) => ({ result }), (e: Error) => ({ error: e.message })), stopped]);
      if (waited === 'stopped') {
        options.onFinished({ job: jobs[i], outcome: { status: 'interrupted', error: 'not finished when the sweep was stopped (run the sweep again to continue it)', resumed: false, wall_seconds: 0 }, worker: null, attempts: 0 });
      } else if ('result' in waited) {
        const r = waited.result;
        options.onFinished({ job: jobs[i], outcome: { status: 'ok', resumed: r.resumed, wall_seconds: r.wall_seconds }, worker: r.worker, attempts: r.attempt });
      } else {
        const latest = await queue.getJob(job.id!);
        options.onFinished({ job: jobs[i], outcome: { status: 'failed', error: waited.error, resumed: false, wall_seconds: 0 }, worker: null, attempts: latest ? latest.attemptsMade : 0 });
      }
    }));
    if (options.stop.aborted) await cancelWaiting(added, options.log);
  } finally {
    await events.close();
    await queue.close();
  }
}

/** Removes the sweep's jobs that no worker has started; a removed job's wait ends as cancelled. */
async function cancelWaiting(jobs: Job<RunJob, JobResult>[], log: (line: string) => void): Promise<void> {
  let removed = 0, running = 0;
  for (const job of jobs) {
    const state = await job.getState();
    if (state === 'waiting' || state === 'delayed' || state === 'prioritized') {
      await job.remove();
      removed++;
    } else if (state === 'active') running++;
  }
  log(`sweep: stopped; ${removed} queued run${removed === 1 ? '' : 's'} cancelled${running > 0 ? `, ${running} still running on workers (run the sweep again to collect them)` : ''}`);
}
