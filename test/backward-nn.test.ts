// The CNN-side rules' refusals (each names the op and node and says why), and the static shape inference they
// rely on: output sizes of Conv, ConvTranspose and the pools under pads, strides, dilations, ceil_mode and
// auto_pad, compared with what onnxruntime computes, and the shapes through the torch-digits-cnn fixture.
import { expect } from 'chai';
import { DataType, makeGraph, makeModel, makeNode, makeTensor, makeValueInfo, type AttrValue, type Dim } from '../src/onnx/builder.js';
import type { NodeProto, TensorProto } from '../src/onnx/proto.js';
import { loadModel } from '../src/onnx/io.js';
import { indexGraph, nameNodes } from '../src/graph/graph-index.js';
import { inferShapes } from '../src/graph/shapes.js';
import { expectUserError, seededBackward } from './util/backward.js';
import { createSession, ort } from '../src/runtime/session.js';

const ints = (name: string, values: number[]) => makeTensor(name, DataType.INT64, [values.length], values);

function backwardOf(nodes: NodeProto[], inputs: Record<string, Dim[] | null>, wrt: string[], opts: { opset?: number; constants?: TensorProto[] } = {}) {
  const graph = makeGraph(nodes, 'g', Object.entries(inputs).map(([n, s]) => makeValueInfo(n, DataType.FLOAT, s)), [makeValueInfo('y', DataType.FLOAT, null)], opts.constants ?? []);
  return seededBackward(graph, wrt, opts.opset);
}


describe('CNN rules: refusals', () => {
  it('Conv needs the spatial size of its input', () => {
    const message = expectUserError(() => backwardOf([makeNode('Conv', ['x', 'w'], ['y'], { strides: [2, 2] }, 'conv1')], { x: ['batch', 2, 'h', 'w'], w: [3, 2, 3, 3] }, ['w']));
    expect(message).to.include("'conv1'").and.include('spatial size');
  });

  it('Conv needs the static shape of its weight', () => {
    const message = expectUserError(() => backwardOf([makeNode('Conv', ['x', 'w'], ['y'], {}, 'conv1')], { x: ['batch', 2, 5, 5], w: null }, ['x']));
    expect(message).to.include("'conv1'").and.include("'w'");
  });

  it('MaxPool with overlapping windows needs opset 16 to add gradients that meet', () => {
    const message = expectUserError(() => backwardOf([makeNode('MaxPool', ['x'], ['y'], { kernel_shape: [3, 3], strides: [2, 2] }, 'pool')], { x: [1, 2, 6, 6] }, ['x'], { opset: 13 }));
    expect(message).to.include("'pool'").and.include('opset 16');
  });

  it('BatchNormalization in training mode', () => {
    const message = expectUserError(() => backwardOf([makeNode('BatchNormalization', ['x', 's', 'b', 'm', 'v'], ['y'], { training_mode: 1 }, 'bn')],
      { x: [2, 3, 4, 4], s: [3], b: [3], m: [3], v: [3] }, ['s'], { opset: 15 }));
    expect(message).to.include("'bn'").and.include('training mode');
  });

  it('Dropout in training mode without its mask output', () => {
    const message = expectUserError(() => backwardOf([makeNode('Dropout', ['x', 'r', 't'], ['y'], {}, 'drop')], { x: [2, 3] }, ['x'],
      { constants: [makeTensor('r', DataType.FLOAT, [], [0.1]), makeTensor('t', DataType.BOOL, [], [1])] }));
    expect(message).to.include("'drop'").and.include('mask');
  });

  it('Pad in a mode other than constant', () => {
    const message = expectUserError(() => backwardOf([makeNode('Pad', ['x', 'p'], ['y'], { mode: 'reflect' }, 'pad')], { x: [2, 3] }, ['x'], { constants: [ints('p', [0, 1, 0, 1])] }));
    expect(message).to.include("'pad'").and.include("'reflect'");
  });

  it('Slice whose starts are not constant', () => {
    const graph = () => backwardOf([makeNode('Slice', ['x', 's', 'e'], ['y'], {}, 'cut')], { x: [4, 3] }, ['x'], { constants: [ints('e', [3])] });
    const message = expectUserError(graph);
    expect(message).to.include("'cut'").and.include('constants');
  });

  it('Slice of a symbolic axis that is not taken whole', () => {
    const message = expectUserError(() => backwardOf([makeNode('Slice', ['x', 's', 'e', 'a'], ['y'], {}, 'cut')], { x: ['batch', 3] }, ['x'],
      { constants: [ints('s', [1]), ints('e', [3]), ints('a', [0])] }));
    expect(message).to.include("'cut'").and.include('axis 0');
  });

  it('Softmax before opset 13 (a different function)', () => {
    const message = expectUserError(() => backwardOf([makeNode('Softmax', ['x'], ['y'], {}, 'sm')], { x: [2, 3] }, ['x'], { opset: 12 }));
    expect(message).to.include("'sm'").and.include('opset 13');
  });
});

