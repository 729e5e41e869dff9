// Training artifacts: what the train, eval and inference graphs contain, and the files the project writes.
import { expect } from 'chai';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildArtifacts, inferenceModel } from '../src/artifacts/build.js';
import { encodeModel, saveModel } from '../src/onnx/io.js';
import { LOSSES } from '../src/losses/index.js';
import { describeModel } from '../src/model/describe.js';
import { initialParameters } from '../src/train/trainer.js';
import { createSession, ort } from '../src/runtime/session.js';
import { loadFixture } from './util/fixtures.js';
import { DataType, makeGraph, makeModel, makeNode, makeTensor, makeValueInfo } from '../src/onnx/builder.js';
import { Rng } from '../src/train/rng.js';
import { attachLinearHead } from '../src/model/attach-head.js';
import { buildMlpBackbone } from '../src/model/seed-backbone.js';
import { checkerMissing, checkModelFile } from './util/onnx-checker.js';
import { singleInput } from '../src/data/dataset.js';

const seed = loadFixture('torch-seed');
const HEAD = ['head.weight', 'head.bias'];
const ALL = describeModel(seed.model).parameters.map((p) => p.name);

describe('training artifacts', () => {
  it('train graph outputs the loss, the logits and one gradient per trainable parameter', () => {
    const a = buildArtifacts(seed.model, ALL, LOSSES.bce);
    expect(a.train.graph.output.map((o) => o.name)).to.deep.equal(['loss', 'logits', ...ALL.map((n) => `${n}_grad`), 'gradients']);
    expect(a.eval.graph.output.map((o) => o.name)).to.deep.equal(['loss', 'logits']);
    expect(a.train.graph.input.map((i) => i.name)).to.deep.equal(['x', ...ALL, 'labels']);
  });

  it('a large model has no flat gradients output, and its weight gradients are plain MatMuls on a transposed copy', () => {
    // 512·256 + 256 + 10·256 + 10 gradient elements: past FLAT_GRADIENTS_MAX_ELEMENTS (2^17). The 512x256
    // weight is past the Gemm rule's 2^16 elements, the head's is not.
    const model = attachLinearHead(buildMlpBackbone([512, 256], new Rng(1), 0), 10, new Rng(2));
    const names = describeModel(model).parameters.map((p) => p.name);
    const g = buildArtifacts(model, names, LOSSES.ce).train.graph;
    expect(g.output.map((o) => o.name)).to.deep.equal(['loss', 'logits', ...names.map((n) => `${n}_grad`)]);
    expect(g.node.find((n) => n.output[0] === 'backbone.0.weight_grad')!.opType).to.equal('MatMul');
    expect(g.node.find((n) => n.output[0] === 'head.weight_grad')!.opType).to.equal('Gemm');
  });

  it("a big weight's MatMul gradient matches dYᵀ·X computed in float64", async () => {
    // y = x·Wᵀ + b with W 256x512 (past the Gemm rule's 2^16 elements), MSE: dW = (2/numel)·(y - t)ᵀ·x.
    const [batch, inputs, outputs] = [8, 512, 256];
    const rng = new Rng(3);
    const values = (n: number) => Float32Array.from({ length: n }, () => Math.fround(rng.normal() * 0.1));
    const [W, b, x, t] = [values(outputs * inputs), values(outputs), values(batch * inputs), values(batch * outputs)];
    const model = makeModel(makeGraph([makeNode('Gemm', ['x', 'W', 'b'], ['y'], { transB: 1 })], 'big',
      [makeValueInfo('x', DataType.FLOAT, ['batch', inputs])], [makeValueInfo('y', DataType.FLOAT, ['batch', outputs])],
      [makeTensor('W', DataType.FLOAT, [outputs, inputs], W), makeTensor('b', DataType.FLOAT, [outputs], b)]));
    const a = buildArtifacts(model, ['W', 'b'], LOSSES.mse);
    expect(a.train.graph.node.find((n) => n.output[0] === 'W_grad')!.opType).to.equal('MatMul');
    const session = await createSession(a.train);
    const out = await session.run({ x: new ort.Tensor('float32', x, [batch, inputs]), W: new ort.Tensor('float32', W, [outputs, inputs]),
      b: new ort.Tensor('float32', b, [outputs]), labels: new ort.Tensor('float32', t, [batch, outputs]) }, ['W_grad']);
    await session.release();
    const dW = out.W_grad.data as Float32Array;
    const dY = Array.from({ length: batch * outputs }, (_, k) => {
      const [n, o] = [Math.floor(k / outputs), k % outputs];
      let y = b[o];
      for (let i = 0; i < inputs; i++) y += x[n * inputs + i] * W[o * inputs + i];
      return (2 * (y - t[k])) / (batch * outputs);
    });
    let worst = 0, largest = 0;
    for (let o = 0; o < outputs; o++) {
      for (let i = 0; i < inputs; i++) {
        let expected = 0;
        for (let n = 0; n < batch; n++) expected += dY[n * outputs + o] * x[n * inputs + i];
        worst = Math.max(worst, Math.abs(dW[o * inputs + i] - expected));
        largest = Math.max(largest, Math.abs(expected));
      }
    }
    expect(worst / largest).to.be.below(1e-5);
  });

  it('a frozen backbone gets no gradient node at all: a linear probe trains on its output', () => {
    const a = buildArtifacts(seed.model, HEAD, LOSSES.bce);
    // The backbone reads no trainable parameter, so it is a frozen prefix, computed once per example.
    expect(a.prefix!.graph.output.map((o) => o.name)).to.deep.equal(['/backbone/backbone.3/Relu_output_0']);
    expect(a.prefix!.graph.initializer.map((t) => t.name)).to.have.members(['backbone.0.weight', 'backbone.0.bias', 'backbone.2.weight', 'backbone.2.bias']);
    expect(a.inputs).to.deep.equal(['/backbone/backbone.3/Relu_output_0']);
    const g = a.train.graph;
    expect(g.node.filter((n) => n.name.startsWith('/backbone'))).to.deep.equal([]);
    const backward = g.node.filter((n) => n.name.includes('_Grad/'));
    expect(backward.length).to.be.greaterThan(0);
    for (const node of backward) expect(node.name.startsWith('/head/Gemm_Grad/'), node.name).to.equal(true);
    expect(g.output.map((o) => o.name)).to.deep.equal(['loss', 'logits', 'head.weight_grad', 'head.bias_grad', 'gradients']);
  });

  it('frozen parameters between trainable ones are baked in as constants with no gradient', () => {
    const a = buildArtifacts(seed.model, ['backbone.0.weight', 'backbone.0.bias', ...HEAD], LOSSES.bce);
    expect(a.prefix).to.equal(undefined);
    const g = a.train.graph;
    expect(g.initializer.map((t) => t.name)).to.include.members(['backbone.2.weight', 'backbone.2.bias']);
    expect(g.input.map((i) => i.name)).to.not.include('backbone.2.weight');
    // backbone.2's Gemm passes the gradient through to its input, but computes none for its weights.
    const outputs = g.node.flatMap((n) => n.output);
    expect(outputs).to.include('/backbone/backbone.1/Relu_output_0_grad');
    expect(outputs.filter((o) => o.startsWith('backbone.2'))).to.deep.equal([]);
  });

  it('partial unfreeze trains from the last frozen layer on', () => {
    const a = buildArtifacts(seed.model, ['backbone.2.weight', 'backbone.2.bias', ...HEAD], LOSSES.bce);
    expect(a.inputs).to.deep.equal(['/backbone/backbone.1/Relu_output_0']);
    expect(a.train.graph.node.flatMap((n) => n.output).filter((o) => o.startsWith('backbone.0'))).to.deep.equal([]);
  });

  it('two builds of the same plan are byte-identical', () => {
    const first = buildArtifacts(seed.model, ['head.weight', 'head.bias', 'backbone.2.weight', 'backbone.2.bias'], LOSSES.bce);
    const second = buildArtifacts(seed.model, ['head.weight', 'head.bias', 'backbone.2.weight', 'backbone.2.bias'], LOSSES.bce);
    expect(Buffer.from(encodeModel(first.train)).equals(Buffer.from(encodeModel(second.train)))).to.equal(true);
    expect(Buffer.from(encodeModel(first.eval)).equals(Buffer.from(encodeModel(second.eval)))).to.equal(true);
  });

  it('rejects a trainable name that is not a parameter, and an empty list', () => {
    expect(() => buildArtifacts(seed.model, ['head.scale'], LOSSES.bce)).to.throw(/'head.scale' is not a parameter/);
    expect(() => buildArtifacts(seed.model, [], LOSSES.bce)).to.throw(/at least one trainable parameter/);
  });

  it('the inference model keeps the source input, output and parameter names with new values', () => {
    const params = initialParameters(seed.model);
    params.get('head.bias')![0] = 0.25;
    const model = inferenceModel(seed.model, params);
    expect(model.graph.input.map((i) => i.name)).to.deep.equal(['x']);
    expect(model.graph.output.map((o) => o.name)).to.deep.equal(['logits']);
    expect(model.graph.initializer.map((t) => t.name)).to.deep.equal(seed.model.graph.initializer.map((t) => t.name));
    expect(initialParameters(model).get('head.bias')![0]).to.equal(0.25);
  });

  it('train, eval and inference files pass onnx.checker full_check', function () {
    if (checkerMissing()) this.skip();
    const dir = mkdtempSync(join(tmpdir(), 'onnx-finetune-check-'));
    const all = buildArtifacts(seed.model, ALL, LOSSES.bce);
    const probe = buildArtifacts(seed.model, HEAD, LOSSES.bce);
    const files = {
      'train.onnx': all.train, 'eval.onnx': all.eval, 'inference.onnx': inferenceModel(seed.model, initialParameters(seed.model)),
      'probe-prefix.onnx': probe.prefix!, 'probe-train.onnx': probe.train,
    };
    for (const [name, model] of Object.entries(files)) {
      saveModel(join(dir, name), model);
      expect(checkModelFile(join(dir, name)), name).to.equal('');
    }
  });

  it('the train graph runs in onnxruntime-node and its loss matches the eval graph', async () => {
    const a = buildArtifacts(seed.model, ALL, LOSSES.bce);
    const params = initialParameters(seed.model);
    const feeds: Record<string, ort.Tensor> = {
      x: new ort.Tensor('float32', (singleInput(seed.train).values as Float32Array).slice(0, 40), [4, 10]),
      labels: new ort.Tensor('float32', Float32Array.from(seed.train.labels.slice(0, 4)), [4, 1]),
    };
    for (const p of a.trainable) feeds[p.name] = new ort.Tensor('float32', params.get(p.name)!, p.dims);
    const train = await (await createSession(a.train)).run(feeds);
    const evaluation = await (await createSession(a.eval)).run(feeds);
    expect(train.loss.data[0]).to.equal(evaluation.loss.data[0]);
    expect(train['head.weight_grad'].dims).to.deep.equal([1, 16]);
    expect(train['backbone.0.weight_grad'].dims).to.deep.equal([32, 10]);
    // The flat output holds every gradient, row-major, at its offset, and nothing else.
    const flat = train.gradients.data as Float32Array;
    for (const p of a.trainable) expect(flat.subarray(p.offset, p.offset + p.size)).to.deep.equal(train[p.gradient].data);
    expect(flat.length).to.equal(a.trainable.reduce((n, p) => n + p.size, 0));
  });
});

