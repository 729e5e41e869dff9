// The lock that keeps two runs out of one folder: `.onnx-finetune.lock`, holding the owner's pid and host.
// It is written whole under a temporary name and then hard-linked into place, which fails if a lock exists:
// a lock is never empty or half written, even on a full disk. A lock whose owner is gone (a dead pid on this
// host, or content no run writes) is moved aside under a random name before it is removed, so that two runs
// taking over the same stale lock cannot both win.
import { closeSync, fsyncSync, linkSync, renameSync, unlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { createExclusive, fileError, type FileError, readRegularFile, temporaryName, writeAll } from '../runtime/files.js';
import { UserError } from '../errors.js';

export const LOCK = '.onnx-finetune.lock';

export interface Holder {
  pid: number;
  host: string;
}

export interface RunLock {
  path: string;
  /** Throws when the lock is no longer ours (removed, or taken by another run): this run must write nothing more. */
  check(): void;
  release(): void;
}

/** Takes the folder's lock, or returns the live run that holds it. */
export function takeLock(dir: string): RunLock | Holder {
  const path = join(dir, LOCK);
  const ours = `${JSON.stringify({ pid: process.pid, host: hostname() })}\n`;
  for (let attempt = 0; attempt < 5; attempt++) {
    if (linkNew(path, ours)) return heldLock(path, ours);
    const text = readLock(path);
    if (text === undefined) continue; // gone meanwhile: try again
    const holder = parseHolder(text);
    if (holder && isAlive(holder)) return holder;
    takeOver(path, text);
  }
  throw new UserError(`${path}: cannot take the run's lock (other runs keep taking it)`);
}

/** Creates the lock with its content in one step; false when a lock exists. */
function linkNew(path: string, content: string): boolean {
  const tmp = temporaryName(path);
  let fd: number | undefined;
  try {
    fd = createExclusive(tmp);
    writeAll(fd, [content]);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    linkSync(tmp, path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw fileError(path, "take the run's lock", e);
  } finally {
    if (fd !== undefined) closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      // never created
    }
  }
}

function readLock(path: string): string | undefined {
  try {
    return Buffer.from(readRegularFile(path, "the run's lock", { limit: 4096, noFollow: true })).toString('utf8');
  } catch (e) {
    if ((e as FileError).code === 'ENOENT') return undefined;
    return ''; // a folder, link or unreadable file in its place holds no run: taken over below
  }
}

/** The lock's owner; undefined for content no run writes (empty, junk). A bare pid is the older format. */
function parseHolder(text: string): Holder | undefined {
  if (/^\d+$/.test(text.trim())) return { pid: Number(text.trim()), host: hostname() };
  try {
    const { pid, host } = JSON.parse(text);
    return Number.isSafeInteger(pid) && pid > 0 && typeof host === 'string' ? { pid, host } : undefined;
  } catch {
    return undefined;
  }
}

/** A run on another host cannot be asked: it counts as alive. */
function isAlive({ pid, host }: Holder): boolean {
  if (host !== hostname()) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes a stale lock unless another run replaced it after we read it; then that run's lock is put back. */
function takeOver(path: string, staleText: string): void {
  const aside = temporaryName(`${path}.stale`);
  try {
    renameSync(path, aside);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw fileError(path, "take over the lock of a run that is gone", e);
  }
  const moved = readLock(aside);
  try {
    if (moved !== staleText) linkSync(aside, path);
  } catch {
    // another lock was created meanwhile: that one stands
  }
  rmAny(aside);
}

function rmAny(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // a folder in the lock's place: left for the user
  }
}

function heldLock(path: string, ours: string): RunLock {
  return {
    path,
    check() {
      const now = readLock(path);
      if (now === ours) return;
      const other = now && parseHolder(now);
      throw new UserError(`${path}: this run's lock was ${other ? `taken by another run (pid ${other.pid})` : 'removed'}; stopping without writing more, so as not to overwrite another run's files`);
    },
    release() {
      if (readLock(path) === ours) rmAny(path);
    },
  };
}
