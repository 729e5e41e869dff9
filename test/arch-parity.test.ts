// End to end against PyTorch on real architectures (test/fixtures/torch-arch/): each fixture's own command
// lines, run as a user runs them, must give PyTorch's accuracy, its epoch losses within 1e-3 relative, and
// every parameter and BatchNorm buffer PyTorch has, under its PyTorch name in <strategy>.safetensors, within 5e-4
// (but those whose gradient is zero by construction, listed in the fixture's config.zero_gradient).
import { expect } from 'chai';
import { mkdtempSync, readFileSync, readdirSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli } from './util/cli.js';
import { ROOT, maxRelativeDifference, type Expected } from './util/fixtures.js';
import { readSafetensors } from './util/safetensors.js';
import { loadModel } from '../src/onnx/io.js';
import { tensorValues } from '../src/onnx/tensor.js';

const ARCH = join(ROOT, 'test', 'fixtures', 'torch-arch');

interface ArchExpected extends Expected { same_as?: string }

const readExpected = (folder: string): ArchExpected => JSON.parse(readFileSync(join(ARCH, folder, 'expected.json'), 'utf8'));

/** A command line as the fixture's README writes it: words, with single-quoted globs. */
function words(command: string): string[] {
  return [...command.matchAll(/'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2]);
}

const folders = readdirSync(ARCH, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();

describe('parity with PyTorch on real architectures (torch-arch fixtures)', function () {
  let out: string;
  before(() => { out = mkdtempSync(join(tmpdir(), 'arch-parity-')); });
  after(() => rmSync(out, { recursive: true, force: true }));

  for (const folder of folders) {
    const expected = readExpected(folder);
    const source = expected.same_as ? readExpected(expected.same_as) : expected;
    const { results, config } = source;
    for (const [key, command] of Object.entries((expected.config.commands ?? {}) as Record<string, string>)) {
      it(`${folder} ${key}: PyTorch's accuracy, losses and every parameter and buffer`, async () => {
        const [, strategyCommand, ...args] = words(command);
        const dir = join(out, `${folder}-${key}`);
        const run = await cli([strategyCommand, ...args, '--out', dir, '--json'], ROOT);
        expect(run.code, run.stderr).to.equal(0);
        expect(run.stderr, 'no warning for an export that keeps PyTorch\'s parameters').to.not.match(/warning/);
        const report = JSON.parse(run.stdout);
        const want = results[key];
        expect(Math.fround(report.accuracy)).to.equal(Math.fround(want.accuracy));
        expect(maxRelativeDifference(want.epoch_losses, report.epoch_losses)).to.be.below(1e-3);
        const saved = readSafetensors(readFileSync(join(dir, `${report.strategy}.safetensors`))).tensors;
        // A parameter whose gradient is zero by construction (an attention key bias) gets float32 rounding
        // noise for a gradient, here and in PyTorch, which Adam turns into steps of up to the learning rate.
        const zeroGradient = new Set<string>(config.zero_gradient ?? []);
        for (const [name, values] of Object.entries(want.params)) {
          const got = saved.get(name);
          expect(got, `${name} in ${report.strategy}.safetensors`).to.not.equal(undefined);
          expect(got!.values.length, `${name}: size`).to.equal(values.length);
          if (zeroGradient.has(name)) continue;
          let worst = 0;
          values.forEach((v, i) => { worst = Math.max(worst, Math.abs(v - got!.values[i])); });
          expect(worst, name).to.be.below(5e-4);
        }
      });
    }
  }

  it('a folded export (BatchNorm folded into exporter-named Conv weights) trains every weight and says why parity is impossible', async () => {
    const expected = readExpected('resnet-folded');
    const model = join(ARCH, 'resnet-folded', 'model.onnx');
    const dir = join(out, 'folded');
    const run = await cli(['full-finetune', '--model', model, '--train', join(ARCH, 'images-train.csv'), '--test', join(ARCH, 'images-test.csv'),
      '--no-shuffle', '--batch-size', '16', '--epochs', '1', '--out', dir, '--json'], ROOT);
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stderr.trim().split('\n')).to.have.length(1);
    expect(run.stderr).to.match(/^warning: .*BatchNorm was folded into the convolutions at export.*do_constant_folding=False/);
    expect(existsSync(join(dir, 'full_fine_tune.onnx'))).to.equal(true);
    const folding = expected.config.folding as { exporter_named: Record<string, unknown> } | undefined;
    const named = Object.keys(folding?.exporter_named ?? {});
    expect(named.length).to.be.greaterThan(0);
    // Every exporter-named weight moved: the trained model's initializers differ from the source's.
    const before = loadModel(model).graph.initializer, after = loadModel(join(dir, 'full_fine_tune.onnx')).graph.initializer;
    const values = (list: typeof before, name: string) => Array.from(tensorValues(list.find((t) => t.name === name)!) as ArrayLike<number>);
    for (const name of named) expect(values(after, name), name).to.not.deep.equal(values(before, name));
    // PyTorch knows them by no name, so the .safetensors leaves them out and the report says so.
    const report = JSON.parse(readFileSync(join(dir, 'full_fine_tune.json'), 'utf8'));
    expect(report.safetensors.left_out_exporter_named).to.have.members(named);
  });
});
