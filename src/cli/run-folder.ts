// The run's folder while it trains: a lock so that two runs never write into one folder, and the
// checkpoints (checkpoints/<strategy>-step-<N>.onnx, the newest --keep-checkpoints of each strategy).
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, rmdirSync, writeFileSync, writeSync } from 'node:fs';
import { fault, killNow } from './faults.js';
import { join } from 'node:path';
import { writeFileAtomic } from '../onnx/io.js';
import { UserError } from '../errors.js';
import type { OutputFolder } from './outputs.js';

const LOCK = '.onnx-finetune.lock';

export interface ClaimedFolder {
  dir: string;
  /** Says which folder the run took when the one it was offered was busy. */
  note?: string;
  release(): void;
}

/**
 * Takes the folder for this run: a lock file holding our pid, created exclusively. A folder that another
 * live run holds is refused (--out) or passed over for the next free name (the default runs/ folder).
 */
export function claimFolder(folder: OutputFolder): ClaimedFolder {
  for (let n = 1; ; n++) {
    const dir = n === 1 ? folder.dir : `${folder.dir}-${n}`;
    const created = mkdirSync(dir, { recursive: true });
    const lock = join(dir, LOCK);
    const holder = takeLock(lock);
    if (holder === undefined) {
      return {
        dir,
        note: n === 1 ? undefined : `${folder.dir} is in use by another run; writing to ${dir}`,
        release() {
          rmSync(lock, { force: true });
          // A run that wrote nothing leaves no folder behind.
          if (created) try { rmdirSync(dir); } catch { /* not empty: keep it */ }
        },
      };
    }
    if (folder.given) throw new UserError(`--out ${dir} is in use by another onnx-finetune run (pid ${holder}); wait for it or choose another folder`);
  }
}

/** undefined when the lock is ours now; else the pid of the live run that holds it. */
function takeLock(lock: string): number | undefined {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lock, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return undefined;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new UserError(`${lock}: cannot create (${(e as NodeJS.ErrnoException).code})`);
      const pid = Number(readFileSync(lock, 'utf8'));
      if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) return pid;
      rmSync(lock, { force: true }); // left by a run that died: take it over
    }
  }
  throw new UserError(`${lock}: cannot take the lock`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const checkpointDir = (dir: string) => join(dir, 'checkpoints');
const PATTERN = /^(.+)-step-(\d+)\.onnx$/;

/** Writes one checkpoint atomically, then drops this strategy's older ones beyond `keep`. Returns its path. */
let checkpointsWritten = 0;

export function writeCheckpoint(dir: string, strategy: string, steps: number, bytes: Uint8Array, keep: number): string {
  const folder = checkpointDir(dir);
  mkdirSync(folder, { recursive: true });
  const path = join(folder, `${strategy}-step-${String(steps).padStart(8, '0')}.onnx`);
  if (fault('mid-checkpoint', ++checkpointsWritten)) {
    writeFileSync(`${path}.${process.pid}.tmp`, bytes.subarray(0, bytes.length >> 1));
    killNow();
  }
  writeFileAtomic(path, bytes);
  for (const old of checkpointsOf(dir, strategy).slice(keep)) rmSync(old, { force: true });
  return path;
}

/** This strategy's checkpoints in the folder, newest first. */
export function checkpointsOf(dir: string, strategy: string): string[] {
  let names: string[];
  try {
    names = readdirSync(checkpointDir(dir));
  } catch {
    return [];
  }
  return names
    .map((name) => ({ name, m: PATTERN.exec(name) }))
    .filter(({ m }) => m && m[1] === strategy)
    .sort((a, b) => Number(b.m![2]) - Number(a.m![2]))
    .map(({ name }) => join(checkpointDir(dir), name));
}

/** A finished run's checkpoints are of no further use: its outputs are written. */
export function dropCheckpoints(dir: string, strategy: string): void {
  for (const file of checkpointsOf(dir, strategy)) rmSync(file, { force: true });
  try {
    rmdirSync(checkpointDir(dir));
  } catch {
    // other strategies' checkpoints (or a stray file) remain
  }
}
