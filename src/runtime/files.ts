// The file system as a hostile folder may present it. Reads take regular files only, checked on the opened
// descriptor (a FIFO would block, a device never ends) and limited in size before a byte is allocated. Writes
// go to a temporary file created exclusively under a random name, never through a link someone planted,
// then renamed over the target: a file is written whole or not at all. Operating-system errors become one
// line naming the path (UserError), so that exit 70 stays for real bugs.
import { closeSync, constants, fstatSync, fsyncSync, lstatSync, mkdirSync, openSync, readSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { UserError } from '../errors.js';

const REASONS: Record<string, string> = {
  ENOENT: 'no such file or folder',
  ENOTDIR: 'a part of the path is not a folder',
  EISDIR: 'it is a folder',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOSPC: 'no space left on the device; free some space',
  EDQUOT: 'disk quota exceeded; free some space',
  EFBIG: 'file too large for the file system',
  EROFS: 'read-only file system; choose a writable folder',
  EMFILE: 'too many open files in this process',
  ENFILE: 'too many open files on this system',
  ELOOP: 'it is a symbolic link, which onnx-finetune does not follow here',
  ENAMETOOLONG: 'the name is too long',
  EIO: 'input/output error',
  EBUSY: 'the file or folder is busy',
  ENXIO: 'no such device',
  ENODEV: 'no such device',
  EINVAL: 'invalid argument',
};

export const isSystemError = (e: unknown): e is NodeJS.ErrnoException =>
  e instanceof Error && typeof (e as NodeJS.ErrnoException).code === 'string' && (e as NodeJS.ErrnoException).code! in REASONS;

/** An operating-system error on a path the user gave or the run owns: their doing to fix, not a bug. */
export class FileError extends UserError {
  override name = 'FileError';

  constructor(message: string, readonly code: string) {
    super(message);
  }
}

/** The one line for an operating-system error on a path: what failed, why, and the code to search for. */
export function fileError(path: string, action: string, e: unknown): Error {
  if (e instanceof UserError || !isSystemError(e)) return e as Error;
  return new FileError(`${path}: cannot ${action} (${REASONS[e.code!]}, ${e.code})`, e.code!);
}

/** Sizes in errors, as people read them. */
export function bytesText(n: number): string {
  if (n < 1024) return `${n} bytes`;
  const [value, unit] = n < 2 ** 20 ? [n / 1024, 'KiB'] : n < 2 ** 30 ? [n / 2 ** 20, 'MiB'] : [n / 2 ** 30, 'GiB'];
  return `${Number.isInteger(value) ? value : value.toFixed(1)} ${unit}`;
}

export interface ReadOptions {
  /** Largest size accepted, checked before reading. */
  limit: number;
  /** Refuse a symbolic link (files in the tool's own folders, where a link can only have been planted). */
  noFollow?: boolean;
}

/** Opens a regular file for reading; a FIFO, device, socket or folder is refused without blocking on it. */
export function openRegularFile(path: string, what: string, options: { noFollow?: boolean } = {}): { fd: number; size: number } {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | (options.noFollow ? constants.O_NOFOLLOW : 0));
  } catch (e) {
    throw fileError(path, `read ${what}`, e);
  }
  const stat = fstatSync(fd);
  if (!stat.isFile()) {
    closeSync(fd);
    throw new UserError(`${path}: cannot read ${what} (${stat.isDirectory() ? 'it is a folder' : 'not a regular file: a FIFO, device or socket'})`);
  }
  return { fd, size: stat.size };
}

/** Reads `length` bytes from `position`; a file that ends early (it shrank meanwhile) is refused. */
export function readRange(fd: number, path: string, what: string, position: number, length: number): Uint8Array {
  const data = new Uint8Array(length);
  try {
    // readSync reads at most 2 GiB at a time.
    for (let done = 0; done < length; ) {
      const n = readSync(fd, data, done, Math.min(length - done, 1 << 30), position + done);
      if (n === 0) throw new UserError(`${path}: ${what} ends early (the file changed while it was read)`);
      done += n;
    }
  } catch (e) {
    throw fileError(path, `read ${what}`, e);
  }
  return data;
}

