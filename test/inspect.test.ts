// `onnx-finetune inspect MODEL`, run as a user runs it, on the PyTorch fixtures and on a hand-built model with
// an op that has no gradient rule:
// - the parameters' names, shapes and element counts, and what --head and --unfreeze select, as PyTorch has them;
// - the ops, with each rule-less op on a strategy's gradient path flagged, and that strategy failing when run;
// - the inputs and outputs, the BatchNorm layers, a glob that selects nothing said in the output;
// - --json is one JSON object; bad input and training options get one line and exit 1.
import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataType, makeGraph, makeModel, makeNode, makeTensor, makeValueInfo } from '../src/onnx/builder.js';
import { encodeModel } from '../src/onnx/io.js';
import { Rng } from '../src/train/rng.js';
import { fixturePath, type Expected } from './util/fixtures.js';
import { cli, type Run } from './util/cli.js';

const SEED = fixturePath('torch-seed', 'model.onnx');
const RESNET = fixturePath('torch-arch/resnet', 'model.onnx');
const BERT = fixturePath('torch-arch/bert', 'model.onnx');

/** The rows of a table section: the lines after `heading` up to the next blank line, split on runs of spaces. */
function section(stdout: string, heading: RegExp): string[][] {
  const lines = stdout.split('\n');
  const start = lines.findIndex((l) => heading.test(l));
  expect(start, `no section ${heading} in:\n${stdout}`).to.be.at.least(0);
  const end = lines.findIndex((l, i) => i > start && l === '');
  return lines.slice(start + 2, end < 0 ? undefined : end).filter((l) => l.startsWith('  ')).map((l) => l.trim().split(/ {2,}/));
}

function expectOneLineError(run: Run, pattern: RegExp) {
  expect(run.code, run.stderr).to.equal(1);
  expect(run.stdout).to.equal('');
  expect(run.stderr).to.match(/^onnx-finetune: [^\n]+\n$/);
  expect(run.stderr).to.match(pattern);
}

/**
 * x [batch, 4] -> Gemm (backbone.0) -> Softplus -> Gemm (head) -> logits [batch, 1]. Softplus has no gradient
 * rule: the head trains, anything before the Softplus cannot.
 */
function softplusModel() {
  const rng = new Rng(7);
  const values = (n: number) => Float32Array.from({ length: n }, () => rng.normal() * 0.5);
  const init = [
    makeTensor('backbone.0.weight', DataType.FLOAT, [8, 4], values(32)), makeTensor('backbone.0.bias', DataType.FLOAT, [8], values(8)),
    makeTensor('head.weight', DataType.FLOAT, [1, 8], values(8)), makeTensor('head.bias', DataType.FLOAT, [1], values(1)),
  ];
  const nodes = [
    makeNode('Gemm', ['x', 'backbone.0.weight', 'backbone.0.bias'], ['hidden'], { transB: 1 }, 'backbone.0'),
    makeNode('Softplus', ['hidden'], ['features'], {}, 'softplus'),
    makeNode('Gemm', ['features', 'head.weight', 'head.bias'], ['logits'], { transB: 1 }, 'head'),
  ];
  return makeModel(makeGraph(nodes, 'softplus', [makeValueInfo('x', DataType.FLOAT, ['batch', 4])], [makeValueInfo('logits', DataType.FLOAT, ['batch', 1])], init));
}

function csv(rows: number, seed: number): string {
  const rng = new Rng(seed);
  const lines = ['x0,x1,x2,x3,y'];
  for (let i = 0; i < rows; i++) {
    const x = Array.from({ length: 4 }, () => rng.normal());
    lines.push([...x.map((v) => v.toFixed(3)), x[0] + x[1] > 0 ? 1 : 0].join(','));
  }
  return `${lines.join('\n')}\n`;
}

