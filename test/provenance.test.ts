// An exported model says where it came from: onnx-finetune as producer, the strategy, plan and label in
// its metadata, and it still passes onnx.checker's full check.
import { expect } from 'chai';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli } from './util/cli.js';
import { VERSION } from '../src/cli/run.js';
import { fixturePath } from './util/fixtures.js';
import { loadModel } from '../src/onnx/io.js';
import { checkerMissing, checkModelFile } from './util/onnx-checker.js';

describe('provenance of exported models (command)', function () {
  this.timeout(60_000);
  const tmp = mkdtempSync(join(tmpdir(), 'onnx-finetune-provenance-'));

  it('producer onnx-finetune with its version; strategy, plan and label in metadata_props', async () => {
    const out = join(tmp, 'out');
    const run = await cli(['partial-unfreeze', '--model', fixturePath('torch-seed', 'model.onnx'), '--train', fixturePath('torch-seed', 'train.csv'), '--test', fixturePath('torch-seed', 'test.csv'),
      '--head-epochs', '1', '--epochs', '1', '--json', '--out', out], tmp);
    expect(run.code, run.stderr).to.equal(0);
    const model = loadModel(join(out, 'partial_unfreeze.onnx'));
    expect(model.producerName).to.equal('onnx-finetune');
    expect(model.producerVersion).to.equal(VERSION);
    const meta = Object.fromEntries(model.metadataProps.map((e) => [e.key, e.value]));
    expect(meta['onnx_finetune.version']).to.equal(VERSION);
    expect(meta['onnx_finetune.strategy']).to.equal('partial_unfreeze');
    expect(meta['onnx_finetune.label']).to.equal('y');
    expect(JSON.parse(meta['onnx_finetune.plan']).map((s: { name: string }) => s.name)).to.deep.equal(['head', 'unfrozen']);
    if (!checkerMissing()) expect(checkModelFile(join(out, 'partial_unfreeze.onnx'))).to.equal('');
  });
});