/** A regular file's bytes, refused past `limit` before anything is allocated. */
export function readRegularFile(path: string, what: string, options: ReadOptions): Uint8Array {
  const { fd, size } = openRegularFile(path, what, options);
  try {
    if (size > options.limit) throw new UserError(`${path}: ${what} is ${bytesText(size)}, more than the ${bytesText(options.limit)} onnx-finetune reads`);
    return readRange(fd, path, what, 0, size);
  } finally {
    closeSync(fd);
  }
}

export function readTextFile(path: string, what: string, options: ReadOptions): string {
  return Buffer.from(readRegularFile(path, what, options)).toString('utf8');
}

/** Creates a file that did not exist, never through a symbolic link. */
export function createExclusive(path: string): number {
  return openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
}

export function writeAll(fd: number, chunks: readonly (Uint8Array | string)[]): void {
  for (const chunk of chunks) {
    const data = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    for (let done = 0; done < data.length; ) done += writeSync(fd, data, done);
  }
}

/** A file written in full under a temporary name, to be renamed into place (commit) or removed (discard). */
export interface StagedFile {
  path: string;
  commit(): void;
  discard(): void;
}

export function temporaryName(path: string): string {
  return `${path}.${randomBytes(8).toString('hex')}.tmp`;
}

export function stageFile(path: string, chunks: readonly (Uint8Array | string)[]): StagedFile {
  const tmp = temporaryName(path);
  let fd: number | undefined;
  const discard = () => {
    try {
      unlinkSync(tmp);
    } catch {
      // never created, or already gone
    }
  };
  try {
    fd = createExclusive(tmp);
    writeAll(fd, chunks);
    fsyncSync(fd);
  } catch (e) {
    if (fd !== undefined) discard();
    throw fileError(path, 'write', e);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  return {
    path,
    // rename replaces a link at `path` itself, never the file it points to.
    commit() {
      try {
        renameSync(tmp, path);
      } catch (e) {
        discard();
        throw fileError(path, 'write', e);
      }
    },
    discard,
  };
}

/** Writes a file whole or not at all: a temporary name in the same folder, fsync, then rename. */
export function writeFileAtomic(path: string, ...chunks: (Uint8Array | string)[]): void {
  stageFile(path, chunks).commit();
}

/**
 * A folder inside one the tool owns, created if missing; one that exists must be a real folder, not a
 * link that would lead the run's writes (and deletions) elsewhere.
 */
export function ownSubfolder(path: string): void {
  try {
    mkdirSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw fileError(path, 'create the folder', e);
  }
  const stat = lstatSync(path);
  if (stat.isSymbolicLink() || !stat.isDirectory()) {
    throw new UserError(`${path}: is ${stat.isSymbolicLink() ? 'a symbolic link' : 'not a folder'}; onnx-finetune writes only into real folders inside the output folder (remove it)`);
  }
}

/** Removes a file only if it is a regular file (not a link planted in its place). */
export function removeRegularFile(path: string): void {
  try {
    if (lstatSync(path).isFile()) unlinkSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw fileError(path, 'remove', e);
  }
}

/**
 * A regular file's size, and its bytes in chunks, read in one pass (a data file may be far larger than
 * memory). Each chunk is a view into one reused buffer, valid until the next one is asked for: a caller
 * copies what it keeps. The file is closed when the chunks run out or the caller stops early.
 */
export function regularFileChunks(path: string, what: string, chunkBytes = 1 << 20): { size: number; chunks: Generator<Uint8Array, void, undefined> } {
  const { fd, size } = openRegularFile(path, what);
  function* chunks(): Generator<Uint8Array, void, undefined> {
    const buffer = new Uint8Array(chunkBytes);
    try {
      for (;;) {
        let n: number;
        try {
          n = readSync(fd, buffer, 0, chunkBytes, null);
        } catch (e) {
          throw fileError(path, `read ${what}`, e);
        }
        if (n === 0) return;
        yield buffer.subarray(0, n);
      }
    } finally {
      closeSync(fd);
    }
  }
  return { size, chunks: chunks() };
}
