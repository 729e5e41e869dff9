// The backward driver on real exports (test/fixtures/torch-arch, when present): every parameter PyTorch trains
// gets a finite gradient from one backward run seeded at the logits. Which initializers are parameters, several
// data inputs and the exact PyTorch comparison are other tests' business; these check that every op on a
// gradient path has a rule and the shapes it needs. Also: shape inference of the integer and boolean ops those
// exports put next to the gradient path.
import { expect } from 'chai';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DataType, makeGraph, makeModel, makeNode, makeTensor, makeValueInfo } from '../src/onnx/builder.js';
import { loadModel } from '../src/onnx/io.js';
import { indexGraph, nameNodes } from '../src/graph/graph-index.js';
import { inferShapes } from '../src/graph/shapes.js';
import { buildBackward } from '../src/autodiff/backward.js';
import { defaultOpset } from '../src/model/describe.js';
import { createSession, ort } from '../src/runtime/session.js';
import { ROOT } from './util/fixtures.js';

const ARCH = join(ROOT, 'test', 'fixtures', 'torch-arch');
const SEQUENCE = 16, BATCH = 2;

function feedsFor(inputs: { name: string; type: number }[]): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const input of inputs) {
    if (input.type === DataType.INT64) {
      // Token ids 1..63 and a mask with some padding at the end of the second row.
      const values = Array.from({ length: BATCH * SEQUENCE }, (_, k) => (input.name.includes('mask') ? (k >= 27 ? 0 : 1) : 1 + ((k * 7) % 63)));
      feeds[input.name] = new ort.Tensor('int64', BigInt64Array.from(values, BigInt), [BATCH, SEQUENCE]);
    } else {
      feeds[input.name] = new ort.Tensor('float32', Float32Array.from({ length: BATCH * 3 * 32 * 32 }, (_, k) => Math.sin(k * 0.37)), [BATCH, 3, 32, 32]);
    }
  }
  return feeds;
}

describe('backward graphs of real exports (test/fixtures/torch-arch)', () => {
  const names = existsSync(ARCH) ? readdirSync(ARCH).filter((d) => existsSync(join(ARCH, d, 'model.onnx')) && existsSync(join(ARCH, d, 'expected.json'))) : [];
  for (const name of names) {
    const readExpected = (folder: string) => JSON.parse(readFileSync(join(ARCH, folder, 'expected.json'), 'utf8'));
    const own = readExpected(name);
    // Another export of the same PyTorch model shares its results ({same_as: folder}).
    const results = (own.same_as ? readExpected(own.same_as) : own).results as Record<string, { params: Record<string, unknown> }> | undefined;
    const trained = results?.full_fine_tune?.params;
    // No PyTorch results (a folded export); BatchNorm in training mode is another part of issue 10.
    if (!trained || name === 'resnet-training-export') continue;
    it(`${name}: every parameter PyTorch trains gets a finite gradient`, async function () {
      this.timeout(60_000);
      const model = loadModel(join(ARCH, name, 'model.onnx'));
      const graph = model.graph;
      nameNodes(graph);
      const index = indexGraph(graph);
      graph.node = index.order;
      const floatInits = new Set(graph.initializer.filter((t) => t.dataType === DataType.FLOAT).map((t) => t.name));
      const wrt = Object.keys(trained).filter((p) => floatInits.has(p));
      expect(wrt.length).to.be.greaterThan(0);
      const opset = defaultOpset(model);
      const logits = graph.output[0].name;
      const back = buildBackward({ graph, index, infos: inferShapes(graph, index, opset), opset, seeds: new Map([[logits, 'logits_seed']]), wrt });
      const gradients = wrt.map((p) => back.gradients.get(p)!);
      const initializerNames = new Set(graph.initializer.map((t) => t.name));
      const dataInputs = graph.input.filter((i) => !initializerNames.has(i.name));
      const runnable = makeModel(makeGraph([...graph.node, ...back.nodes], `${name}_backward`,
        [...dataInputs, makeValueInfo('logits_seed', DataType.FLOAT, [BATCH, 3])],
        gradients.map((g) => makeValueInfo(g, DataType.FLOAT, null)), [...graph.initializer, ...back.initializers]));
      runnable.opsetImport = model.opsetImport;
      const session = await createSession(runnable);
      try {
        const seed = new ort.Tensor('float32', Float32Array.from([0.3, -1.1, 0.8, 0.5, 0.9, -0.7]), [BATCH, 3]);
        const out = await session.run({ ...feedsFor(dataInputs.map((i) => ({ name: i.name, type: i.type!.tensorType!.elemType! }))), logits_seed: seed });
        for (const [k, g] of gradients.entries()) {
          expect(Array.from(out[g].data as Float32Array).every(Number.isFinite), `gradient of ${wrt[k]}`).to.equal(true);
        }
        expect(gradients.filter((g) => (out[g].data as Float32Array).some((v) => v !== 0)).length, 'parameters with a non-zero gradient').to.be.greaterThan(wrt.length / 2);
      } finally {
        await session.release();
      }
    });
  }
});

