// Hostile files and full disks, through the command as a user runs it: planted links are never followed,
// sizes are checked before anything is allocated, FIFOs and devices never hang a run, a full disk or a
// read-only folder is one line and exit 1 with the earlier checkpoints and results intact, locks recover,
// and bad input is quoted short. (Forged checkpoint state: checkpoint-forgery.test.ts.)
import { expect } from 'chai';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, renameSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, CLI, type Run } from './util/cli.js';
import { fixturePath } from './util/fixtures.js';
import { mountTmpfs, PAGE, remount, unmount } from './util/tmpfs.js';
import { encodeModel, loadModel } from '../src/onnx/io.js';
import { onnx } from '../src/onnx/proto.js';

const PROBE = ['linear-probe', '--epochs', '3', '--json', '--checkpoint-every', 'epoch']; // the built-in job: 15 steps an epoch, a checkpoint each
const seedFiles = ['--model', fixturePath('torch-seed', 'model.onnx'), '--train', fixturePath('torch-seed', 'train.csv'), '--test', fixturePath('torch-seed', 'test.csv')];

const REPORT_FILES = ['metrics.csv', 'report.html', 'run.json'];
/** The pages a finished run's report files take: the tmpfs sizes below leave room for them. */
const reportPages = (dir: string) => REPORT_FILES.reduce((n, f) => n + Math.ceil(statSync(join(dir, f)).size / PAGE), 0);

/** One line on stderr, exit 1: a user error, never "a bug". */
function refused(run: Run, message: RegExp): void {
  expect(run.code, run.stderr).to.equal(1);
  const lines = run.stderr.trimEnd().split('\n');
  expect(lines, run.stderr).to.have.length(1);
  expect(lines[0], lines[0]).to.match(message);
  expect(lines[0]).to.not.match(/a bug/);
}

const bytes = (path: string) => readFileSync(path);
const results = (dir: string) => Object.fromEntries(['linear_probe.onnx', 'linear_probe.safetensors', 'linear_probe.json'].map((f) => [f, bytes(join(dir, f)).toString('base64')]));

/** The seed model with its first initializer moved to an external data file, its entries as given. */
function externalModel(dir: string, entries: Record<string, string>, dims?: number[]): string {
  mkdirSync(dir, { recursive: true });
  const model = loadModel(fixturePath('torch-seed', 'model.onnx'));
  const t = model.graph.initializer[0];
  if (dims) t.dims = dims;
  t.rawData = new Uint8Array(0);
  t.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
  t.externalData = Object.entries(entries).map(([key, value]) => onnx.StringStringEntryProto.create({ key, value }));
  writeFileSync(join(dir, 'model.onnx'), encodeModel(model));
  return join(dir, 'model.onnx');
}

