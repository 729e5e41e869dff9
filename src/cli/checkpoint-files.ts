// A run's checkpoints: checkpoints/<strategy>-step-<N>.onnx in its folder, the newest --keep-checkpoints of
// each strategy. The run deletes only checkpoints it recognises as its own: those it wrote, and those of the
// run it continues (adopted under the folder's lock). A `checkpoints` link or a link in a checkpoint's place
// is refused, never followed. Checkpoints are written on a thread of their own (background-writer.ts), in
// the order they are asked for; a run learns of a failed write at its next checkpoint or when it settles.
import { lstatSync, readdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { fault, killNow } from './faults.js';
import { createExclusive, fileError, ownSubfolder, readRegularFile, removeRegularFile, temporaryName, writeAll } from '../runtime/files.js';
import { BackgroundWriter, type WriteOutcome } from '../runtime/background-writer.js';
import { sealWith, type CheckpointPieces } from '../checkpoint/checkpoint.js';
import { recycle } from '../runtime/snapshot-arrays.js';
import { MAX_MODEL_FILE_BYTES } from '../onnx/io.js';
import { UserError } from '../errors.js';

const PATTERN = /^(.+)-step-(\d+)\.onnx$/;
let checkpointsWritten = 0;

export class RunCheckpoints {
  private readonly own = new Set<string>();
  readonly folder: string;
  private readonly writer = new BackgroundWriter();
  /** The newest checkpoint on disk of each strategy, written by this run. */
  private readonly newest = new Map<string, string>();
  /** The first write (or pruning) that failed: thrown at the next checkpoint or settle. */
  private failure: Error | undefined;
  private abandoned = false;

  constructor(dir: string) {
    this.folder = join(dir, 'checkpoints');
  }

  /** This strategy's checkpoints in the folder, newest first. */
  list(strategy: string): string[] {
    let names: string[];
    try {
      if (lstatSync(this.folder).isSymbolicLink()) throw new UserError(`${this.folder}: is a symbolic link; onnx-finetune reads and writes checkpoints only in a real folder inside the run's folder (remove it)`);
      names = readdirSync(this.folder);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw fileError(this.folder, 'list the checkpoints', e);
    }
    return names
      .map((name) => ({ name, m: PATTERN.exec(name) }))
      .filter(({ m }) => m && m[1] === strategy)
      .sort((a, b) => Number(b.m![2]) - Number(a.m![2]))
      .map(({ name }) => join(this.folder, name));
  }

  /** The checkpoints found for a run this one continues (or replaces) become this run's to prune. */
  adopt(strategy: string): void {
    for (const path of this.list(strategy)) this.own.add(path);
  }

  /** The newest checkpoint's bytes: a regular file only, never through a link. */
  readNewest(strategy: string): { path: string; bytes: Uint8Array } | undefined {
    const path = this.list(strategy)[0];
    return path === undefined ? undefined : { path, bytes: readRegularFile(path, 'checkpoint', { limit: MAX_MODEL_FILE_BYTES, noFollow: true }) };
  }

  /**
   * Queues one checkpoint, to be written atomically on the writer thread; once it is on disk, this run's
   * older ones beyond `keep` are dropped. The checkpoint's buffers move to that thread. Throws the failure
   * of an earlier checkpoint, if one failed.
   */
  write(strategy: string, steps: number, checkpoint: CheckpointPieces, keep: number): void {
    this.throwFailure();
    ownSubfolder(this.folder);
    const path = join(this.folder, `${strategy}-step-${String(steps).padStart(8, '0')}.onnx`);
    const { pieces, seal, buffers } = checkpoint;
    if (fault('mid-checkpoint', ++checkpointsWritten)) {
      this.writer.settleSync();
      const bytes = Buffer.concat([...pieces, sealWith(seal, pieces)]);
      writeAll(createExclusive(temporaryName(path)), [bytes.subarray(0, bytes.length >> 1)]);
      killNow();
    }
    // A snapshot's shared memory is read in place by the writer thread, and reused once the file is written.
    const transfer = buffers.filter((b): b is ArrayBuffer => b instanceof ArrayBuffer);
    this.writer.write({ path, temporary: temporaryName(path), pieces, seal, transfer }, (outcome) => {
      recycle(buffers);
      this.landed(strategy, outcome, keep);
    });
  }

  /**
   * Queues a small file of the run (the report's) to be written atomically on the same thread, so that it
   * lands before any checkpoint asked for after it, and its fsync costs the training thread nothing.
   */
  writeFile(path: string, text: string): void {
    this.throwFailure();
    this.writer.write({ path, temporary: temporaryName(path), pieces: [Buffer.from(text)] }, ({ error }) => {
      if (error && !this.abandoned && !this.failure) this.failure = fileError(path, 'write', Object.assign(new Error(error.message), { code: error.code }));
    });
  }

  /** Waits until every checkpoint asked for is on disk; throws the first that failed. */
  async settle(): Promise<void> {
    await this.writer.settle();
    this.throwFailure();
  }

  /** settle, blocking (older checkpoints pruned too): for a process about to kill itself (fault injection), as if the writes were synchronous. */
  settleSync(): void {
    this.writer.settleSync();
  }

  /** This run's newest checkpoint of the strategy on disk (as far as this thread has heard). */
  newestWritten(strategy: string): string | undefined {
    return this.newest.get(strategy);
  }

  /** Stops writing (a run that must write no more, e.g. its lock was taken): queued checkpoints are dropped. */
  async abandon(): Promise<void> {
    this.abandoned = true;
    await this.writer.close();
  }

  /** Ends the writer thread once nothing is queued. */
  async close(): Promise<void> {
    await this.writer.settle();
    await this.writer.close();
  }

  private landed(strategy: string, { path, error }: WriteOutcome, keep: number): void {
    if (this.abandoned || this.failure) return;
    if (error) {
      this.failure = fileError(path, 'write', Object.assign(new Error(error.message), { code: error.code }));
      return;
    }
    this.own.add(path);
    this.newest.set(strategy, path);
    try {
      for (const old of this.list(strategy).slice(keep)) if (this.own.delete(old)) removeRegularFile(old);
    } catch (e) {
      this.failure = e as Error;
    }
  }

  private throwFailure(): void {
    if (this.failure) throw this.failure;
  }

  /** A finished run's checkpoints are of no further use: its outputs are written. */
  drop(strategy: string): void {
    for (const path of this.list(strategy)) if (this.own.delete(path)) removeRegularFile(path);
    // and what a killed run of this folder left half written (this run holds the folder's lock)
    const leftovers = new RegExp(`^${strategy}-step-\\d+\\.onnx\\.[0-9a-f]+\\.tmp$`);
    for (const name of this.names()) if (leftovers.test(name)) removeRegularFile(join(this.folder, name));
    try {
      rmdirSync(this.folder);
    } catch {
      // other strategies' checkpoints (or a stray file) remain
    }
  }

  private names(): string[] {
    try {
      return lstatSync(this.folder).isDirectory() ? readdirSync(this.folder) : [];
    } catch {
      return [];
    }
  }
}