describe('onnx-finetune inspect', function () {
  this.timeout(60_000);
  let tmp: string;
  before(() => {
    tmp = mkdtempSync(join(tmpdir(), 'onnx-finetune-inspect-'));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  describe('the torch-seed fixture, default globs', () => {
    let run: Run;
    before(async () => {
      run = await cli(['inspect', SEED], tmp);
    });

    it('prints the producer, opset and the input and output with their types and shapes', () => {
      expect(run.code, run.stderr).to.equal(0);
      expect(run.stderr).to.equal('');
      expect(run.stdout.split('\n')[0]).to.equal(`${SEED}: producer pytorch 1.13.0, IR version 8, opset 17`);
      expect(section(run.stdout, /^Inputs and outputs$/)).to.deep.equal([['input', 'x', 'float32', '[batch, 10]'], ['output', 'logits', 'float32', '[batch, 1]']]);
    });

    it('lists every parameter with its shape, element count and role, and marks what head.* and backbone.2.* select', () => {
      expect(run.stdout).to.include('Parameters: 6 tensors, 897 elements\n');
      expect(section(run.stdout, /^Parameters:/)).to.deep.equal([
        ['backbone.0.weight', '[32, 10]', '320', 'Gemm weight'],
        ['backbone.0.bias', '[32]', '32', 'Gemm bias'],
        ['backbone.2.weight', '[16, 32]', '512', 'Gemm weight', 'unfreeze'],
        ['backbone.2.bias', '[16]', '16', 'Gemm bias', 'unfreeze'],
        ['head.weight', '[1, 16]', '16', 'Gemm weight', 'head'],
        ['head.bias', '[1]', '1', 'Gemm bias', 'head'],
      ]);
      expect(run.stdout).to.include("--head 'head.*' selects 2 tensors, 17 elements\n");
      expect(run.stdout).to.include("--unfreeze 'backbone.2.*' selects 2 tensors, 528 elements\n");
    });

    it('lists the ops with their node counts, each with a gradient rule, and no notes', () => {
      expect(section(run.stdout, /^Ops:/)).to.deep.equal([['Gemm', '3', 'yes'], ['Relu', '2', 'yes']]);
      expect(run.stdout).to.include('Ops: 2 types, 5 nodes\n');
      expect(run.stdout).to.not.include('Notes');
      expect(run.stdout).to.not.include('BatchNorm');
    });
  });

  describe('the torch-arch ResNet with its fixture\'s globs, --json', () => {
    let expected: Expected;
    let report: any;
    before(async () => {
      expected = JSON.parse(readFileSync(fixturePath('torch-arch/resnet', 'expected.json'), 'utf8'));
      const run = await cli(['inspect', RESNET, '--head', expected.config.head, '--unfreeze', expected.config.unfreeze, '--json'], tmp);
      expect(run.code, run.stderr).to.equal(0);
      expect(run.stdout.trimEnd().split('\n')).to.have.length(1);
      report = JSON.parse(run.stdout);
    });

    it('names the parameters and buffers PyTorch saved, with their element counts and totals', () => {
      const names = [...report.parameters, ...report.buffers].map((p: { name: string }) => p.name);
      expect(names.sort()).to.deep.equal([...expected.config.initial_params].sort());
      expect(report.parameters.find((p: any) => p.name === 'conv1.weight')).to.deep.equal({ name: 'conv1.weight', shape: [16, 3, 3, 3], elements: 432, role: 'Conv weight', head: false, unfreeze: false });
      const sum = (list: { elements: number }[]) => list.reduce((n, p) => n + p.elements, 0);
      expect(report.totals.parameters).to.deep.equal({ tensors: 20, elements: sum(report.parameters) });
      expect(report.totals.buffers).to.deep.equal({ tensors: 12, elements: sum(report.buffers) });
    });

    it("selects the fc layer as the head and layer2's 9 tensors to unfreeze", () => {
      expect(report.head).to.deep.equal({ glob: 'fc.*', matched: ['fc.weight', 'fc.bias'] });
      expect(report.totals.head).to.deep.equal({ tensors: 2, elements: 99 });
      expect(report.unfreeze.matched).to.have.length(9);
      expect(report.unfreeze.matched.every((n: string) => n.startsWith('layer2.'))).to.equal(true);
      expect(report.parameters.filter((p: any) => p.unfreeze).map((p: any) => p.name)).to.deep.equal(report.unfreeze.matched);
    });

    it('lists the six BatchNorm layers with their channels, parameters and running statistics', () => {
      expect(report.batchnorm).to.have.length(6);
      expect(report.batchnorm[0]).to.include({ layer: 'bn1', channels: 16, scale: 'bn1.weight', bias: 'bn1.bias', running_mean: 'bn1.running_mean', running_var: 'bn1.running_var', epsilon: 1e-5, unfreeze: false });
      expect(report.batchnorm.filter((b: any) => b.unfreeze).map((b: any) => b.layer)).to.deep.equal(['layer2.0.bn1', 'layer2.0.bn2', 'layer2.0.downsample.1']);
    });

    it('lists the fixture\'s op types, every one with a gradient rule, and the model\'s opset and IR version', () => {
      expect(report.ops.map((o: any) => o.op).sort()).to.deep.equal(expected.config.op_types);
      expect(report.ops.every((o: any) => o.gradient_rule && o.blocks.length === 0)).to.equal(true);
      expect(report.ops.find((o: any) => o.op === 'Conv').count).to.equal(6);
      expect(report).to.include({ ir_version: 8 });
      expect(report.opsets).to.deep.equal([{ domain: '', version: 17 }]);
      expect(report.inputs).to.deep.equal([{ name: 'x', type: 'float32', shape: ['batch', 3, 32, 32] }]);
      expect(report.notes).to.deep.equal([]);
    });
  });

  describe('the torch-arch BERT', () => {
    it("shows int64 inputs, embedding tables and Linear layers written as MatMul + Add, and the rule-less ops as not needed", async () => {
      const run = await cli(['inspect', BERT, '--head', 'classifier.*', '--unfreeze', 'bert.encoder.layer.1.*'], tmp);
      expect(run.code, run.stderr).to.equal(0);
      expect(section(run.stdout, /^Inputs and outputs$/).slice(0, 2)).to.deep.equal([['input', 'input_ids', 'int64', '[batch, 16]'], ['input', 'attention_mask', 'int64', '[batch, 16]']]);
      const parameters = section(run.stdout, /^Parameters:/);
      expect(parameters).to.have.length(41);
      expect(parameters[0]).to.deep.equal(['bert.embeddings.word_embeddings.weight', '[64, 32]', '2,048', 'embedding table']);
      expect(parameters.find((p) => p[0] === 'bert.encoder.layer.1.intermediate.dense.weight')).to.deep.equal(['bert.encoder.layer.1.intermediate.dense.weight', '[64, 32]', '2,048', 'MatMul weight', 'unfreeze']);
      expect(parameters.find((p) => p[0] === 'bert.encoder.layer.0.intermediate.dense.bias')).to.deep.equal(['bert.encoder.layer.0.intermediate.dense.bias', '[64]', '64', 'MatMul bias']);
      const ops = new Map(section(run.stdout, /^Ops:/).map(([op, count, rule]) => [op, { count, rule }]));
      expect(ops.get('Shape')).to.deep.equal({ count: '4', rule: 'none, not needed' });
      expect(ops.get('MatMul')).to.deep.equal({ count: '16', rule: 'yes' });
      expect(run.stdout).to.not.include('MISSING');
    });

    it('says when a glob matches no parameter, and still prints everything else', async () => {
      const run = await cli(['inspect', BERT], tmp);
      expect(run.code, run.stderr).to.equal(0);
      expect(run.stderr).to.equal('');
      expect(run.stdout).to.include("--head 'head.*' matches no parameter\n");
      expect(run.stdout).to.include("--unfreeze 'backbone.2.*' matches no parameter\n");
      expect(run.stdout.trimEnd().split('\n').slice(-2)).to.deep.equal(["  --head 'head.*' matches no parameter", "  --unfreeze 'backbone.2.*' matches no parameter"]);
      const json = JSON.parse((await cli(['inspect', BERT, '--json'], tmp)).stdout);
      expect(json.head).to.deep.equal({ glob: 'head.*', matched: [] });
      expect(json.totals.head).to.deep.equal({ tensors: 0, elements: 0 });
      expect(json.notes).to.include("--head 'head.*' matches no parameter");
    });

    it('names the head parameters the --unfreeze glob also selects', async () => {
      const run = await cli(['inspect', BERT, '--head', 'classifier.*', '--unfreeze', 'c*'], tmp);
      expect(run.code, run.stderr).to.equal(0);
      expect(run.stdout).to.include("--unfreeze 'c*' also selects the head's classifier.weight, classifier.bias: partial-unfreeze and compare refuse this");
    });
  });

  describe('a model with an op that has no gradient rule', () => {
    let model: string;
    before(() => {
      model = join(tmp, 'softplus.onnx');
      writeFileSync(model, encodeModel(softplusModel()));
      writeFileSync(join(tmp, 'train.csv'), csv(16, 1));
      writeFileSync(join(tmp, 'test.csv'), csv(8, 2));
    });

    it('flags the op and the strategies that would train through it', async () => {
      const run = await cli(['inspect', model, '--unfreeze', 'backbone.*'], tmp);
      expect(run.code, run.stderr).to.equal(0);
      // The op that fails comes first.
      expect(section(run.stdout, /^Ops:/)).to.deep.equal([['Softplus', '1', 'MISSING: partial-unfreeze, full-finetune and compare fail'], ['Gemm', '2', 'yes']]);
      expect(run.stdout).to.include("  no gradient rule for Softplus (node 'softplus') on the gradient path: partial-unfreeze, full-finetune and compare fail\n");
      const json = JSON.parse((await cli(['inspect', model, '--unfreeze', 'backbone.*', '--json'], tmp)).stdout);
      expect(json.ops[0]).to.deep.equal({ op: 'Softplus', domain: '', count: 1, gradient_rule: false, blocks: ['partial_unfreeze', 'full_fine_tune'], blocking_nodes: ['softplus'] });
    });

    it('is right: partial-unfreeze and full-finetune fail at that op, linear-probe (head only, after it) trains', async () => {
      const data = ['--model', model, '--train', 'train.csv', '--test', 'test.csv', '--epochs', '1'];
      const full = await cli(['full-finetune', ...data, '--out', join(tmp, 'full')], tmp);
      expectOneLineError(full, /no gradient rule for op 'Softplus' \(node 'softplus'\)/);
      const partial = await cli(['partial-unfreeze', ...data, '--unfreeze', 'backbone.*', '--head-epochs', '1', '--out', join(tmp, 'partial')], tmp);
      expectOneLineError(partial, /no gradient rule for op 'Softplus' \(node 'softplus'\)/);
      const probe = await cli(['linear-probe', ...data, '--out', join(tmp, 'probe')], tmp);
      expect(probe.code, probe.stderr).to.equal(0);
    });
  });

  describe('bad input', () => {
    it('a missing file, a file that is not a model, or no file at all: one line, exit 1', async () => {
      expectOneLineError(await cli(['inspect', join(tmp, 'missing.onnx')], tmp), /missing\.onnx/);
      writeFileSync(join(tmp, 'notes.onnx'), 'these are not protobuf bytes\n');
      expectOneLineError(await cli(['inspect', join(tmp, 'notes.onnx')], tmp), /notes\.onnx: not a valid ONNX model/);
      expectOneLineError(await cli(['inspect'], tmp), /inspect needs a model file/);
      expectOneLineError(await cli(['inspect', SEED, '--head', ''], tmp), /empty parameter glob/);
    });

    it('refuses training options instead of ignoring them, and leaves them out of its help', async () => {
      expectOneLineError(await cli(['inspect', SEED, '--batch-size', '4'], tmp), /--batch-size is a training option/);
      expectOneLineError(await cli(['inspect', SEED, '--no-shuffle'], tmp), /--shuffle is a training option/);
      expectOneLineError(await cli(['inspect', SEED, '--epochs', '3'], tmp), /unknown option --epochs/);
      const help = await cli(['inspect', '--help'], tmp);
      expect(help.code, help.stderr).to.equal(0);
      for (const option of ['--head', '--unfreeze', '--json']) expect(help.stdout).to.include(option);
      for (const option of ['--batch-size', '--train', '--out', '--device', '--model']) expect(help.stdout).to.not.include(option);
    });
  });
});
