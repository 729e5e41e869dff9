// The PyTorch side of `npm run bench`: scripts/bench-pytorch.py --serve, one process kept for the whole run,
// asked for one row at a time so that each row's two sides run back to back on the same machine state.
// Which Python: `--pytorch PATH`, else $ONNX_FINETUNE_BENCH_PYTHON, else python3 on the PATH; it must import torch.
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export interface PyTorchResult {
  workload: string;
  median_us?: number;
  min_us?: number;
  max_us?: number;
  images_per_s?: number;
  /** CPU time per step (user + system, all threads), median. */
  cpu_us?: number;
  note?: string;
  error?: string;
}

export const PYTORCH_SCRIPT = fileURLToPath(new URL('../../scripts/bench-pytorch.py', import.meta.url));

/** The Python to use and why, or why there is none. */
export function findPython(argv: string[], env: NodeJS.ProcessEnv): { python?: string; why: string } {
  const at = argv.indexOf('--pytorch');
  const asked = at >= 0 ? argv[at + 1] : env.ONNX_FINETUNE_BENCH_PYTHON;
  const candidate = asked || 'python3';
  const probe = spawnSync(candidate, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
  if (probe.status === 0) return { python: candidate, why: `PyTorch ${probe.stdout.trim()} (${candidate})` };
  const reason = probe.error ? 'not found' : 'cannot import torch';
  return { why: `PyTorch not found (${candidate}: ${reason}); pass --pytorch /path/to/python or set ONNX_FINETUNE_BENCH_PYTHON to compare` };
}

export class PyTorchSide {
  private readonly waiting: ((line: string) => void)[] = [];
  private stderr = '';

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    createInterface({ input: child.stdout }).on('line', (line) => this.waiting.shift()?.(line));
    child.stderr.on('data', (chunk: Buffer) => (this.stderr = (this.stderr + chunk.toString()).slice(-2000)));
    child.on('exit', () => {
      for (const resolve of this.waiting.splice(0)) resolve(JSON.stringify({ error: `bench-pytorch.py exited: ${this.lastError()}` }));
    });
  }

  /** Starts the server and waits until its models are defined (torch imported). */
  static async start(python: string): Promise<PyTorchSide> {
    const side = new PyTorchSide(spawn(python, [PYTORCH_SCRIPT, '--serve'], { stdio: ['pipe', 'pipe', 'pipe'] }));
    const ready = JSON.parse(await side.next()) as { ready?: boolean; error?: string };
    if (!ready.ready) throw new Error(ready.error ?? 'bench-pytorch.py did not start');
    return side;
  }

  /** One row, measured now; `name` is the workload's name (or `--images N`). */
  async measure(name: string): Promise<PyTorchResult> {
    this.child.stdin.write(`${name}\n`);
    const line = await this.next();
    try {
      return { workload: name, ...(JSON.parse(line) as Omit<PyTorchResult, 'workload'>) };
    } catch {
      return { workload: name, error: line.slice(0, 200) };
    }
  }

  close(): void {
    this.child.stdin.end();
  }

  private next(): Promise<string> {
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private lastError(): string {
    return this.stderr.trim().split('\n').pop() ?? 'no message';
  }
}

/** The seed notebook's job as a whole Python process, start to exit, in µs (or an error). */
export function timeNotebookProcess(python: string): { us?: number; error?: string } {
  const t0 = process.hrtime.bigint();
  const child = spawnSync(python, [PYTORCH_SCRIPT, '--notebook'], { encoding: 'utf8' });
  const us = Number(process.hrtime.bigint() - t0) / 1e3;
  return child.status === 0 ? { us } : { error: (child.stderr || `exit ${child.status}`).trim().split('\n').pop() };
}
