// The built-in default: the seed notebook's synthetic task, its "pretend pretrained" backbone kept in
// models/seed-backbone.onnx, and the fresh nn.Linear-style head put on a backbone.
import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataType, makeGraph, makeModel, makeNode, makeValueInfo } from '../src/onnx/builder.js';
import { encodeModel, loadModel, saveModel } from '../src/onnx/io.js';
import { tensorDims, tensorValues } from '../src/onnx/tensor.js';
import { describeModel } from '../src/model/describe.js';
import { buildSeedBackbone, DEFAULT_BACKBONE_PATH } from '../src/model/seed-backbone.js';
import { attachLinearHead } from '../src/model/attach-head.js';
import { notebookTask } from '../src/data/synthetic.js';
import { createSession, ort } from '../src/runtime/session.js';
import { Rng } from '../src/train/rng.js';
import { checkerMissing, checkModelFile } from './util/onnx-checker.js';
import { singleInput } from '../src/data/dataset.js';

const values = (model: ReturnType<typeof loadModel>, name: string) => tensorValues(model.graph.initializer.find((t) => t.name === name)!) as Float32Array;

describe('built-in default', () => {
  describe('seed backbone (models/seed-backbone.onnx)', () => {
    it('is the file scripts/make-default-model.ts builds, byte for byte (the build is deterministic)', () => {
      const built = encodeModel(buildSeedBackbone());
      expect(Buffer.from(encodeModel(buildSeedBackbone())).equals(Buffer.from(built))).to.equal(true);
      expect(readFileSync(DEFAULT_BACKBONE_PATH).equals(Buffer.from(built)), 'models/seed-backbone.onnx is stale: run node dist/scripts/make-default-model.js').to.equal(true);
    });

    it('is Linear(10,32)-ReLU-Linear(32,16)-ReLU as torch.onnx.export writes it, with PyTorch\'s parameter names', () => {
      const model = loadModel(DEFAULT_BACKBONE_PATH);
      expect(Number(model.irVersion)).to.equal(8);
      expect(model.opsetImport.map((o) => Number(o.version))).to.deep.equal([17]);
      expect(model.graph.node.map((n) => n.opType)).to.deep.equal(['Gemm', 'Relu', 'Gemm', 'Relu']);
      for (const gemm of model.graph.node.filter((n) => n.opType === 'Gemm')) expect(Number(gemm.attribute.find((a) => a.name === 'transB')?.i)).to.equal(1);
      const summary = describeModel(model);
      expect(summary.inputs).to.deep.equal([{ name: 'x', elemType: DataType.FLOAT, shape: ['batch', 10] }]);
      expect(summary.logits).to.equal('features');
      expect(summary.logitsShape).to.deep.equal(['batch', 16]);
      expect(summary.parameters).to.deep.equal([
        { name: 'backbone.0.weight', dims: [32, 10] }, { name: 'backbone.0.bias', dims: [32] },
        { name: 'backbone.2.weight', dims: [16, 32] }, { name: 'backbone.2.bias', dims: [16] },
      ]);
    });

    it('holds nn.Linear\'s uniform init plus 0.1·N(0,1) noise: the spread of each tensor matches', () => {
      const model = loadModel(DEFAULT_BACKBONE_PATH);
      for (const [name, fanIn] of [['backbone.0.weight', 10], ['backbone.2.weight', 32]] as const) {
        const w = values(model, name);
        const mean = w.reduce((a, b) => a + b, 0) / w.length;
        const variance = w.reduce((a, b) => a + (b - mean) ** 2, 0) / w.length;
        // U(-1/√fan_in, 1/√fan_in) has variance 1/(3·fan_in); the noise adds 0.01.
        const expected = 1 / (3 * fanIn) + 0.01;
        expect(variance, name).to.be.within(0.75 * expected, 1.25 * expected);
        expect(Math.abs(mean), name).to.be.below(0.05);
      }
    });

    it('passes onnx.checker.check_model(full_check=True)', function () {
      if (checkerMissing()) this.skip();
      expect(checkModelFile(DEFAULT_BACKBONE_PATH)).to.equal('');
    });
  });

  describe('attachLinearHead', () => {
    it('adds head.weight [classes, features] and head.bias, initialized as nn.Linear (±1/√fan_in), producing logits', async () => {
      const backbone = loadModel(DEFAULT_BACKBONE_PATH);
      const model = attachLinearHead(backbone, 1, new Rng(5));
      const summary = describeModel(model);
      expect(summary.logits).to.equal('logits');
      expect(summary.logitsShape).to.deep.equal(['batch', 1]);
      expect(summary.parameters.slice(-2)).to.deep.equal([{ name: 'head.weight', dims: [1, 16] }, { name: 'head.bias', dims: [1] }]);
      for (const v of [...values(model, 'head.weight'), ...values(model, 'head.bias')]) expect(Math.abs(v)).to.be.at.most(0.25);
      // The backbone is left as it was, and the same seed gives the same head.
      expect(describeModel(backbone).logits).to.equal('features');
      expect(Buffer.from(encodeModel(attachLinearHead(backbone, 1, new Rng(5)))).equals(Buffer.from(encodeModel(model)))).to.equal(true);

      const x = new Float32Array(3 * 10).map((_, i) => Math.sin(i));
      const session = await createSession(model);
      const logits = (await session.run({ x: new ort.Tensor('float32', x, [3, 10]) })).logits;
      const features = (await (await createSession(backbone)).run({ x: new ort.Tensor('float32', x, [3, 10]) })).features.data as Float32Array;
      const w = values(model, 'head.weight'), b = values(model, 'head.bias');
      expect(logits.dims).to.deep.equal([3, 1]);
      for (let r = 0; r < 3; r++) {
        let z = b[0];
        for (let k = 0; k < 16; k++) z += features[r * 16 + k] * w[k];
        expect(logits.data[r] as number).to.be.closeTo(z, 1e-5);
      }
    });

    it('flattens a backbone output of rank > 2 and reads the feature size from its shape', async () => {
      const backbone = makeModel(makeGraph([makeNode('Relu', ['x'], ['features'], {}, 'relu')], 'g',
        [makeValueInfo('x', DataType.FLOAT, ['n', 2, 3])], [makeValueInfo('features', DataType.FLOAT, ['n', 2, 3])]));
      const model = attachLinearHead(backbone, 4, new Rng(1));
      expect(describeModel(model).parameters).to.deep.equal([{ name: 'head.weight', dims: [4, 6] }, { name: 'head.bias', dims: [4] }]);
      for (const v of values(model, 'head.weight')) expect(Math.abs(v)).to.be.at.most(1 / Math.sqrt(6));
      const x = new Float32Array(12).map((_, i) => i - 5);
      const out = (await (await createSession(model)).run({ x: new ort.Tensor('float32', x, [2, 2, 3]) })).logits;
      expect(out.dims).to.deep.equal([2, 4]);
      const w = values(model, 'head.weight'), b = values(model, 'head.bias');
      for (let r = 0; r < 2; r++) for (let c = 0; c < 4; c++) {
        let z = b[c];
        for (let k = 0; k < 6; k++) z += Math.max(0, x[r * 6 + k]) * w[c * 6 + k];
        expect(out.data[r * 4 + c] as number).to.be.closeTo(z, 1e-5);
      }
    });

    it('refuses a backbone whose output shape is unknown, naming the output', () => {
      const backbone = makeModel(makeGraph([makeNode('Relu', ['x'], ['features'])], 'g',
        [makeValueInfo('x', DataType.FLOAT, ['n', 3])], [makeValueInfo('features', DataType.FLOAT, ['n', 'k'])]));
      expect(() => attachLinearHead(backbone, 1, new Rng(1))).to.throw(/output 'features' has shape \[n,k\]/);
    });

    it('writes a model that passes onnx.checker.check_model(full_check=True)', function () {
      if (checkerMissing()) this.skip();
      const dir = mkdtempSync(join(tmpdir(), 'attach-head-'));
      try {
        const file = join(dir, 'model.onnx');
        saveModel(file, attachLinearHead(loadModel(DEFAULT_BACKBONE_PATH), 3, new Rng(2)));
        expect(checkModelFile(file)).to.equal('');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('notebookTask (the synthetic data)', () => {
    it('has 900 training and 300 test rows of 10 standard-normal features, labels in {0, 1}', () => {
      const { train, test } = notebookTask(17);
      expect([train.count, test.count]).to.deep.equal([900, 300]);
      expect(singleInput(train).shape).to.deep.equal([10]);
      expect(singleInput(train).values.length).to.equal(9000);
      expect(singleInput(test).values.length).to.equal(3000);
      const all = [...singleInput(train).values, ...singleInput(test).values] as number[];
      const mean = all.reduce((a, b) => a + b, 0) / all.length;
      const variance = all.reduce((a, b) => a + (b - mean) ** 2, 0) / all.length;
      expect(Math.abs(mean)).to.be.below(0.05);
      expect(variance).to.be.within(0.93, 1.07);
      for (const y of [...train.labels, ...test.labels]) expect([0, 1]).to.include(y);
    });

    it('labels follow score = 1.5·x0 − 0.7·x1 + 0.4·x2·x3 + 0.4·noise > 0', () => {
      const { train } = notebookTask(17);
      let agree = 0, positive = 0;
      for (let r = 0; r < train.count; r++) {
        const x = singleInput(train).values.subarray(r * 10, r * 10 + 10) as Float32Array;
        const clean = 1.5 * x[0] - 0.7 * x[1] + 0.4 * x[2] * x[3];
        if ((clean > 0 ? 1 : 0) === train.labels[r]) agree++;
        positive += train.labels[r];
      }
      // The noise term (σ 0.4 against a score of σ ≈ 1.7) flips about 7% of the labels.
      expect(agree / train.count).to.be.within(0.88, 0.98);
      expect(positive / train.count).to.be.within(0.4, 0.6);
    });

    it('is the same for the same seed and differs between seeds', () => {
      expect(notebookTask(17).train.inputs.x.values).to.deep.equal(notebookTask(17).train.inputs.x.values);
      expect(notebookTask(18).train.inputs.x.values).to.not.deep.equal(notebookTask(17).train.inputs.x.values);
    });
  });
});