describe('hostile files and full disks (command)', function () {
  this.timeout(60_000);
  const tmp = mkdtempSync(join(tmpdir(), 'onnx-finetune-hostile-'));

  describe('planted symbolic links', () => {
    it('a link in place of an output is replaced by the file; its target outside --out is untouched', async () => {
      const out = join(tmp, 'link-output');
      mkdirSync(out);
      const victim = join(tmp, 'victim-output.txt');
      writeFileSync(victim, 'precious');
      symlinkSync(victim, join(out, 'linear_probe.onnx'));
      const run = await cli([...PROBE, '--out', out, '--overwrite'], tmp);
      expect(run.code, run.stderr).to.equal(0);
      expect(readFileSync(victim, 'utf8')).to.equal('precious');
      expect(lstatSync(join(out, 'linear_probe.onnx')).isFile()).to.equal(true);
    });

    it('a `checkpoints` link in the output folder is refused: nothing is written or deleted through it', async () => {
      const out = join(tmp, 'link-checkpoints');
      const elsewhere = join(tmp, 'elsewhere');
      mkdirSync(out);
      mkdirSync(elsewhere);
      writeFileSync(join(elsewhere, 'linear_probe-step-00000001.onnx'), 'not ours');
      symlinkSync(elsewhere, join(out, 'checkpoints'));
      for (const extra of [[], ['--overwrite']]) {
        refused(await cli([...PROBE, '--out', out, ...extra], tmp), /checkpoints: is a symbolic link; onnx-finetune reads and writes checkpoints only in a real folder/);
        expect(readdirSync(elsewhere)).to.deep.equal(['linear_probe-step-00000001.onnx']);
      }
    });

    it('a planted checkpoint link is never opened, and never deleted', async () => {
      const out = join(tmp, 'link-checkpoint');
      const killed = await cli([...PROBE, '--out', out], tmp, { ONNX_FINETUNE_FAULT: 'after-step:20' });
      expect(killed.signal).to.equal('SIGKILL');
      const victim = join(tmp, 'victim-checkpoint.onnx');
      writeFileSync(victim, readFileSync(join(out, 'checkpoints', 'linear_probe-step-00000015.onnx')));
      const planted = join(out, 'checkpoints', 'linear_probe-step-99999999.onnx');
      symlinkSync(victim, planted);
      refused(await cli([...PROBE, '--resume', out], tmp), /step-99999999\.onnx: cannot read checkpoint \(it is a symbolic link, which onnx-finetune does not follow here, ELOOP\)$/);
      rmSync(planted);
      const resumed = await cli([...PROBE, '--resume', out], tmp);
      expect(resumed.code, resumed.stderr).to.equal(0);
      expect(existsSync(victim)).to.equal(true);
    });
  });

  describe('sizes are checked before anything is allocated', () => {
    it('external data declaring a length its tensor does not have (6 GiB)', async () => {
      const model = externalModel(join(tmp, 'ext-length'), { location: 'w.bin', length: String(6 * 2 ** 30) });
      writeFileSync(join(tmp, 'ext-length', 'w.bin'), new Uint8Array(1280));
      refused(await cli([...PROBE, '--model', model, '--train', fixturePath('torch-seed', 'train.csv'), '--test', fixturePath('torch-seed', 'test.csv')], tmp),
        /tensor 'backbone\.0\.weight': external data declares 6442450944 bytes, but its shape \[32,10\] needs 1280$/);
    });

    it('a sparse 3 GiB external data file without a length: only the tensor\'s bytes are read', () => {
      const dir = join(tmp, 'ext-sparse');
      const path = externalModel(dir, { location: 'w.bin' });
      writeFileSync(join(dir, 'w.bin'), '');
      truncateSync(join(dir, 'w.bin'), 3 * 2 ** 30);
      const before = process.memoryUsage().rss;
      const model = loadModel(path);
      expect(model.graph.initializer[0].rawData.length).to.equal(1280);
      expect(process.memoryUsage().rss - before).to.be.below(256 * 2 ** 20);
    });

    it('a tensor whose shape needs more than 2 GiB', async () => {
      const model = externalModel(join(tmp, 'ext-huge'), { location: 'w.bin' }, [2 ** 20, 2 ** 20]);
      writeFileSync(join(tmp, 'ext-huge', 'w.bin'), '');
      refused(await cli([...PROBE, '--model', model, ...seedFiles.slice(2)], tmp), /tensor 'backbone\.0\.weight': shape \[1048576,1048576\] takes 4398046511104 bytes; .*2 GiB$/);
    });

    for (const option of ['--model', '--train']) {
      it(`/dev/zero as ${option}: refused, not read without end`, async () => {
        const args = option === '--model' ? ['--model', '/dev/zero', '--train', seedFiles[3], '--test', seedFiles[5]] : ['--model', seedFiles[1], '--train', '/dev/zero', '--test', seedFiles[5]];
        refused(await cli([...PROBE, ...args], tmp), /^onnx-finetune: \/dev\/zero: cannot read (model|CSV) file \(not a regular file: a FIFO, device or socket\)$/);
      });
    }

    it('a CSV file of one 300 MiB line (sparse) is streamed, and refused at the record limit', async () => {
      const big = join(tmp, 'big.csv');
      writeFileSync(big, '');
      truncateSync(big, 300 * 2 ** 20);
      refused(await cli([...PROBE, ...seedFiles.slice(0, 2), '--train', big, '--test', seedFiles[5]], tmp), /big\.csv: not a valid CSV file \(line 1: a record longer than the 16777216 characters one may have\)$/);
    });

    it('a JSONL line past the line limit', async () => {
      const long = join(tmp, 'long.jsonl');
      writeFileSync(long, `{"x": [${'0,'.repeat(9 * 2 ** 20)}0], "y": 1}\n`);
      refused(await cli([...PROBE, ...seedFiles.slice(0, 2), '--train', long, '--test', long], tmp), /long\.jsonl: line 1: 18874386 characters, more than the 16777216 a line may have$/);
    });
  });

  describe('FIFOs never hang a run', () => {
    const fifo = (path: string) => execFileSync('mkfifo', [path]);

    it('a FIFO as --train', async () => {
      const path = join(tmp, 'train-fifo.csv');
      fifo(path);
      refused(await cli([...PROBE, ...seedFiles.slice(0, 2), '--train', path, '--test', seedFiles[5]], tmp), /train-fifo\.csv: cannot read CSV file \(not a regular file: a FIFO, device or socket\)$/);
    });

    it('a FIFO as external data', async () => {
      const model = externalModel(join(tmp, 'ext-fifo'), { location: 'w.bin' });
      fifo(join(tmp, 'ext-fifo', 'w.bin'));
      refused(await cli([...PROBE, '--model', model, ...seedFiles.slice(2)], tmp), /w\.bin: cannot read external data of tensor 'backbone\.0\.weight' \(not a regular file: a FIFO, device or socket\)$/);
    });

    it('a FIFO, or a folder, as the newest checkpoint', async () => {
      const out = join(tmp, 'fifo-checkpoint');
      await cli([...PROBE, '--out', out], tmp, { ONNX_FINETUNE_FAULT: 'after-step:20' });
      fifo(join(out, 'checkpoints', 'linear_probe-step-00000099.onnx'));
      refused(await cli([...PROBE, '--resume', out], tmp), /step-00000099\.onnx: cannot read checkpoint \(not a regular file: a FIFO, device or socket\)$/);
      rmSync(join(out, 'checkpoints', 'linear_probe-step-00000099.onnx'));
      mkdirSync(join(out, 'checkpoints', 'linear_probe-step-00000099.onnx'));
      refused(await cli([...PROBE, '--resume', out], tmp), /step-00000099\.onnx: cannot read checkpoint \(it is a folder\)$/);
    });
  });

  describe('locks', () => {
    it('--resume takes the lock before it reads anything in the folder', async () => {
      const out = join(tmp, 'lock-first');
      await cli([...PROBE, '--out', out], tmp, { ONNX_FINETUNE_FAULT: 'after-step:20' });
      // A live run holds the folder (this test process), and the newest checkpoint would block whoever read it.
      writeFileSync(join(out, '.onnx-finetune.lock'), JSON.stringify({ pid: process.pid, host: hostname() }));
      execFileSync('mkfifo', [join(out, 'checkpoints', 'linear_probe-step-00000099.onnx')]);
      refused(await cli([...PROBE, '--resume', out], tmp), new RegExp(`--out .*lock-first is in use by another onnx-finetune run \\(pid ${process.pid}\\)`));
    });

    it('a lock left empty (a full disk, before this fix) or holding junk is taken over', async () => {
      for (const content of ['', 'junk\n']) {
        const out = join(tmp, `stale-lock-${content.length}`);
        mkdirSync(out);
        writeFileSync(join(out, '.onnx-finetune.lock'), content);
        const run = await cli([...PROBE, '--out', out], tmp);
        expect(run.code, run.stderr).to.equal(0);
        expect(existsSync(join(out, '.onnx-finetune.lock'))).to.equal(false);
      }
    });

    it('a lock taken by another run mid-run stops this run before it writes again; it deletes nothing of the other run', async () => {
      const out = join(tmp, 'lock-stolen');
      const child = spawn(process.execPath, [CLI, 'full-finetune', '--epochs', '3000', '--checkpoint-every', '3', '--out', out], { cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      const checkpoints = join(out, 'checkpoints');
      while (!existsSync(checkpoints) || readdirSync(checkpoints).length === 0) await new Promise((r) => setTimeout(r, 5));
      // The other run: it took the folder after our lock was deleted, and wrote a checkpoint of its own.
      const other = join(checkpoints, 'full_fine_tune-step-00000001.onnx');
      writeFileSync(other, 'the other run');
      const lock = JSON.stringify({ pid: process.pid, host: hostname() });
      // Replaced whole, as a run taking the folder writes it (a plain write would show an empty lock for an instant).
      writeFileSync(join(out, 'lock.tmp'), lock);
      renameSync(join(out, 'lock.tmp'), join(out, '.onnx-finetune.lock'));
      const code = await new Promise((r) => child.on('close', r));
      expect(code).to.equal(1);
      expect(stderr.trim()).to.match(new RegExp(`lock-stolen/\\.onnx-finetune\\.lock: this run's lock was taken by another run \\(pid ${process.pid}\\); stopping without writing more`));
      expect(readFileSync(other, 'utf8')).to.equal('the other run');
      expect(readFileSync(join(out, '.onnx-finetune.lock'), 'utf8')).to.equal(lock);
      expect(existsSync(join(out, 'full_fine_tune.onnx'))).to.equal(false);
    });

    it('a checkpoint that appears mid-run is not this run\'s, so it is never pruned', async () => {
      const out = join(tmp, 'foreign-checkpoint');
      const child = spawn(process.execPath, [CLI, 'full-finetune', '--epochs', '40', '--checkpoint-every', '3', '--out', out, '--json'], { cwd: tmp, stdio: 'ignore' });
      const checkpoints = join(out, 'checkpoints');
      while (!existsSync(checkpoints) || readdirSync(checkpoints).length === 0) await new Promise((r) => setTimeout(r, 5));
      const foreign = join(checkpoints, 'full_fine_tune-step-00000001.onnx');
      writeFileSync(foreign, 'not this run\'s');
      expect(await new Promise((r) => child.on('close', r))).to.equal(0);
      expect(readdirSync(checkpoints)).to.deep.equal(['full_fine_tune-step-00000001.onnx']);
    });
  });

  describe('full disks and read-only folders (a small tmpfs)', function () {
    const mount = join(tmp, 'disk');
    before(function () {
      if (!mountTmpfs(mount, 64)) {
        console.log('      (skipped: this machine does not allow mounting a tmpfs; run as root where it does)');
        this.skip();
      }
      unmount(mount);
    });
    afterEach(() => unmount(mount));

    it('no space at all: one line naming the lock, none left behind; the next run goes ahead once there is room', async () => {
      mountTmpfs(mount, 1);
      writeFileSync(join(mount, 'filler'), new Uint8Array(PAGE));
      const out = join(mount, 'run');
      refused(await cli([...PROBE, '--out', out], tmp), /run\/\.onnx-finetune\.lock: cannot take the run's lock \(no space left on the device; free some space, ENOSPC\)$/);
      expect(readdirSync(out)).to.deep.equal([]);
      rmSync(join(mount, 'filler'));
      remount(mount, `size=${64 * PAGE}`);
      const run = await cli([...PROBE, '--out', out], tmp);
      expect(run.code, run.stderr).to.equal(0);
    });

    it('disk full at a checkpoint: exit 1 naming it, the last good checkpoint intact; --resume finishes bit-identical once there is room', async () => {
      const whole = join(tmp, 'disk-whole');
      expect((await cli([...PROBE, '--out', whole], tmp)).code).to.equal(0);
      // The lock (1 page), one 10 KB checkpoint (3 pages) and the report files written before it fit; the
      // second checkpoint's report files (written first, beside the first's) or the checkpoint itself do not.
      mountTmpfs(mount, 5 + reportPages(whole));
      const out = join(mount, 'run');
      const run = await cli([...PROBE, '--out', out], tmp);
      refused(run, /(report\.html|linear_probe-step-00000030\.onnx): cannot write \(no space left on the device; free some space, ENOSPC\); the last good checkpoint is .*linear_probe-step-00000015\.onnx; resume with: onnx-finetune linear-probe --epochs 3 --json --checkpoint-every epoch --resume .*run$/);
      expect(readdirSync(join(out, 'checkpoints'))).to.deep.equal(['linear_probe-step-00000015.onnx']);
      expect(existsSync(join(out, '.onnx-finetune.lock'))).to.equal(false);
      remount(mount, `size=${64 * PAGE}`);
      const resumed = await cli([...PROBE, '--resume', out], tmp);
      expect(resumed.code, resumed.stderr).to.equal(0);
      expect(bytes(join(out, 'linear_probe.safetensors')).equals(bytes(join(whole, 'linear_probe.safetensors')))).to.equal(true);
    });

    it('disk full while writing the results: exit 1, and the earlier results in the folder byte-identical', async () => {
      const reference = join(tmp, 'results-reference');
      expect((await cli([...PROBE, '--out', reference, '--checkpoint-every', '1000'], tmp)).code).to.equal(0);
      mountTmpfs(mount, 7 + reportPages(reference));
      const out = join(mount, 'run');
      expect((await cli([...PROBE, '--out', out, '--checkpoint-every', '1000'], tmp)).code).to.equal(0);
      const earlier = results(out);
      // The earlier results take 4 pages and the lock 1: the new results (4 pages) cannot all be written.
      const run = await cli([...PROBE, '--epochs', '4', '--out', out, '--checkpoint-every', '1000', '--overwrite'], tmp);
      refused(run, /linear_probe\.(onnx|safetensors|json): cannot write \(no space left on the device; free some space, ENOSPC\); no checkpoint of this run was written$|cannot write \(no space left/);
      expect(results(out)).to.deep.equal(earlier);
      expect(readdirSync(out).sort()).to.deep.equal(['linear_probe.json', 'linear_probe.onnx', 'linear_probe.safetensors', ...REPORT_FILES]);
    });

    it('--resume on a read-only folder: exit 1 naming the folder, its checkpoints intact', async () => {
      mountTmpfs(mount, 64);
      const out = join(mount, 'run');
      await cli([...PROBE, '--out', out], tmp, { ONNX_FINETUNE_FAULT: 'after-step:20' });
      const before = readdirSync(join(out, 'checkpoints'));
      remount(mount, 'ro');
      refused(await cli([...PROBE, '--resume', out], tmp), /run\/\.onnx-finetune\.lock: cannot take the run's lock \(read-only file system; choose a writable folder, EROFS\)$/);
      remount(mount, 'rw');
      expect(readdirSync(join(out, 'checkpoints'))).to.deep.equal(before);
      expect((await cli([...PROBE, '--resume', out], tmp)).code).to.equal(0);
    });
  });

  it('permission denied: one line naming the folder, exit 1', async function () {
    const locked = join(tmp, 'no-write');
    mkdirSync(locked);
    chmodSync(locked, 0o555);
    // Root ignores permissions: the command runs without the capabilities that let it (setpriv, util-linux).
    const root = process.getuid?.() === 0;
    if (root && spawnSync('setpriv', ['--version']).status !== 0) {
      console.log('      (skipped: running as root without setpriv to drop CAP_DAC_OVERRIDE)');
      this.skip();
    }
    const command = [process.execPath, CLI, ...PROBE, '--out', join(locked, 'run')];
    const [file, ...args] = root ? ['setpriv', '--bounding-set', '-dac_override,-dac_read_search', ...command] : command;
    const run = await new Promise<Run>((resolve) => {
      const child = spawn(file, args, { cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '', stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    });
    refused(run, /no-write\/run: cannot create the output folder \(permission denied, EACCES\)$/);
  });

  describe('bad input is quoted short', () => {
    it('a 1 MB CSV cell is quoted as a short excerpt', async () => {
      const csv = join(tmp, 'cell.csv');
      const header = `${Array.from({ length: 10 }, (_, i) => `x${i}`).join(',')},y`;
      writeFileSync(csv, `${header}\n${'A'.repeat(2 ** 20)},0,0,0,0,0,0,0,0,0,1\n`);
      const run = await cli([...PROBE, ...seedFiles.slice(0, 2), '--train', csv, '--test', csv], tmp);
      refused(run, /cell\.csv: line 2, column 'x0': 'A{40}…' \(1048576 characters\) \(not a number\)$/);
      expect(run.stderr.length).to.be.below(300);
    });

    it('a 20 MB CSV line is refused, naming the limit', async () => {
      const csv = join(tmp, 'line.csv');
      // The header fits the model: a streamed file's header is checked before its later lines are read.
      writeFileSync(csv, `${Array.from({ length: 10 }, (_, i) => `x${i}`).join(',')},y\n${'1'.repeat(20 * 2 ** 20)},0,0,0,0,0,0,0,0,0,1\n`);
      const run = await cli([...PROBE, ...seedFiles.slice(0, 2), '--train', csv, '--test', csv], tmp);
      expect(run.code).to.equal(1);
      expect(run.stderr).to.match(/line\.csv: not a valid CSV file \(.*16777216.*\)/);
      expect(run.stderr.length).to.be.below(400);
    });
  });
});
