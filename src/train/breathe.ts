// Training and evaluation run synchronously, step after step. Every few milliseconds they let the event loop
// in, so that timers, the progress bar and signal handlers run, and stop when the run is asked to.

import { nextTask } from '../runtime/next-task.js';

/** The run was asked to stop (config.signal) and has offered its last snapshot. */
export class InterruptedError extends Error {
  override name = 'InterruptedError';
}

let lastBreath = performance.now();

/** Lets the event loop in if the last time was more than 20 ms ago. */
export async function yieldToEventLoop(): Promise<void> {
  if (performance.now() - lastBreath > 20) {
    await nextTask();
    lastBreath = performance.now();
  }
}

/** yieldToEventLoop, then stop if the run was asked to. */
export async function breathe(signal: AbortSignal | undefined, where: string): Promise<void> {
  await yieldToEventLoop();
  if (signal?.aborted) throw new InterruptedError(`interrupted ${where}`);
}
