// Reusing --out: a folder holding an earlier run is refused unless the user says which they mean, --resume
// (continue it) or --overwrite (replace it); an overwrite leaves no file of the earlier run mixed in.
import { expect } from 'chai';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli } from './util/cli.js';

describe('reusing --out (command)', function () {
  this.timeout(60_000);
  const tmp = mkdtempSync(join(tmpdir(), 'onnx-finetune-reuse-'));

  it("an interrupted run's folder is refused without --resume, and its checkpoints stay", async () => {
    const out = join(tmp, 'interrupted');
    const killed = await cli(['linear-probe', '--epochs', '3', '--checkpoint-every', 'epoch', '--out', out], tmp, { ONNX_FINETUNE_FAULT: 'after-step:20' });
    expect(killed.signal).to.equal('SIGKILL');
    const before = readdirSync(join(out, 'checkpoints'));
    const again = await cli(['linear-probe', '--epochs', '3', '--checkpoint-every', 'epoch', '--out', out], tmp);
    expect(again.code).to.equal(1);
    expect(again.stderr.trim()).to.equal(`onnx-finetune: --out ${out} holds an earlier run (checkpoints/linear_probe-step-00000015.onnx); continue it with --resume ${out}, or replace it with --overwrite`);
    expect(readdirSync(join(out, 'checkpoints'))).to.deep.equal(before);
    const resumed = await cli(['linear-probe', '--epochs', '3', '--checkpoint-every', 'epoch', '--resume', out], tmp);
    expect(resumed.code, resumed.stderr).to.equal(0);
  });

  it("a finished run's folder is refused; --overwrite replaces it, leaving none of its files behind", async () => {
    const out = join(tmp, 'finished');
    expect((await cli(['compare', '--out', out], tmp)).code).to.equal(0);
    const probe = readFileSync(join(out, 'linear_probe.onnx'));
    const refused = await cli(['full-finetune', '--epochs', '2', '--out', out], tmp);
    expect(refused.code).to.equal(1);
    expect(refused.stderr).to.match(/holds an earlier run \(linear_probe\.onnx and 13 more\); continue it with --resume .*, or replace it with --overwrite\n$/);
    expect(readFileSync(join(out, 'linear_probe.onnx')).equals(probe)).to.equal(true);
    const replaced = await cli(['full-finetune', '--epochs', '2', '--out', out, '--overwrite', '--json'], tmp);
    expect(replaced.code, replaced.stderr).to.equal(0);
    expect(readdirSync(out).sort()).to.deep.equal(['full_fine_tune.json', 'full_fine_tune.onnx', 'full_fine_tune.safetensors', 'metrics.csv', 'report.html', 'run.json']);
    // The report is the new run's alone.
    expect(JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')).strategies.map((s: { strategy: string }) => s.strategy)).to.deep.equal(['full_fine_tune']);
    expect(JSON.parse(readFileSync(join(out, 'full_fine_tune.json'), 'utf8')).epoch_losses).to.have.length(2);
  });

  it('--overwrite and --resume together are refused', async () => {
    const run = await cli(['linear-probe', '--resume', tmp, '--overwrite'], tmp);
    expect(run.code).to.equal(1);
    expect(run.stderr).to.equal('onnx-finetune: --resume continues the run in its folder and --overwrite replaces it: give one of them\n');
    expect(existsSync(join(tmp, '.onnx-finetune.lock'))).to.equal(false);
  });
});
