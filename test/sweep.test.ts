// Sweeps as a user runs them: 12 runs with --workers 2 give the same weights as the same runs one at a time;
// Ctrl-C stops a sweep and the same command continues it; through a real redis-server, 3 workers, one of them
// SIGKILLed mid-run, finish every run with the same weights (the lost run retried and resumed); bad input
// fails once with its line. Bad sweep files, an unreachable Redis and a worker of another version: one line each.
import { expect } from 'chai';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { cli, CLI } from './util/cli.js';

// 12 runs of the built-in task: full fine-tunes of 4 epochs, a checkpoint every 20 steps (116 or 228 steps each).
const SWEEP = `command: full-finetune
options:
  epochs: 4
  checkpoint-every: 20
grid:
  lr: [0.01, 0.03, 0.1]
  seed: [1, 2]
  batch-size: [16, 32]
`;

interface Row { run: string; status: string; dir: string; args: string[]; worker: string | null; attempts: number; resumed: boolean; error: string | null; metrics: Record<string, number> }
const rowsOf = (out: string): Row[] => JSON.parse(readFileSync(join(out, 'sweep.json'), 'utf8')).runs;
const weights = (dir: string) => readFileSync(join(dir, 'full_fine_tune.safetensors'));

function expectSameWeights(out: string, reference: string): void {
  for (const row of rowsOf(out)) expect(weights(join(out, row.dir)).equals(weights(join(reference, row.dir))), row.run).to.equal(true);
}

