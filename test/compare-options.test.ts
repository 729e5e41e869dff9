// compare takes each strategy's settings under its prefix, and a resume checks them like any other setting.
import { expect } from 'chai';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli } from './util/cli.js';

describe('compare with per-strategy settings (command)', function () {
  this.timeout(60_000);
  const tmp = mkdtempSync(join(tmpdir(), 'onnx-finetune-compare-'));

  it('--probe-*, --partial-* and --full-* set each strategy; the others keep the notebook defaults', async () => {
    const run = await cli(['compare', '--probe-epochs', '2', '--probe-lr', '0.05', '--partial-head-epochs', '1', '--partial-epochs', '2', '--full-epochs', '3', '--json', '--out', join(tmp, 'a')], tmp);
    expect(run.code, run.stderr).to.equal(0);
    const records = JSON.parse(run.stdout);
    expect(records.linear_probe.epoch_losses).to.have.length(2);
    expect(records.partial_unfreeze.epoch_losses).to.have.length(3);
    expect(records.full_fine_tune.epoch_losses).to.have.length(3);
    // The same setting through linear-probe gives the same run.
    const alone = await cli(['linear-probe', '--epochs', '2', '--lr', '0.05', '--json', '--out', join(tmp, 'b')], tmp);
    expect(JSON.parse(alone.stdout).epoch_losses).to.deep.equal(records.linear_probe.epoch_losses);
  });

  it('a bad per-strategy value names its option', async () => {
    const run = await cli(['compare', '--full-lr', '-1'], tmp);
    expect(run.code).to.equal(1);
    expect(run.stderr).to.match(/^onnx-finetune: --full-lr must be a positive number, got -1\n$/);
  });
});
