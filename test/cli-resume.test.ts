// Training that survives, run as a user runs it: SIGKILL at several points then --resume finishes with
// bit-identical weights and the same report; SIGINT stops cleanly with a checkpoint; a corrupted checkpoint
// and a resume with other options are refused; NaN stops the run; two runs never share a folder.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel } from '../src/onnx/io.js';
import { cli, CLI, killAndResume, reportOf } from './util/cli.js';
import { createSession, ort } from '../src/runtime/session.js';
import { decodeCheckpoint } from '../src/checkpoint/checkpoint.js';
import { checkerMissing, checkModelFile } from './util/onnx-checker.js';
import { fixturePath } from './util/fixtures.js';

const files = ['--model', fixturePath('torch-seed', 'model.onnx'), '--train', fixturePath('torch-seed', 'train.csv'), '--test', fixturePath('torch-seed', 'test.csv')];
// Two stages of two epochs (15 steps each), shuffled, a checkpoint every 7 steps: steps 7, 14, 21, 28 | 35, 42, 49, 56.
const PARTIAL = ['partial-unfreeze', ...files, '--head-epochs', '2', '--epochs', '2', '--checkpoint-every', '7', '--json'];

function weights(dir: string): Buffer {
  const model = loadModel(join(dir, 'partial_unfreeze.onnx'));
  return Buffer.concat(model.graph.initializer.map((t) => Buffer.from(t.rawData)));
}