describe('shape inference of integer and boolean ops next to the gradient path', () => {
  it('infers element types and ranks, and folds small shape subgraphs to values', () => {
    const ints = (name: string, values: number[], dims = [values.length]) => makeTensor(name, DataType.INT64, dims, values);
    const graph = makeGraph([
      makeNode('Shape', ['x'], ['shape']),
      makeNode('Shape', ['x'], ['tail'], { start: 1 }),
      makeNode('Gather', ['shape', 'zero'], ['batch'], { axis: 0 }),
      makeNode('Gather', ['tail', 'zero'], ['rows'], { axis: 0 }),
      makeNode('Range', ['zero', 'rows', 'one'], ['positions']),
      makeNode('Equal', ['positions', 'one'], ['is_one']),
      makeNode('Not', ['is_one'], ['not_one']),
      makeNode('And', ['is_one', 'not_one'], ['never']),
      makeNode('IsNaN', ['x'], ['nan']),
      makeNode('ArgMax', ['x'], ['argmax'], { axis: -1, keepdims: 0 }),
      makeNode('NonZero', ['never'], ['nonzero']),
      makeNode('Unsqueeze', ['rows', 'axis0'], ['rows_1d']),
      makeNode('Concat', ['rows_1d', 'rows_1d'], ['square'], { axis: 0 }),
      makeNode('ConstantOfShape', ['square'], ['ones'], { value: ints('', [1], [1]) }),
      makeNode('Trilu', ['ones'], ['lower']),
      makeNode('Cast', ['lower'], ['mask'], { to: DataType.BOOL }),
      makeNode('Constant', [], ['axes'], { value_ints: [-1] }),
      makeNode('ReduceMean', ['x', 'axes'], ['mean'], { keepdims: 0 }),
      makeNode('Expand', ['x', 'square'], ['expanded']),
      makeNode('Where', ['mask', 'x', 'x'], ['picked']),
      makeNode('Unsqueeze', ['batch', 'axis0'], ['batch_1d']),
      makeNode('Concat', ['batch_1d', 'three_minus_one'], ['target'], { axis: 0 }),
      makeNode('Reshape', ['x', 'target'], ['reshaped']),
      makeNode('Reshape', ['x', 'minus_one_nine'], ['flat_rows']),
    ], 'shapes', [makeValueInfo('x', DataType.FLOAT, ['batch', 3, 3])], [], [ints('zero', [0], []), ints('one', [1], []), ints('axis0', [0]), ints('three_minus_one', [3, -1]), ints('minus_one_nine', [-1, 9])]);
    const infos = inferShapes(graph, indexGraph(graph), 18);
    const info = (t: string) => infos.get(t)!;
    expect(info('shape')).to.deep.include({ dtype: DataType.INT64, shape: [3] });
    expect(info('tail')).to.deep.include({ dtype: DataType.INT64, shape: [2], values: [3, 3] });
    expect(info('batch').values, 'a symbolic size is not a value').to.equal(undefined);
    expect(info('rows').values).to.deep.equal([3]);
    expect(info('positions')).to.deep.include({ dtype: DataType.INT64, shape: [3], values: [0, 1, 2] });
    for (const t of ['is_one', 'not_one', 'never', 'mask']) expect(info(t).dtype, t).to.equal(DataType.BOOL);
    expect(info('nan')).to.deep.include({ dtype: DataType.BOOL, shape: ['batch', 3, 3] });
    expect(info('argmax')).to.deep.include({ dtype: DataType.INT64, shape: ['batch', 3] });
    expect(info('nonzero')).to.deep.include({ dtype: DataType.INT64, shape: [1, null] });
    expect(info('square').values).to.deep.equal([3, 3]);
    expect(info('ones')).to.deep.include({ dtype: DataType.INT64, shape: [3, 3] });
    expect(info('lower')).to.deep.include({ dtype: DataType.INT64, shape: [3, 3] });
    expect(info('axes')).to.deep.include({ dtype: DataType.INT64, shape: [1], values: [-1] });
    expect(info('mean')).to.deep.include({ dtype: DataType.FLOAT, shape: ['batch', 3] });
    expect(info('expanded')).to.deep.include({ dtype: DataType.FLOAT, shape: ['batch', 3, 3] });
    expect(info('picked')).to.deep.include({ dtype: DataType.FLOAT, shape: ['batch', 3, 3] });
    // A target shape computed from Shape(x) keeps the symbolic batch size; -1 resolves by cancelling symbols.
    expect(info('shape').symbols).to.deep.equal(['batch', 3, 3]);
    expect(info('target').symbols).to.deep.equal(['batch', 3, -1]);
    expect(info('reshaped').shape).to.deep.equal(['batch', 3, 3]);
    expect(info('flat_rows').shape).to.deep.equal(['batch', 9]);
  });
});