describe('model files', () => {
  it('reads weights kept in an external data file (torch.export output)', () => {
    const digits = loadFixture('torch-digits-cnn');
    const summary = describeModel(digits.model);
    expect(summary.opset).to.equal(18);
    expect(initialParameters(digits.model).get('backbone.0.weight')!.length).to.equal(72);
    expect(digits.expected.config.initial_params['backbone.0.weight'].slice(0, 3).map(Math.fround))
      .to.deep.equal(Array.from(initialParameters(digits.model).get('backbone.0.weight')!.slice(0, 3)));
  });

  for (const [label, location] of [['escapes the model folder', '../model.onnx.data'], ['is absolute', '/etc/passwd']] as const) {
    it(`refuses external data whose location ${label}`, async () => {
      const { onnx } = await import('../src/onnx/proto.js');
      const { loadModel } = await import('../src/onnx/io.js');
      const model = loadFixture('torch-seed').model;
      const t = model.graph.initializer[0];
      t.rawData = new Uint8Array(0);
      t.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
      t.externalData = [onnx.StringStringEntryProto.create({ key: 'location', value: location })];
      const dir = mkdtempSync(join(tmpdir(), 'onnx-finetune-ext-'));
      writeFileSync(join(dir, 'm.onnx'), encodeModel(model));
      expect(() => loadModel(join(dir, 'm.onnx'))).to.throw(new RegExp(`tensor 'backbone.0.weight' has external data location '${location.replace(/\./g, '\\.')}' outside the model's folder`));
    });
  }
});

