// The README's library example runs as written: saved as a module in the repository's root (where
// `onnx-finetune` resolves to this package through its exports map), it trains and writes a model.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadModel } from '../src/onnx/io.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

describe("the README's library example", function () {
  this.timeout(60_000);

  it('runs as written and writes an inference model', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const code = /## As a library\n\n```js\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(code, 'the README has a ```js block under "As a library"').to.be.a('string');
    const script = join(ROOT, `.readme-example-${process.pid}.mjs`);
    const cwd = mkdtempSync(join(tmpdir(), 'onnx-finetune-example-'));
    cpSync(join(ROOT, 'test', 'fixtures', 'torch-seed'), join(cwd, 'test', 'fixtures', 'torch-seed'), { recursive: true });
    writeFileSync(script, code!);
    try {
      const run = spawnSync(process.execPath, [script], { cwd, encoding: 'utf8' });
      expect(run.status, run.stderr).to.equal(0);
      expect(run.stdout).to.match(/^accuracy 0\.\d+, 13 epochs\n$/);
      expect(existsSync(join(cwd, 'partial_unfreeze.onnx'))).to.equal(true);
      expect(loadModel(join(cwd, 'partial_unfreeze.onnx')).graph.initializer.length).to.be.greaterThan(0);
    } finally {
      rmSync(script, { force: true });
    }
  });
});
