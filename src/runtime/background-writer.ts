// Files written whole on a thread of their own, so that a training step never waits for a disk: each job
// is a list of pieces (views of buffers handed over without a copy), optionally sealed with the SHA-256 of
// the pieces (checkpoint.ts), written to a temporary file created exclusively, fsynced and renamed into
// place, as files.ts's writeFileAtomic does. One thread, one job at a time: files land in the order asked.
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';

/** What becomes of one job: its error (code and message of the system error) or none. */
export interface WriteOutcome {
  path: string;
  error?: { code?: string; message: string };
}

export interface WriteJob {
  /** The file to replace, and the temporary name (same folder) to write first. */
  path: string;
  temporary: string;
  pieces: Uint8Array[];
  /** Bytes appended after the pieces, their last 64 replaced by the pieces' SHA-256 in hex. */
  seal?: Uint8Array;
  /** Buffers the pieces view that belong to the job: moved to the writer thread, not copied. */
  transfer?: ArrayBuffer[];
}

export class BackgroundWriter {
  private thread: { worker: Worker; outcomes: MessagePort } | undefined;
  /** Jobs done, counted by the writer thread: settleSync waits on it. */
  private readonly done = new Int32Array(new SharedArrayBuffer(4));
  private queued = 0;
  /** What to call with each queued job's outcome, in order. */
  private readonly waiting: ((outcome: WriteOutcome) => void)[] = [];
  private idle: (() => void)[] = [];

  /** Queues a job; `then` hears how it went, on this thread, in the order the jobs were queued. */
  write(job: WriteJob, then: (outcome: WriteOutcome) => void): void {
    const { worker, outcomes } = (this.thread ??= this.start());
    this.queued++;
    this.waiting.push(then);
    outcomes.ref(); // a job under way keeps the process alive
    const { transfer = [], ...message } = job;
    worker.postMessage(message, transfer);
  }

  /** Resolves once every job queued so far has been written or has failed (and its outcome delivered). */
  settle(): Promise<void> {
    if (this.waiting.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  /**
   * Blocks this thread until every job queued so far is done on disk, and delivers the outcomes: for a
   * process about to kill itself (the fault injection of the kill-and-resume tests).
   */
  settleSync(): void {
    for (let done; (done = Atomics.load(this.done, 0)) < this.queued; ) Atomics.wait(this.done, 0, done, 1000);
    for (let m; this.thread && (m = receiveMessageOnPort(this.thread.outcomes)); ) this.deliver(m.message as WriteOutcome);
  }

  /** Stops the thread; a job in progress is abandoned (its temporary file may remain), and no outcome is delivered. */
  async close(): Promise<void> {
    const thread = this.thread;
    this.thread = undefined;
    thread?.outcomes.close();
    await thread?.worker.terminate();
    this.queued = Atomics.load(this.done, 0);
    this.waiting.length = 0;
    for (const resolve of this.idle.splice(0)) resolve();
  }

  private deliver(outcome: WriteOutcome): void {
    this.waiting.shift()?.(outcome);
    if (this.waiting.length > 0) return;
    this.thread?.outcomes.unref();
    for (const resolve of this.idle.splice(0)) resolve();
  }

  private start(): { worker: Worker; outcomes: MessagePort } {
    const { port1: outcomes, port2 } = new MessageChannel();
    const worker = new Worker(`(${writerThread.toString()})()`, { eval: true, workerData: { done: this.done, outcomes: port2 }, transferList: [port2] });
    outcomes.on('message', (outcome: WriteOutcome) => this.deliver(outcome));
    worker.on('error', (e: Error) => {
      // A bug in the thread itself: every job still waiting fails with it.
      while (this.waiting.length > 0) this.deliver({ path: '', error: { message: e.message } });
    });
    worker.unref(); // the outcomes port keeps the process alive while jobs are under way (write)
    return { worker, outcomes };
  }
}

/**
 * The writer thread's code, run from its source text (so that the bundled command needs no second file):
 * it may use only what it takes from Node itself.
 */
function writerThread(): void {
  const { parentPort, workerData } = process.getBuiltinModule('node:worker_threads'); // jobs arrive on parentPort, outcomes leave on their own port
  const { done, outcomes } = workerData as { done: Int32Array; outcomes: MessagePort };
  const fs = process.getBuiltinModule('node:fs');
  const { createHash } = process.getBuiltinModule('node:crypto');
  parentPort!.on('message', (job: Omit<WriteJob, 'transfer'>) => {
    const { path, temporary, pieces, seal } = job;
    let fd: number | undefined, created = false;
    let error: { code?: string; message: string } | undefined;
    try {
      if (seal) {
        const hash = createHash('sha256');
        for (const piece of pieces) hash.update(piece);
        seal.set(Buffer.from(hash.digest('hex'), 'latin1'), seal.length - 64);
        pieces.push(seal);
      }
      const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;
      fd = fs.openSync(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o644);
      created = true;
      for (const piece of pieces) for (let at = 0; at < piece.length; ) at += fs.writeSync(fd, piece, at);
      fs.fsyncSync(fd);
      fs.closeSync(fd);
      fd = undefined;
      fs.renameSync(temporary, path);
    } catch (e) {
      error = { code: (e as NodeJS.ErrnoException).code, message: (e as Error).message };
      if (fd !== undefined) fs.closeSync(fd);
      try {
        if (created) fs.unlinkSync(temporary);
      } catch {
        // already gone
      }
    }
    // The outcome first: whoever sees the count may read the outcome at once (settleSync).
    outcomes.postMessage({ path, error });
    Atomics.add(done, 0, 1);
    Atomics.notify(done, 0);
  });
}