describe('saving models', () => {
  it('keeps weights inline, and moves them to <file>.data only past the size limit', async () => {
    const { saveModel, loadModel } = await import('../src/onnx/io.js');
    const { existsSync, statSync } = await import('node:fs');
    const digits = loadFixture('torch-digits-cnn');
    const dir = mkdtempSync(join(tmpdir(), 'onnx-finetune-save-'));
    saveModel(join(dir, 'inline.onnx'), digits.model);
    expect(existsSync(join(dir, 'inline.onnx.data'))).to.equal(false);
    expect(loadModel(join(dir, 'inline.onnx')).graph.initializer.every((t) => t.externalData.length === 0)).to.equal(true);
    // A limit of 4 KiB stands in for protobuf's 2 GiB.
    saveModel(join(dir, 'big.onnx'), digits.model, 4096);
    expect(statSync(join(dir, 'big.onnx.data')).size).to.be.greaterThan(4096);
    const back = loadModel(join(dir, 'big.onnx'));
    expect(Array.from(initialParameters(back).get('backbone.7.weight')!)).to.deep.equal(Array.from(initialParameters(digits.model).get('backbone.7.weight')!));
    const { createSession } = await import('../src/runtime/session.js');
    const session = await createSession(new Uint8Array(readFileSync(join(dir, 'inline.onnx'))));
    expect(session.inputNames).to.deep.equal(['x']);
  });
});

