// Back to PyTorch: <strategy>.safetensors holds every parameter and BatchNorm buffer under its PyTorch name.
import { expect } from 'chai';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeSafetensors } from '../src/export/safetensors.js';
import { pytorchStateDict } from '../src/export/state-dict.js';
import { writeOutputs } from '../src/cli/outputs.js';
import { loadModel } from '../src/onnx/io.js';
import { tensorValues } from '../src/onnx/tensor.js';
import { DataType, makeGraph, makeModel, makeNode, makeTensor, makeValueInfo } from '../src/onnx/builder.js';
import { DEFAULT_BACKBONE_PATH } from '../src/model/seed-backbone.js';
import { cli } from './util/cli.js';
import { readSafetensors } from './util/safetensors.js';

const concat = (chunks: Uint8Array[]) => new Uint8Array(Buffer.concat(chunks));
const values = (t: Parameters<typeof tensorValues>[0]) => Array.from(tensorValues(t) as Float32Array);

describe('safetensors files', () => {
  it('one tensor, byte for byte: header length, JSON header padded with spaces to 8 bytes, little-endian float32', () => {
    const bytes = concat(encodeSafetensors([{ name: 'a', dims: [1], values: Float32Array.of(1) }]));
    const header = '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'; // 54 bytes, padded to 56
    expect(Array.from(bytes.subarray(0, 8))).to.deep.equal([56, 0, 0, 0, 0, 0, 0, 0]);
    expect(new TextDecoder().decode(bytes.subarray(8, 64))).to.equal(header + '  ');
    expect(Array.from(bytes.subarray(64))).to.deep.equal([0, 0, 0x80, 0x3f]);
  });

  it('round trip: tensors sorted by name, shapes kept (scalars, empty tensors), values bit for bit, metadata first', () => {
    const tensors = [
      { name: 'layer.10.weight', dims: [2, 3], values: Float32Array.from([1.5, -2, 3e-38, -0, Math.PI, 1e30]) },
      { name: 'layer.2.bias', dims: [3], values: Float32Array.from([0.1, 0.2, 0.3]) },
      { name: 'gamma', dims: [], values: Float32Array.of(0.5) },
      { name: 'empty', dims: [0, 4], values: new Float32Array(0) },
      { name: 'blocks.0.ĝ"name', dims: [1], values: Float32Array.of(7) },
    ];
    const read = readSafetensors(concat(encodeSafetensors(tensors, { format: 'pt' })));
    expect(read.headerLength % 8).to.equal(0);
    expect(read.metadata).to.deep.equal({ format: 'pt' });
    expect(read.keys).to.deep.equal(['__metadata__', 'blocks.0.ĝ"name', 'empty', 'gamma', 'layer.10.weight', 'layer.2.bias']);
    for (const t of tensors) {
      const back = read.tensors.get(t.name)!;
      expect(back.dims, t.name).to.deep.equal(t.dims);
      expect(Buffer.from(back.values.buffer).equals(Buffer.from(t.values.buffer)), t.name).to.equal(true);
    }
  });

  it('holds parameters and BatchNorm running statistics, float64 as float32, and leaves exporter-named tensors out', () => {
    const f = (name: string, dims: number[], v: number[], type = DataType.FLOAT) => makeTensor(name, type, dims, v);
    const model = makeModel(makeGraph([
      makeNode('Conv', ['x', 'onnx::Conv_7', 'onnx::Conv_8'], ['c'], { kernel_shape: [1, 1] }),
      makeNode('BatchNormalization', ['c', 'bn.weight', 'bn.bias', 'bn.running_mean', 'bn.running_var'], ['b']),
      makeNode('Mul', ['b', 'onnx::Mul_9'], ['m']),
      makeNode('Mul', ['m', 'layer_scale'], ['s']),
      makeNode('Flatten', ['s'], ['logits']),
    ], 'g', [makeValueInfo('x', DataType.FLOAT, ['batch', 1, 1, 1])], [makeValueInfo('logits', DataType.FLOAT, ['batch', 2])], [
      f('onnx::Conv_7', [2, 1, 1, 1], [1, 2]), f('onnx::Conv_8', [2], [0, 0]),
      f('bn.weight', [2], [1, 1]), f('bn.bias', [2], [0, 0]), f('bn.running_mean', [2], [0.25, 0.5]), f('bn.running_var', [2], [2, 3]),
      f('onnx::Mul_9', [], [2]), f('layer_scale', [2, 1, 1], [0.1, 0.2], DataType.DOUBLE),
    ]));
    const { tensors, leftOut } = pytorchStateDict(model);
    expect(tensors.map((t) => t.name)).to.deep.equal(['bn.weight', 'bn.bias', 'bn.running_mean', 'bn.running_var', 'layer_scale']);
    expect(leftOut).to.deep.equal(['onnx::Conv_7', 'onnx::Conv_8']);
    const scale = tensors.find((t) => t.name === 'layer_scale')!;
    expect(scale.values).to.be.instanceOf(Float32Array);
    expect(Array.from(scale.values)).to.deep.equal([0.1, 0.2].map(Math.fround));
    expect(scale.dims).to.deep.equal([2, 1, 1]);

    const dir = mkdtempSync(join(tmpdir(), 'onnx-finetune-safetensors-'));
    writeOutputs({ dir, given: true }, [{ key: 'full_fine_tune', model, report: { strategy: 'full_fine_tune' } }]);
    const read = readSafetensors(readFileSync(join(dir, 'full_fine_tune.safetensors')));
    expect(Array.from(read.tensors.get('bn.running_var')!.values)).to.deep.equal([2, 3]);
    expect(JSON.parse(readFileSync(join(dir, 'full_fine_tune.json'), 'utf8'))).to.deep.equal({
      strategy: 'full_fine_tune', safetensors: { file: 'full_fine_tune.safetensors', tensors: 5, left_out_exporter_named: ['onnx::Conv_7', 'onnx::Conv_8'] },
    });
  });

  it('the CLI writes <strategy>.safetensors whose values equal the trained .onnx initializers, frozen ones included', async function () {
    this.timeout(60000);
    const cwd = mkdtempSync(join(tmpdir(), 'onnx-finetune-safetensors-cli-'));
    const run = await cli(['linear-probe', '--epochs', '1', '--out', 'out'], cwd);
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stderr).to.equal('');
    expect(run.stdout).to.match(/wrote linear_probe \(\.onnx \+ \.safetensors \+ \.json\) to out/);
    const trained = loadModel(join(cwd, 'out', 'linear_probe.onnx'));
    const read = readSafetensors(readFileSync(join(cwd, 'out', 'linear_probe.safetensors')));
    expect([...read.tensors.keys()]).to.deep.equal(['backbone.0.bias', 'backbone.0.weight', 'backbone.2.bias', 'backbone.2.weight', 'head.bias', 'head.weight']);
    for (const t of trained.graph.initializer) {
      expect(read.tensors.get(t.name)!.dims, t.name).to.deep.equal(t.dims.map(Number));
      expect(Array.from(read.tensors.get(t.name)!.values), t.name).to.deep.equal(values(t));
    }
    // The frozen backbone is saved too, as it was.
    const backbone = loadModel(DEFAULT_BACKBONE_PATH);
    for (const t of backbone.graph.initializer) expect(Array.from(read.tensors.get(t.name)!.values), t.name).to.deep.equal(values(t));
  });
});
