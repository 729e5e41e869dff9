// The run's folder while it trains, taken under a lock so that two runs never write into one folder.
import { mkdirSync, rmdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import { takeLock, type RunLock } from './run-lock.js';
import { fileError } from '../runtime/files.js';
import { UserError } from '../errors.js';
import type { OutputFolder } from './outputs.js';

export interface ClaimedFolder {
  dir: string;
  /** Says which folder the run took when the one it was offered was busy. */
  note?: string;
  lock: RunLock;
  release(): void;
}

/**
 * Takes the folder for this run. A folder that another live run holds is refused (--out) or passed over for
 * the next free name (the default runs/ folder).
 */
export function claimFolder(folder: OutputFolder): ClaimedFolder {
  for (let n = 1; ; n++) {
    const dir = n === 1 ? folder.dir : `${folder.dir}-${n}`;
    let created: string | undefined;
    try {
      created = mkdirSync(dir, { recursive: true });
    } catch (e) {
      throw fileError(dir, 'create the output folder', e);
    }
    const lock = takeLock(dir);
    if ('check' in lock) {
      return {
        dir,
        lock,
        note: n === 1 ? undefined : `${folder.dir} is in use by another run; writing to ${dir}`,
        release() {
          lock.release();
          // A run that wrote nothing leaves no folder behind, nor the parents it created for it.
          if (created) removeEmptyFolders(dir, created);
        },
      };
    }
    if (created) removeEmptyFolders(dir, created);
    if (folder.given) {
      throw new UserError(`--out ${dir} is in use by another onnx-finetune run (pid ${lock.pid}${lock.host === hostname() ? '' : ` on ${lock.host}`}); wait for it or choose another folder`);
    }
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