describe('what counts as a parameter', () => {
  it('float initializers with state_dict names, but not exporter constants or op settings', async () => {
    const { makeGraph, makeModel, makeNode, makeTensor, makeValueInfo, DataType } = await import('../src/onnx/builder.js');
    const f = (name: string, dims: number[], v: number) => makeTensor(name, DataType.FLOAT, dims, new Array(dims.reduce((a, b) => a * b, 1)).fill(v));
    const model = makeModel(makeGraph([
      makeNode('Mul', ['x', 'onnx::Mul_3'], ['scaled']),
      makeNode('Sub', ['scaled', 'val_7'], ['centered']),
      makeNode('Gemm', ['centered', 'fc.weight', 'fc.bias'], ['h'], { transB: 1 }),
      makeNode('Clip', ['h', 'clip_min', 'clip_max'], ['c']),
      makeNode('Pow', ['c', 'exponent'], ['logits']),
    ], 'g', [makeValueInfo('x', DataType.FLOAT, ['batch', 2])], [makeValueInfo('logits', DataType.FLOAT, ['batch', 1])],
    [f('onnx::Mul_3', [], 0.5), f('val_7', [2], 0.1), f('fc.weight', [1, 2], 0.3), f('fc.bias', [1], 0), f('clip_min', [], 0), f('clip_max', [], 6), f('exponent', [], 2)]));
    expect(describeModel(model).parameters.map((p) => p.name)).to.deep.equal(['fc.weight', 'fc.bias']);
  });
});