/** The last line on stderr, which must be the only one. */
function oneLine(stderr: string): string {
  const lines = stderr.trim().split('\n');
  expect(lines, stderr).to.have.length(1);
  return lines[0];
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

const exited = (child: ChildProcess) => new Promise<number | null>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve(child.exitCode) : child.on('exit', (code) => resolve(code))));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('sweep (command)', function () {
  this.timeout(120_000);
  const tmp = mkdtempSync(join(tmpdir(), 'onnx-finetune-sweep-'));
  const local = join(tmp, 'local');
  before(() => writeFileSync(join(tmp, 'sweep.yaml'), SWEEP));

  it('runs 12 runs with --workers 2 to the same weights as each run alone; a second run of it skips them all', async () => {
    const r = await cli(['sweep', 'sweep.yaml', '--workers', '2', '--out', local], tmp);
    expect(r.code, r.stderr).to.equal(0);
    const rows = rowsOf(local);
    expect(rows).to.have.length(12);
    expect(rows.every((row) => row.status === 'finished')).to.equal(true);
    expect(new Set(rows.map((row) => row.worker)).size).to.equal(2);
    expect(readFileSync(join(local, 'sweep.csv'), 'utf8').trim().split('\n')).to.have.length(13);
    expect(existsSync(join(local, 'report.html'))).to.equal(true);
    // The leaderboard: best accuracy first.
    const board = r.stdout.trim().split('\n').slice(1, 13).map((line) => Number(line.split(/\s+/)[2]));
    expect(board).to.deep.equal([...board].sort((a, b) => b - a));
    // The same runs one at a time, by the command line the sweep records for each.
    const alone = join(tmp, 'alone');
    for (const row of rows) {
      const one = await cli([...row.args, '--out', join(alone, row.dir)], tmp);
      expect(one.code, one.stderr).to.equal(0);
    }
    expectSameWeights(local, alone);
    const again = await cli(['sweep', 'sweep.yaml', '--workers', '2', '--out', local], tmp);
    expect(again.code, again.stderr).to.equal(0);
    expect(again.stderr).to.contain('12 finished earlier, 0 to run');
  });

  it('stops on Ctrl-C keeping the finished runs, and continues when run again', async () => {
    const out = join(tmp, 'stopped');
    const child = spawn(process.execPath, [CLI, 'sweep', 'sweep.yaml', '--workers', '1', '--out', out], { cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    child.stdout!.resume();
    while (!/: finished/.test(stderr) && child.exitCode === null) await sleep(20);
    child.kill('SIGINT');
    expect(await exited(child), stderr).to.equal(130);
    const rows = rowsOf(out);
    const finished = rows.filter((row) => row.status === 'finished').length;
    expect(finished).to.be.within(1, 11);
    const again = await cli(['sweep', 'sweep.yaml', '--workers', '2', '--out', out], tmp);
    expect(again.code, again.stderr).to.equal(0);
    expect(again.stderr).to.contain(`${finished} finished earlier`);
    expectSameWeights(out, local);
  });

  it('refuses a bad sweep file in one line naming the field', async () => {
    writeFileSync(join(tmp, 'typo.yaml'), 'command: full-finetune\ngrid:\n  lrr: [0.1, 0.2]\n');
    writeFileSync(join(tmp, 'field.yaml'), 'comand: full-finetune\n');
    writeFileSync(join(tmp, 'empty.yaml'), 'command: full-finetune\ngrid:\n  lr: []\n');
    for (const [file, expected] of [['typo.yaml', 'typo.yaml: grid.lrr: unknown option of full-finetune (did you mean lr?)'], ['field.yaml', 'field.yaml: comand: unknown field (did you mean command?)'], ['empty.yaml', 'empty.yaml: grid.lr: empty list; a grid axis needs at least one value']]) {
      const r = await cli(['sweep', file, '--out', join(tmp, 'never')], tmp);
      expect(r.code).to.equal(1);
      expect(oneLine(r.stderr)).to.equal(`onnx-finetune: ${expected}`);
    }
    expect(existsSync(join(tmp, 'never'))).to.equal(false);
  });

  it('says in one line that Redis cannot be reached', async () => {
    const url = `redis://127.0.0.1:${await freePort()}`;
    for (const args of [['sweep', 'sweep.yaml', '--queue', url, '--out', join(tmp, 'never')], ['worker', '--queue', url]]) {
      const r = await cli(args, tmp);
      expect(r.code).to.equal(1);
      expect(oneLine(r.stderr)).to.equal(`onnx-finetune: --queue ${url}: cannot reach Redis (ECONNREFUSED); start it (redis-server --port PORT) or check the address`);
    }
  });

  describe('through a Redis queue', function () {
    let redis: ChildProcess | undefined;
    let url = '';
    const workers: ChildProcess[] = [];
    const startWorker = () => {
      const worker = spawn(process.execPath, [CLI, 'worker', '--queue', url, '--stalled-after', '2'], { cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'] });
      worker.stdout!.resume();
      worker.stderr!.resume();
      workers.push(worker);
      return worker;
    };

    before(async function () {
      if (spawnSync('redis-server', ['--version']).status !== 0) {
        console.log('    (skipped: no redis-server; install Debian\'s redis-server, as .ci/run does)');
        this.skip();
      }
      const port = await freePort();
      url = `redis://127.0.0.1:${port}`;
      redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'ignore'] });
      let log = '';
      redis.stdout!.on('data', (d) => (log += d));
      while (!log.includes('Ready to accept connections')) {
        if (redis.exitCode !== null) throw new Error(`redis-server did not start: ${log}`);
        await sleep(20);
      }
    });
    after(async () => {
      for (const w of workers) w.kill('SIGKILL');
      redis?.kill('SIGTERM');
      if (redis) await exited(redis);
    });

    it('3 workers, one SIGKILLed mid-run: every run finishes, the lost one resumed elsewhere, with the local weights', async () => {
      const out = join(tmp, 'queued');
      const pool = [startWorker(), startWorker(), startWorker()];
      const sweep = spawn(process.execPath, [CLI, 'sweep', 'sweep.yaml', '--queue', url, '--out', out], { cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      sweep.stderr!.on('data', (d) => (stderr += d));
      sweep.stdout!.resume();
      // The victim: a worker whose run has written a checkpoint (every 20 of 116 or more steps).
      let victim: { run: string; worker: number } | undefined;
      while (!victim && sweep.exitCode === null) {
        for (const run of existsSync(out) ? readdirSync(out) : []) {
          const lock = join(out, run, '.onnx-finetune.lock');
          const checkpoints = join(out, run, 'checkpoints');
          if (!existsSync(checkpoints) || !readdirSync(checkpoints).some((f) => /^full_fine_tune-step-\d+\.onnx$/.test(f)) || !existsSync(lock)) continue;
          let pid: number, parent: number;
          try {
            pid = JSON.parse(readFileSync(lock, 'utf8')).pid;
            parent = Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[1]);
          } catch {
            continue; // the run ended meanwhile
          }
          const worker = pool.find((w) => w.pid === parent);
          if (!worker) continue;
          // The machine is lost: the worker and its run, at once.
          worker.kill('SIGKILL');
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // the run had just ended: its worker died before reporting it, so it is retried all the same
          }
          victim = { run, worker: parent };
          break;
        }
        await sleep(10);
      }
      expect(victim, 'a run was caught mid-run').to.not.equal(undefined);
      expect(await exited(sweep), stderr).to.equal(0);
      const rows = rowsOf(out);
      expect(rows.every((row) => row.status === 'finished')).to.equal(true);
      const lost = rows.find((row) => row.run === victim!.run)!;
      expect(lost.attempts).to.be.at.least(2);
      expect(lost.resumed).to.equal(true);
      expect(lost.worker).to.not.contain(`:${victim!.worker}`);
      expectSameWeights(out, local);
    });

    it('fails a run with bad input once, with its one-line error', async () => {
      if (workers.filter((w) => w.exitCode === null).length === 0) startWorker();
      writeFileSync(join(tmp, 'missing.yaml'), "command: partial-unfreeze\noptions:\n  unfreeze: 'nothing.*'\n");
      const r = await cli(['sweep', 'missing.yaml', '--queue', url, '--out', join(tmp, 'missing')], tmp);
      expect(r.code).to.equal(1);
      const [row] = rowsOf(join(tmp, 'missing'));
      expect(row.status).to.equal('failed');
      expect(row.attempts).to.equal(1);
      expect(row.error).to.match(/^--unfreeze 'nothing\.\*' matches no parameter/).and.not.contain('\n');
      expect(r.stdout).to.contain(`${row.run}: failed: ${row.error}`);
    });

    it('a worker of another version than the queued run says so in one line', async () => {
      for (const w of workers) w.kill('SIGTERM');
      await Promise.all(workers.map(exited));
      const queue = new Queue('onnx-finetune-runs', { connection: { url } });
      await queue.add('run', { name: '001-other', dir: join(tmp, 'other', '001-other'), strategy: 'linear_probe', args: ['linear-probe'], version: '0.0.1-other' }, { jobId: 'other-001' });
      const r = await cli(['worker', '--queue', url], tmp);
      const state = await (await queue.getJob('other-001'))!.getState();
      await queue.close();
      expect(r.code).to.equal(1);
      const { version } = JSON.parse(readFileSync(join(CLI, '..', '..', '..', '..', 'package.json'), 'utf8'));
      expect(oneLine(r.stderr)).to.match(new RegExp(`^onnx-finetune: worker \\S+ runs onnx-finetune ${version} but run 001-other was queued by onnx-finetune 0\\.0\\.1-other: start workers of the same version$`));
      expect(state).to.equal('failed');
    });
  });
});
