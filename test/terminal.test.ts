// The command in a real terminal (a pseudo-terminal from util-linux's `script`): the progress bar shows
// elapsed time, rate and ETA, and a double Ctrl-C stops at once with the cursor shown again, the last
// checkpoint named and no lock left behind.
import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI } from './util/cli.js';
import { fixturePath } from './util/fixtures.js';

const arch = (file: string) => fixturePath('torch-arch', file);
// A ResNet step takes tens of milliseconds: long enough for a second signal to land mid-step.
const RESNET = ['full-finetune', '--model', arch('resnet/model.onnx'), '--train', arch('images-train.csv'), '--test', arch('images-test.csv'), '--head', 'fc.*', '--epochs', '1000', '--batch-size', '16', '--checkpoint-every', 'epoch'];

function inTerminal(args: string[], cwd: string) {
  const command = [process.execPath, CLI, ...args].map((a) => `'${a}'`).join(' ');
  const child = spawn('script', ['-qfc', command, '/dev/null'], { cwd, stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  return { child, output: () => output, closed: new Promise<number | null>((r) => child.on('close', r)) };
}

/** The pid of the onnx-finetune process that `script` started. */
function commandPid(out: string): number {
  const r = spawnSync('pgrep', ['-n', '-f', `${CLI}.*${out}`], { encoding: 'utf8' });
  return Number(r.stdout.trim());
}

describe('in a terminal (command)', function () {
  this.timeout(60_000);
  const tmp = mkdtempSync(join(tmpdir(), 'onnx-finetune-tty-'));
  before(function () {
    if (spawnSync('script', ['--version']).status !== 0) {
      console.log('      (skipped: util-linux `script` is not installed: apt-get install bsdutils)');
      this.skip();
    }
  });

  it('a double Ctrl-C stops at once: cursor shown again, the last checkpoint named, no lock left', async () => {
    const out = join(tmp, 'double');
    const run = inTerminal([...RESNET, '--out', out], tmp);
    const checkpoints = join(out, 'checkpoints');
    while (!existsSync(checkpoints) || readdirSync(checkpoints).length === 0) await new Promise((r) => setTimeout(r, 10));
    const pid = commandPid(out);
    process.kill(pid, 'SIGINT');
    await new Promise((r) => setTimeout(r, 3));
    process.kill(pid, 'SIGINT');
    await run.closed;
    const output = run.output();
    const bar = output.lastIndexOf('elapsed');
    expect(bar, output).to.be.above(0);
    expect(output.slice(bar)).to.include('\x1b[?25h'); // the cursor, hidden while the bar draws, is shown again
    expect(output).to.match(/onnx-finetune: interrupted by SIGINT; checkpoint .*full_fine_tune-step-\d+\.onnx; resume with: onnx-finetune full-finetune .* --resume .*double \(stopped at once by a second SIGINT\)/);
    expect(existsSync(join(out, '.onnx-finetune.lock'))).to.equal(false);
  });

  it('a status line while the data loads; the progress bar shows elapsed time, rate and ETA', async () => {
    const run = inTerminal(['linear-probe', '--epochs', '40', '--out', join(tmp, 'bar')], tmp);
    expect(await run.closed).to.equal(0);
    expect(run.output()).to.match(/linear_probe .* head epoch \d+\/40 step \d+\/15 loss \d\.\d{4} \| \d+s elapsed, \d+ steps\/s, ETA \d+s/);
    // Before the bar, while the model and data load, a status line (cleared when the bar starts).
    expect(run.output()).to.match(/^onnx-finetune: reading the model and data…\r\x1b\[2K\r/);
  });
});
