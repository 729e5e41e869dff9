// Small tmpfs mounts for disk-full and read-only tests. They need root and a kernel that allows the mount
// (CAP_SYS_ADMIN); where it is refused, the tests that need one skip, saying why.
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';

export const PAGE = 4096;

/** Mounts a tmpfs of `pages` pages at `dir`; false when this machine does not allow it. */
export function mountTmpfs(dir: string, pages: number): boolean {
  mkdirSync(dir, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${pages * PAGE}`, 'tmpfs', dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Resizes or re-mounts read-only/read-write, e.g. 'ro', 'rw', `size=${n}`. */
export function remount(dir: string, options: string): void {
  execFileSync('mount', ['-o', `remount,${options}`, dir], { stdio: 'ignore' });
}

export function unmount(dir: string): void {
  try {
    execFileSync('umount', [dir], { stdio: 'ignore' });
  } catch {
    // not mounted
  }
}