describe('checkpoints and resume (command)', function () {
  this.timeout(60_000);
  const tmp = mkdtempSync(join(tmpdir(), 'onnx-finetune-resume-'));
  const whole = join(tmp, 'whole');
  before(async () => {
    const run = await cli([...PARTIAL, '--out', whole], tmp);
    expect(run.code, run.stderr).to.equal(0);
  });

  for (const [label, fault] of [
    ['mid-epoch (step 19)', 'after-step:19'],
    ['between the stages of partial-unfreeze (step 30)', 'after-step:30'],
    ['while writing a checkpoint (the 5th, half written)', 'mid-checkpoint:5'],
    ['in the last epoch (step 58)', 'after-step:58'],
  ]) {
    it(`SIGKILL ${label}, then --resume: bit-identical weights and the same report`, async () => {
      const out = join(tmp, fault.replace(':', '-'));
      await killAndResume(PARTIAL, out, fault, tmp);
      expect(weights(out).equals(weights(whole))).to.equal(true);
      expect(reportOf(out)).to.deep.equal(reportOf(whole));
    });
  }

  it('SIGINT finishes the step, writes a checkpoint, says how to resume and exits 130; the resumed run matches', async () => {
    const args = ['full-finetune', ...files, '--epochs', '150', '--json', '--checkpoint-every', 'epoch'];
    const out = join(tmp, 'sigint');
    const child = spawn(process.execPath, [CLI, ...args, '--out', out], { cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    // Wait for the first epoch's checkpoint, then interrupt.
    const checkpoints = join(out, 'checkpoints');
    while (!existsSync(checkpoints) || readdirSync(checkpoints).length === 0) await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGINT');
    const code = await new Promise((r) => child.on('close', r));
    expect(code).to.equal(130);
    const lines = stderr.trim().split('\n');
    expect(lines).to.have.length(1);
    expect(lines[0]).to.match(/^onnx-finetune: interrupted by SIGINT; checkpoint .*full_fine_tune-step-\d+\.onnx; resume with: onnx-finetune full-finetune .* --resume /);
    const resumed = await cli([...args, '--resume', out], tmp);
    expect(resumed.code, resumed.stderr).to.equal(0);
    const reference = await cli([...args, '--out', join(tmp, 'sigint-whole')], tmp);
    expect(JSON.parse(resumed.stdout).epoch_losses).to.deep.equal(JSON.parse(reference.stdout).epoch_losses);
    const a = loadModel(join(out, 'full_fine_tune.onnx')), b = loadModel(join(tmp, 'sigint-whole', 'full_fine_tune.onnx'));
    expect(Buffer.concat(a.graph.initializer.map((t) => Buffer.from(t.rawData))).equals(Buffer.concat(b.graph.initializer.map((t) => Buffer.from(t.rawData))))).to.equal(true);
  });

  it('keeps the newest --keep-checkpoints, each an ONNX model other tools load', async () => {
    const out = join(tmp, 'keep');
    await cli([...PARTIAL, '--keep-checkpoints', '3', '--out', out], tmp, { ONNX_FINETUNE_FAULT: 'after-step:50' });
    const names = readdirSync(join(out, 'checkpoints')).sort();
    expect(names).to.deep.equal(['partial_unfreeze-step-00000035.onnx', 'partial_unfreeze-step-00000042.onnx', 'partial_unfreeze-step-00000049.onnx']);
    const file = join(out, 'checkpoints', names[2]);
    const session = await createSession(new Uint8Array(readFileSync(file)));
    const logits = (await session.run({ x: new ort.Tensor('float32', new Float32Array(20), [2, 10]) })).logits;
    expect(logits.dims).to.deep.equal([2, 1]);
    if (!checkerMissing()) expect(checkModelFile(file)).to.equal('');
  });

  it('a second SIGINT exits at once, leaving only whole checkpoint files', async () => {
    const out = join(tmp, 'twice');
    const child = spawn(process.execPath, [CLI, 'full-finetune', ...files, '--epochs', '300', '--checkpoint-every', '1', '--out', out], { cwd: tmp, stdio: 'ignore' });
    const checkpoints = join(out, 'checkpoints');
    while (!existsSync(checkpoints) || readdirSync(checkpoints).length === 0) await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGINT');
    child.kill('SIGINT');
    const code = await new Promise((r) => child.on('close', r));
    expect(code).to.equal(130);
    for (const name of readdirSync(checkpoints)) {
      expect(name).to.match(/\.onnx$/);
      expect(() => decodeCheckpoint(readFileSync(join(checkpoints, name)), name)).to.not.throw();
    }
  });

  it('refuses a corrupted checkpoint: the checksum catches one flipped byte', async () => {
    const out = join(tmp, 'corrupt');
    await cli([...PARTIAL, '--out', out], tmp, { ONNX_FINETUNE_FAULT: 'after-step:20' });
    const dir = join(out, 'checkpoints');
    const newest = readdirSync(dir).sort().pop()!;
    const bytes = readFileSync(join(dir, newest));
    bytes[bytes.length - 200] ^= 0x10; // inside the parameters' raw data
    writeFileSync(join(dir, newest), bytes);
    const resumed = await cli([...PARTIAL, '--resume', out], tmp);
    expect(resumed.code).to.equal(1);
    expect(resumed.stderr.trim()).to.match(/partial_unfreeze-step-00000014\.onnx: checkpoint is corrupted \(checksum mismatch\)/);
  });

  it('refuses to resume with other options or another model', async () => {
    const out = join(tmp, 'other');
    await cli([...PARTIAL, '--out', out], tmp, { ONNX_FINETUNE_FAULT: 'after-step:20' });
    const lr = await cli([...PARTIAL, '--backbone-lr', '0.01', '--resume', out], tmp);
    expect(lr.code).to.equal(1);
    expect(lr.stderr.trim()).to.match(/is from a run with another plan \(strategy options\); resume with the command and options that started it$/);
    const seed = await cli([...PARTIAL, '--seed', '3', '--resume', out], tmp);
    expect(seed.stderr.trim()).to.match(/is from a run with other settings/);
    const nothing = await cli(['full-finetune', ...files, '--resume', out], tmp);
    expect(nothing.stderr.trim()).to.match(/no checkpoints of this command there$/);
  });

  it('by default a checkpoint at most once a minute of training, and at the end of each stage; --checkpoint-every takes steps, a time or epoch', async () => {
    // partial-unfreeze's stages are 75 and 120 steps on the built-in job; killed at step 100, a short run has the first stage's end only.
    const out = join(tmp, 'cadence');
    const killed = await cli(['partial-unfreeze', '--out', out], tmp, { ONNX_FINETUNE_FAULT: 'after-step:100' });
    expect(killed.signal).to.equal('SIGKILL');
    expect(readdirSync(join(out, 'checkpoints'))).to.deep.equal(['partial_unfreeze-step-00000075.onnx']);
    const resumed = await cli(['partial-unfreeze', '--json', '--resume', out], tmp);
    const whole = await cli(['partial-unfreeze', '--json', '--out', join(tmp, 'cadence-whole')], tmp);
    expect(JSON.parse(resumed.stdout).epoch_losses).to.deep.equal(JSON.parse(whole.stdout).epoch_losses);
    // A short time: a checkpoint after (nearly) every step.
    const often = join(tmp, 'often');
    await cli(['linear-probe', '--epochs', '2', '--checkpoint-every', '0.000001s', '--keep-checkpoints', '100', '--out', often], tmp, { ONNX_FINETUNE_FAULT: 'after-step:20' });
    expect(readdirSync(join(often, 'checkpoints'))).to.have.length(19); // one after every step before the kill at step 20
    const bad = await cli(['linear-probe', '--checkpoint-every', '5 minutes'], tmp);
    expect(bad.stderr).to.equal("onnx-finetune: --checkpoint-every: '5 minutes' is not a number of steps (500), a time (30s, 5m, 1h) or 'epoch'\n");
  });

  it('a NaN loss stops the run with one line naming stage, epoch and step, keeps the checkpoint, exports nothing', async () => {
    const out = join(tmp, 'nan');
    const run = await cli(['full-finetune', ...files, '--optimizer', 'sgd', '--lr', '1e6', '--checkpoint-every', '1', '--out', out], tmp);
    expect(run.code).to.equal(1);
    expect(run.stderr.trim().split('\n')).to.have.length(1);
    expect(run.stderr).to.match(/non-finite loss or gradient at stage 1 \(all\), epoch 1, step \d+ of 15 .*; the last good checkpoint is .*full_fine_tune-step-\d+\.onnx/);
    expect(existsSync(join(out, 'full_fine_tune.onnx'))).to.equal(false);
    const skip = ['full-finetune', ...files, '--optimizer', 'sgd', '--lr', '1e6', '--epochs', '2', '--on-nonfinite', 'skip-batch', '--json'];
    const tooMany = await cli([...skip, '--out', join(tmp, 'skip-limit')], tmp);
    expect(tooMany.code).to.equal(1);
    expect(tooMany.stderr).to.match(/^onnx-finetune: full_fine_tune: skipped (\d+) of 30 batches for a non-finite loss or gradient, more than --max-skipped 0\.1; nothing was exported \(lower the learning rate, or raise --max-skipped\)\n$/);
    expect(existsSync(join(tmp, 'skip-limit', 'full_fine_tune.onnx'))).to.equal(false);
    const allowed = await cli([...skip, '--max-skipped', '1', '--out', join(tmp, 'skip')], tmp);
    expect(allowed.code, allowed.stderr).to.equal(0);
    const record = JSON.parse(allowed.stdout);
    expect(record.skipped_batches).to.be.greaterThan(3);
    expect(record).to.have.property('test_loss');
    expect(JSON.parse(readFileSync(join(tmp, 'skip', 'full_fine_tune.json'), 'utf8')).skipped_batches).to.equal(record.skipped_batches);
  });

  it('a second run on the same --out is refused while the first is running', async () => {
    const out = join(tmp, 'busy');
    // Long enough to outlast the second run's start on a slow machine; it is killed once that run is refused.
    const first = spawn(process.execPath, [CLI, 'full-finetune', ...files, '--epochs', '5000', '--out', out], { cwd: tmp, stdio: 'ignore' });
    while (!existsSync(join(out, '.onnx-finetune.lock'))) await new Promise((r) => setTimeout(r, 20));
    const second = await cli(['linear-probe', ...files, '--out', out], tmp);
    first.kill('SIGKILL');
    expect(second.code).to.equal(1);
    expect(second.stderr.trim()).to.match(new RegExp(`--out ${out.replace(/[/.-]/g, '\\$&')} is in use by another onnx-finetune run \\(pid ${first.pid}\\)`));
  });
});
