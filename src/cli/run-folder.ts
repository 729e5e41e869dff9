// The run's folder while it trains: a lock so that two runs never write into one folder, and the
// checkpoints (checkpoints/<strategy>-step-<N>.onnx, the newest --keep-checkpoints of each strategy).
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, rmdirSync, writeFileSync, writeSync } from 'node:fs';
import { fault, killNow } from './faults.js';
import { dirname, join, resolve } from 'node:path';
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
    let created: string | undefined;
    try {
      created = mkdirSync(dir, { recursive: true });
    } catch (e) {
      throw new UserError(`${dir}: cannot create the output folder (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    const lock = join(dir, LOCK);
    const holder = takeLock(lock);
    if (holder === undefined) {
      return {
        dir,
        note: n === 1 ? undefined : `${folder.dir} is in use by another run; writing to ${dir}`,
        release() {
          rmSync(lock, { force: true });
          // A run that wrote nothing leaves no folder behind, nor the parents it created for it.
          if (created) removeEmptyFolders(dir, created);
        },
      };
    }
    if (folder.given) throw new UserError(`--out ${dir} is in use by another onnx-finetune run${holder > 0 ? ` (pid ${holder})` : ''}; wait for it or choose another folder`);
  }
}

/** Removes `dir` and its parents up to `top` (the first folder mkdir created), as long as they are empty. */
function removeEmptyFolders(dir: string, top: string): void {
  for (let d = resolve(dir); ; d = dirname(d)) {
    try {
      rmdirSync(d);
    } catch {
      return; // not empty: keep it and its parents
    }
    if (d === resolve(top)) return;
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
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new UserError(`${lock}: cannot create the run's lock (${(e as NodeJS.ErrnoException).code})`);
      const text = readFileSync(lock, 'utf8');
      const pid = Number(text);
      // An empty lock is one being written right now by a run that has just taken it.
      if (text === '') return 0;
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
  // and what a killed run left half written
  const folder = checkpointDir(dir);
  for (const name of existsSync(folder) ? readdirSync(folder, { withFileTypes: true }) : []) {
    if (name.isFile() && name.name.startsWith(`${strategy}-step-`) && name.name.endsWith('.tmp')) rmSync(join(checkpointDir(dir), name.name), { force: true });
  }
  try {
    rmdirSync(checkpointDir(dir));
  } catch {
    // other strategies' checkpoints (or a stray file) remain
  }
}
