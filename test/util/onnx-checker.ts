// onnx.checker.check_model(full_check=True) from Python's onnx package (Debian: python3-onnx), when present.
import { spawnSync } from 'node:child_process';

const CANDIDATES = ['/usr/bin/python3', 'python3'];

function findPython(): string | undefined {
  return CANDIDATES.find((py) => spawnSync(py, ['-c', 'import onnx'], { stdio: 'ignore' }).status === 0);
}

export const checkerPython = findPython();

let told = false;

/** True when the checker is missing; the first time, the test output says so and how to install it. */
export function checkerMissing(): boolean {
  if (checkerPython) return false;
  if (!told) console.log('      (the onnx.checker checks are skipped: Python\'s onnx package is missing; install it with: apt-get install python3-onnx)');
  told = true;
  return true;
}

/** Returns '' when the file passes the full check, else the checker's message. */
export function checkModelFile(path: string): string {
  const script = 'import sys, onnx\nonnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)';
  const r = spawnSync(checkerPython!, ['-c', script, path], { encoding: 'utf8' });
  return r.status === 0 ? '' : (r.stderr || r.stdout).trim().split('\n').slice(-3).join(' ');
}
