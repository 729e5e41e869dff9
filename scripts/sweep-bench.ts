// Sweep timings (issue 19): the same 12 runs (full fine-tunes of the built-in task, 4 epochs) one at a time
// (--workers 1), two at a time (--workers 2), and on a Redis queue with two `worker` processes; rounds
// interleaved, the median wall time of each printed. Needs redis-server. Run: npm run build && node dist/scripts/sweep-bench.js [rounds]
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'onnx-finetune.mjs');
const SWEEP = 'command: full-finetune\noptions:\n  epochs: 4\ngrid:\n  lr: [0.01, 0.03, 0.1]\n  seed: [1, 2]\n  batch-size: [16, 32]\n';
const rounds = Number(process.argv[2] ?? 3);
const tmp = mkdtempSync(join(tmpdir(), 'onnx-finetune-sweep-bench-'));
writeFileSync(join(tmp, 'sweep.yaml'), SWEEP);

const port = await new Promise<number>((resolve) => {
  const server = createServer().listen(0, '127.0.0.1', () => {
    const { port } = server.address() as { port: number };
    server.close(() => resolve(port));
  });
});
const url = `redis://127.0.0.1:${port}`;
const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
await new Promise((r) => setTimeout(r, 500));
const workers: ChildProcess[] = [0, 1].map(() => spawn(process.execPath, [CLI, 'worker', '--queue', url], { cwd: tmp, stdio: 'ignore' }));
await new Promise((r) => setTimeout(r, 1000));

function sweep(args: string[]): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'sweep', 'sweep.yaml', ...args], { cwd: tmp, stdio: 'ignore' });
    child.on('exit', (code) => (code === 0 ? resolve((performance.now() - started) / 1000) : reject(new Error(`sweep ${args.join(' ')}: exit ${code}`))));
  });
}

const ways: Record<string, string[]> = { 'one at a time (--workers 1)': ['--workers', '1'], '--workers 2': ['--workers', '2'], '2 queue workers (--queue)': ['--queue', url] };
const times: Record<string, number[]> = Object.fromEntries(Object.keys(ways).map((k) => [k, []]));
try {
  for (let round = 0; round < rounds; round++) {
    for (const [i, [name, args]] of Object.entries(ways).entries()) times[name].push(await sweep([...args, '--out', join(tmp, `round-${round}-way-${i}`)]));
  }
} finally {
  for (const w of workers) w.kill('SIGTERM');
  redis.kill('SIGTERM');
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const base = median(times[Object.keys(ways)[0]]);
console.log(`12 runs (full-finetune, 4 epochs, built-in task), ${rounds} interleaved rounds, median wall seconds:`);
for (const [name, xs] of Object.entries(times)) console.log(`  ${name.padEnd(30)} ${median(xs).toFixed(1)} s  (${(base / median(xs)).toFixed(2)}x)   [${xs.map((x) => x.toFixed(1)).join(', ')}]`);