describe('shape inference for the CNN ops', () => {
  /** Infers the output shape of one float32 node and runs it in onnxruntime: the two must agree. */
  async function agrees(op: string, inputs: [string, number[]][], attrs: Record<string, AttrValue>, opset = 17, constants: TensorProto[] = []) {
    const node = makeNode(op, inputs.map(([n]) => n).concat(constants.map((c) => c.name)), ['y'], attrs);
    const graph = makeGraph([node], 'g', inputs.map(([n, d]) => makeValueInfo(n, DataType.FLOAT, d)), [makeValueInfo('y', DataType.FLOAT, null)], constants);
    const inferred = inferShapes(graph, indexGraph(graph), opset).get('y')!.shape;
    const session = await createSession(makeModel(graph, { opset }));
    try {
      const feeds = Object.fromEntries(inputs.map(([n, d]) => [n, new ort.Tensor('float32', new Float32Array(d.reduce((a, b) => a * b, 1)).fill(0.5), d)]));
      const actual = (await session.run(feeds)).y.dims.map(Number);
      expect(inferred, `${op} ${JSON.stringify(attrs)}`).to.deep.equal(actual);
    } finally {
      await session.release();
    }
  }

  it('ConvTranspose: output_padding, pads, dilations, groups, SAME, output_shape', async () => {
    await agrees('ConvTranspose', [['x', [1, 2, 3, 4]], ['w', [2, 3, 3, 2]]], { strides: [2, 3], pads: [1, 0, 0, 1], output_padding: [1, 2] });
    await agrees('ConvTranspose', [['x', [1, 4, 3]], ['w', [4, 1, 3]]], { group: 2, dilations: [2], strides: [2] });
    await agrees('ConvTranspose', [['x', [1, 2, 3, 3]], ['w', [2, 1, 3, 3]]], { strides: [2, 2], auto_pad: 'SAME_UPPER' });
    await agrees('ConvTranspose', [['x', [1, 2, 3, 3]], ['w', [2, 1, 3, 3]]], { strides: [2, 2], output_shape: [6, 7] });
  });

  it("pools: ceil_mode drops a window that would start in the end padding; SAME with dilations uses the undilated kernel", async () => {
    await agrees('MaxPool', [['x', [1, 1, 4, 5]]], { kernel_shape: [2, 2], strides: [2, 2], pads: [0, 0, 1, 1], ceil_mode: 1 });
    await agrees('AveragePool', [['x', [1, 1, 5, 6]]], { kernel_shape: [2, 3], strides: [2, 2], ceil_mode: 1 });
    await agrees('MaxPool', [['x', [1, 1, 5, 7]]], { kernel_shape: [2, 3], dilations: [2, 2], auto_pad: 'SAME_UPPER' });
    await agrees('AveragePool', [['x', [1, 1, 5, 7]]], { kernel_shape: [2, 3], dilations: [2, 1], auto_pad: 'SAME_LOWER', strides: [1, 2] }, 19);
    await agrees('GlobalMaxPool', [['x', [2, 3, 4]]], {});
  });

  it('Conv: SAME with a kernel smaller than the stride, VALID, kernel from the weight', async () => {
    await agrees('Conv', [['x', [1, 2, 5, 7]], ['w', [3, 2, 1, 1]]], { strides: [3, 3], auto_pad: 'SAME_UPPER' });
    await agrees('Conv', [['x', [1, 2, 5, 7]], ['w', [3, 2, 3, 2]]], { strides: [2, 3], auto_pad: 'VALID' });
    await agrees('Conv', [['x', [1, 2, 5]], ['w', [3, 2, 2]]], { strides: [2], dilations: [2], pads: [0, 3] });
  });

  it('Slice, Pad, Concat', async () => {
    await agrees('Slice', [['x', [4, 7]]], {}, 17, [ints('s', [-1, 6]), ints('e', [-100, 0]), ints('a', [0, 1]), ints('st', [-2, -3])]);
    await agrees('Pad', [['x', [2, 3, 4]]], { mode: 'constant' }, 18, [ints('p', [1, -1, 2, 0]), makeTensor('v', DataType.FLOAT, [], [0]), ints('ax', [0, 2])]);
    await agrees('Concat', [['a', [2, 3]], ['b', [2, 1]]], { axis: -1 });
  });

  it('keeps a symbolic batch through the torch-digits-cnn fixture, without its value_info', () => {
    const model = loadModel('test/fixtures/torch-digits-cnn/model.onnx');
    const graph = model.graph;
    graph.valueInfo = [];
    nameNodes(graph);
    const infos = inferShapes(graph, indexGraph(graph), 18);
    const shapes = graph.node.map((n) => [n.opType, infos.get(n.output[0])?.shape]);
    expect(shapes).to.deep.equal([
      ['Conv', ['batch', 8, 8, 8]], ['Relu', ['batch', 8, 8, 8]], ['MaxPool', ['batch', 8, 4, 4]],
      ['Conv', ['batch', 16, 4, 4]], ['Relu', ['batch', 16, 4, 4]], ['MaxPool', ['batch', 16, 2, 2]],
      ['Reshape', ['batch', 64]], ['Gemm', ['batch', 32]], ['Relu', ['batch', 32]], ['Gemm', ['batch', 5]],
    ]);
  });
});
