// A run's checkpoints: checkpoints/<strategy>-step-<N>.onnx in its folder, the newest --keep-checkpoints of
// each strategy. The run deletes only checkpoints it recognises as its own: those it wrote, and those of the
// run it continues (adopted under the folder's lock). A `checkpoints` link or a link in a checkpoint's place
// is refused, never followed.
import { lstatSync, readdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { fault, killNow } from './faults.js';
import { createExclusive, fileError, ownSubfolder, readRegularFile, removeRegularFile, temporaryName, writeAll, writeFileAtomic } from '../runtime/files.js';
import { MAX_MODEL_FILE_BYTES } from '../onnx/io.js';
import { UserError } from '../errors.js';

const PATTERN = /^(.+)-step-(\d+)\.onnx$/;
let checkpointsWritten = 0;

export class RunCheckpoints {
  private readonly own = new Set<string>();
  readonly folder: string;

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

  /** Writes one checkpoint atomically, then drops this run's older ones beyond `keep`. Returns its path. */
  write(strategy: string, steps: number, bytes: Uint8Array, keep: number): string {
    ownSubfolder(this.folder);
    const path = join(this.folder, `${strategy}-step-${String(steps).padStart(8, '0')}.onnx`);
    if (fault('mid-checkpoint', ++checkpointsWritten)) {
      writeAll(createExclusive(temporaryName(path)), [bytes.subarray(0, bytes.length >> 1)]);
      killNow();
    }
    writeFileAtomic(path, bytes);
    this.own.add(path);
    for (const old of this.list(strategy).slice(keep)) if (this.own.delete(old)) removeRegularFile(old);
    return path;
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
