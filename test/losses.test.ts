// Each loss's closed-form gradient against finite differences of its forward fragment, in float64; golden
// values worked out by hand; toFloat64; and one whole model (loss seed + backward) checked end to end.
import { expect } from 'chai';
import { DataType, makeGraph, makeModel, makeNode, makeValueInfo, type Dim } from '../src/onnx/builder.js';
import type { ModelProto, TensorProto } from '../src/onnx/proto.js';
import { tensorValues } from '../src/onnx/tensor.js';
import { loadModel } from '../src/onnx/io.js';
import { createEmitter } from '../src/graph/emitter.js';
import { indexGraph, nameNodes } from '../src/graph/graph-index.js';
import { inferShapes } from '../src/graph/shapes.js';
import { toFloat64 } from '../src/graph/precision.js';
import { buildBackward, gradName } from '../src/autodiff/backward.js';
import { LOSSES, type Loss } from '../src/losses/index.js';
import { crossEntropyLoss } from '../src/losses/cross-entropy.js';
import { createSession, ort } from '../src/runtime/session.js';
import { draw, finiteDifferenceCheck, Rng, seedFrom, size, toOrt, type Feed, type Feeds } from './util/gradcheck.js';

const LOGITS = 'logits', LABELS = 'labels', LOSS = 'loss';

/**
 * logits, labels -> loss (forward fragment) and logits_grad (closed-form gradient fragment), in one model.
 * `batch` declares the batch dimension symbolic, as exported models do.
 */
function lossModel(loss: Loss, logitsShape: number[], options: { dtype?: number; opset?: number; batch?: string } = {}): ModelProto {
  const { dtype = DataType.DOUBLE, opset = 17 } = options;
  const declared: Dim[] = options.batch ? [options.batch, ...logitsShape.slice(1)] : logitsShape;
  const initializers: TensorProto[] = [];
  const e = createEmitter('loss', dtype, opset, initializers);
  const io = { logits: LOGITS, labels: LABELS, logitsShape: declared };
  const nodes = [...loss.forward(e, io, LOSS), ...loss.gradient(e, io, gradName(LOGITS))];
  const labelType = loss.labelType === 'int64' ? DataType.INT64 : dtype;
  return makeModel(makeGraph(nodes, `${loss.name}_loss`,
    [makeValueInfo(LOGITS, dtype, declared), makeValueInfo(LABELS, labelType, loss.labelShape(declared))],
    [makeValueInfo(LOSS, dtype, []), makeValueInfo(gradName(LOGITS), dtype, declared)],
    initializers), { opset });
}

function labelsFor(loss: Loss, logitsShape: number[], rng: Rng, soft = false): Feed {
  const [n, c] = logitsShape;
  if (loss.labelType === 'int64') return { dims: [n], data: BigInt64Array.from({ length: n }, () => BigInt(rng.int(c))) };
  const count = size(logitsShape);
  if (loss.name === 'bce') return { dims: logitsShape, data: Float64Array.from({ length: count }, () => (soft ? rng.next() : rng.int(2))) };
  return { dims: logitsShape, data: Float64Array.from({ length: count }, () => rng.uniform(-1, 1)) };
}

async function run(model: ModelProto, feeds: Feeds) {
  const session = await createSession(model);
  const out = await session.run(toOrt(feeds));
  return { session, loss: out[LOSS].data as Float64Array, grad: Float64Array.from(out[gradName(LOGITS)].data as Float64Array) };
}

/** Finite differences of the forward fragment against the gradient fragment, at random logits. */
async function checkLoss(name: string, loss: Loss, logitsShape: number[], model: ModelProto, soft = false) {
  const rng = new Rng(seedFrom(name));
  const feeds: Feeds = { [LOGITS]: { dims: logitsShape, data: draw(rng, size(logitsShape)).map((v) => 2 * v) }, [LABELS]: labelsFor(loss, logitsShape, rng, soft) };
  const { session, grad } = await run(model, feeds);
  try {
    const result = await finiteDifferenceCheck({ name, session, output: LOSS, feeds, analytic: new Map([[LOGITS, { dims: logitsShape, data: grad }]]) });
    expect(result.get(LOGITS)!.maxError).to.be.at.most(1e-5);
  } finally {
    await session.release();
  }
}

const close = (actual: ArrayLike<number>, expected: number[], tolerance = 1e-12) => {
  expect(Array.from(actual)).to.have.length(expected.length);
  Array.from(actual).forEach((v, i) => expect(v, `element ${i}`).to.be.closeTo(expected[i], tolerance));
};

describe('losses: closed-form gradient against finite differences (float64)', () => {
  const shapes: [string, number[]][] = [['single_logit', [4, 1]], ['several', [3, 5]], ['batch_of_one', [1, 3]]];
  for (const loss of Object.values(LOSSES)) {
    for (const [variant, shape] of shapes) {
      if (loss.name === 'ce' && shape[1] === 1) continue; // one class is not a classification
      it(`${loss.name}_${variant}`, () => checkLoss(`${loss.name}_${variant}`, loss, shape, lossModel(loss, shape)));
    }
  }
  it('bce_soft_labels', () => checkLoss('bce_soft_labels', LOSSES.bce, [4, 2], lossModel(LOSSES.bce, [4, 2]), true));

  // The project builds losses in float32; toFloat64 turns such a fragment (constants, Cast to) into float64.
  for (const loss of Object.values(LOSSES)) {
    it(`${loss.name}_float32_fragment_via_toFloat64`, () => checkLoss(`${loss.name}_via_toFloat64`, loss, [3, 4], toFloat64(lossModel(loss, [3, 4], { dtype: DataType.FLOAT }))));
  }
  // Imported models may be at opset 18 (ReduceMean's axes become an input) with a symbolic batch.
  for (const loss of Object.values(LOSSES)) {
    it(`${loss.name}_opset18_symbolic_batch`, () => checkLoss(`${loss.name}_opset18`, loss, [3, 4], lossModel(loss, [3, 4], { opset: 18, batch: 'batch' })));
  }
});

describe('losses: golden values', () => {
  const evaluate = async (loss: Loss, logitsShape: number[], logits: number[], labels: number[]) => {
    const labelFeed: Feed = loss.labelType === 'int64'
      ? { dims: [logitsShape[0]], data: BigInt64Array.from(labels, (v) => BigInt(v)) }
      : { dims: logitsShape, data: Float64Array.from(labels) };
    const { session, loss: value, grad } = await run(lossModel(loss, logitsShape), { [LOGITS]: { dims: logitsShape, data: Float64Array.from(logits) }, [LABELS]: labelFeed });
    await session.release();
    return { loss: value[0], grad };
  };

  it('bce_zero_logit', async () => {
    // z = 0, y = 1: l = max(0, 0) − 0·1 + ln(1 + e⁰) = ln 2; dl/dz = σ(0) − 1 = −1/2.
    const { loss, grad } = await evaluate(LOSSES.bce, [1, 1], [0], [1]);
    expect(loss).to.be.closeTo(Math.LN2, 1e-15);
    close(grad, [-0.5]);
  });

  it('bce_mean_over_elements', async () => {
    // z = [0, 0, 0, 0], y = [1, 0, 1, 0]: every term is ln 2, so the mean is ln 2;
    //   dl/dz = (σ(0) − y) / 4 = [−1/8, 1/8, −1/8, 1/8].
    const { loss, grad } = await evaluate(LOSSES.bce, [2, 2], [0, 0, 0, 0], [1, 0, 1, 0]);
    expect(loss).to.be.closeTo(Math.LN2, 1e-15);
    close(grad, [-0.125, 0.125, -0.125, 0.125]);
  });

  it('bce_large_logits_right', async () => {
    // z = [100, −100], y = [1, 0]: each term is ln(1 + e⁻¹⁰⁰) ≈ 3.7e−44, which rounds to 0 next to 1;
    //   dl/dz = (σ(z) − y) / 2 = [(1 − 1)/2, (e⁻¹⁰⁰ − 0)/2] ≈ [0, 1.9e−44]. The naive form would give ln 0 = −∞ here.
    const { loss, grad } = await evaluate(LOSSES.bce, [2, 1], [100, -100], [1, 0]);
    expect(Number.isFinite(loss)).to.equal(true);
    expect(loss).to.be.closeTo(0, 1e-40);
    close(grad, [0, 0], 1e-40);
  });

  it('bce_large_logits_wrong', async () => {
    // z = [100, −100], y = [0, 1]: the terms are 100 − 0 + ~0 and 0 + 100 + ~0, mean 100;
    //   dl/dz = (σ(z) − y) / 2 = [1/2, −1/2].
    const { loss, grad } = await evaluate(LOSSES.bce, [2, 1], [100, -100], [0, 1]);
    expect(loss).to.be.closeTo(100, 1e-12);
    close(grad, [0.5, -0.5]);
  });

  it('bce_large_logits_float32', async () => {
    // The same two cases in float32, the precision training runs at: still finite, [~0, 100].
    for (const [labels, expected] of [[[1, 0], 0], [[0, 1], 100]] as const) {
      const session = await createSession(lossModel(LOSSES.bce, [2, 1], { dtype: DataType.FLOAT }));
      const out = await session.run({
        [LOGITS]: new ort.Tensor('float32', Float32Array.from([100, -100]), [2, 1]),
        [LABELS]: new ort.Tensor('float32', Float32Array.from(labels), [2, 1]),
      });
      await session.release();
      const loss = (out[LOSS].data as Float32Array)[0];
      expect(Number.isFinite(loss), `loss for labels [${labels}]`).to.equal(true);
      expect(loss).to.be.closeTo(expected, 1e-5);
      (out[gradName(LOGITS)].data as Float32Array).forEach((g) => expect(Number.isFinite(g)).to.equal(true));
    }
  });

  it('ce_uniform', async () => {
    // Equal logits over C = 4 classes: softmax = 1/4 everywhere, so l = −ln(1/4) = ln 4 for each row;
    //   dl/dz = (1/C − onehot(y)) / N with N = 2, labels [1, 3].
    const { loss, grad } = await evaluate(LOSSES.ce, [2, 4], new Array(8).fill(0.7), [1, 3]);
    expect(loss).to.be.closeTo(Math.log(4), 1e-14);
    close(grad, [1 / 8, -3 / 8, 1 / 8, 1 / 8, 1 / 8, 1 / 8, 1 / 8, -3 / 8], 1e-15);
  });

  it('ce_confident', async () => {
    // z = [10, 0, 0], y = 0: l = ln(e¹⁰ + 2) − 10 = ln(1 + 2e⁻¹⁰);
    //   dl/dz = softmax − onehot = [1/(1 + 2e⁻¹⁰) − 1, e⁻¹⁰/(1 + 2e⁻¹⁰), e⁻¹⁰/(1 + 2e⁻¹⁰)].
    const { loss, grad } = await evaluate(LOSSES.ce, [1, 3], [10, 0, 0], [0]);
    const d = 1 + 2 * Math.exp(-10);
    expect(loss).to.be.closeTo(Math.log1p(2 * Math.exp(-10)), 1e-15);
    close(grad, [1 / d - 1, Math.exp(-10) / d, Math.exp(-10) / d], 1e-15);
  });

  it('ce_large_logits', async () => {
    // z = [1000, −1000], y = 1: l = 2000 exactly (log-softmax is stable), dl/dz = [1, −1].
    const { loss, grad } = await evaluate(LOSSES.ce, [1, 2], [1000, -1000], [1]);
    expect(loss).to.be.closeTo(2000, 1e-9);
    close(grad, [1, -1]);
  });

  it('mse_simple', async () => {
    // z = [[1, 2], [3, 4]], y = [[0, 2], [5, 4]]: z − y = [1, 0, −2, 0], l = (1 + 0 + 4 + 0) / 4 = 1.25;
    //   dl/dz = 2 (z − y) / 4 = [0.5, 0, −1, 0].
    const { loss, grad } = await evaluate(LOSSES.mse, [2, 2], [1, 2, 3, 4], [0, 2, 5, 4]);
    expect(loss).to.be.closeTo(1.25, 1e-15);
    close(grad, [0.5, 0, -1, 0]);
  });
});

describe('toFloat64', () => {
  function float32Model(): ModelProto {
    const w = { name: 'w', dataType: DataType.FLOAT, dims: [2], floatData: [0.5, -1.25] } as unknown as TensorProto; // typed field, not raw_data
    return makeModel(makeGraph([
      makeNode('Cast', ['x'], ['xf'], { to: DataType.FLOAT }, 'cast'),
      makeNode('Constant', [], ['c'], { value_float: 0.25 }, 'const'),
      makeNode('Mul', ['xf', 'w'], ['xw'], {}, 'mul'),
      makeNode('Add', ['xw', 'c'], ['y'], {}, 'add'),
    ], 'g', [makeValueInfo('x', DataType.INT64, [2])], [makeValueInfo('y', DataType.FLOAT, [2])], [w]));
  }

  it('makes initializers, outputs, Cast and Constant float64 and leaves the source alone', async () => {
    const source = float32Model();
    const model = toFloat64(source);
    const w = model.graph.initializer[0];
    expect(w.dataType).to.equal(DataType.DOUBLE);
    expect(Array.from(tensorValues(w) as Float64Array)).to.deep.equal([0.5, -1.25]);
    expect(w.rawData.length).to.equal(16);
    expect(model.graph.output[0].type!.tensorType!.elemType).to.equal(DataType.DOUBLE);
    expect(model.graph.input[0].type!.tensorType!.elemType).to.equal(DataType.INT64);
    expect(Number(model.graph.node[0].attribute[0].i)).to.equal(DataType.DOUBLE);
    expect(source.graph.initializer[0].dataType).to.equal(DataType.FLOAT);
    expect(Number(source.graph.node[0].attribute[0].i)).to.equal(DataType.FLOAT);

    const session = await createSession(model);
    const out = await session.run({ x: new ort.Tensor('int64', BigInt64Array.from([2n, 3n]), [2]) });
    await session.release();
    expect(out.y.type).to.equal('float64');
    expect(Array.from(out.y.data as Float64Array)).to.deep.equal([1.25, -3.5]);
  });
});

describe('whole model in float64 (torch-seed MLP, BCE)', () => {
  it('gradients of every parameter match finite differences of the loss', async () => {
    // The exported float32 MLP made float64, trainable parameters turned into inputs, the BCE loss on its
    // logits, the loss's closed-form gradient as the seed, and the backward pass to every parameter.
    const model = toFloat64(loadModel('test/fixtures/torch-seed/model.onnx'));
    const graph = model.graph;
    nameNodes(graph);
    const params = graph.initializer.filter((t) => t.dataType === DataType.DOUBLE);
    const rng = new Rng(seedFrom('whole_model'));
    const batch = 4;
    const feeds: Feeds = {
      x: { dims: [batch, 10], data: Float64Array.from({ length: batch * 10 }, () => rng.uniform(-2, 2)) },
      [LABELS]: { dims: [batch, 1], data: Float64Array.from([0, 1, 1, 0]) },
    };
    for (const p of params) feeds[p.name] = { dims: p.dims.map(Number), data: tensorValues(p) as Float64Array };

    const inits: TensorProto[] = [];
    const e = createEmitter('loss', DataType.DOUBLE, 17, inits);
    const io = { logits: 'logits', labels: LABELS, logitsShape: [batch, 1] as Dim[] };
    const forwardGraph = makeGraph([...graph.node], 'mlp', [
      makeValueInfo('x', DataType.DOUBLE, [batch, 10]), ...params.map((p) => makeValueInfo(p.name, DataType.DOUBLE, p.dims.map(Number))),
    ], graph.output, []);
    const index = indexGraph(forwardGraph);
    const infos = inferShapes(forwardGraph, index, 17);
    const backward = buildBackward({
      graph: forwardGraph, index, infos, opset: 17, seeds: new Map([['logits', gradName('logits')]]), wrt: params.map((p) => p.name),
    });
    const train = makeModel(makeGraph(
      [...graph.node, ...LOSSES.bce.forward(e, io, LOSS), ...LOSSES.bce.gradient(e, io, gradName('logits')), ...backward.nodes],
      'train',
      [...forwardGraph.input, makeValueInfo(LABELS, DataType.DOUBLE, [batch, 1])],
      [makeValueInfo(LOSS, DataType.DOUBLE, []), ...params.map((p) => makeValueInfo(backward.gradients.get(p.name)!, DataType.DOUBLE, null))],
      [...inits, ...backward.initializers]));

    const session = await createSession(train);
    try {
      const out = await session.run(toOrt(feeds));
      const analytic = new Map(params.map((p) => [p.name, { dims: p.dims.map(Number), data: out[backward.gradients.get(p.name)!].data as Float64Array }]));
      const result = await finiteDifferenceCheck({ name: 'whole_model', session, output: LOSS, feeds, analytic, maxElements: 40 });
      expect([...result.keys()]).to.deep.equal(params.map((p) => p.name));
    } finally {
      await session.release();
    }
  });
});

// Cross-entropy with PyTorch's label smoothing ε: target (1 − ε)·onehot(y) + ε/C.
describe('losses: cross-entropy with label smoothing', () => {
  const smoothed = crossEntropyLoss(0.2);
  it('ce_smoothed_several', () => checkLoss('ce_smoothed_several', smoothed, [3, 5], lossModel(smoothed, [3, 5])));
  it('ce_smoothed_opset18_symbolic_batch', () => checkLoss('ce_smoothed_opset18', smoothed, [3, 4], lossModel(smoothed, [3, 4], { opset: 18, batch: 'batch' })));
  it('ce_smoothed_float32_fragment_via_toFloat64', () => checkLoss('ce_smoothed_via_toFloat64', smoothed, [3, 4], toFloat64(lossModel(smoothed, [3, 4], { dtype: DataType.FLOAT }))));

  const evaluate = async (logits: number[], label: number) => {
    const { session, loss, grad } = await run(lossModel(smoothed, [1, 2]), { [LOGITS]: { dims: [1, 2], data: Float64Array.from(logits) }, [LABELS]: { dims: [1], data: BigInt64Array.from([BigInt(label)]) } });
    await session.release();
    return { loss: loss[0], grad };
  };

  it('ce_smoothed_even_logits', async () => {
    // z = [0, 0], y = 0, ε = 0.2: log p = [−ln 2, −ln 2], l = −(0.8·(−ln 2) + 0.2·(−ln 2)) = ln 2;
    //   target = [0.8 + 0.1, 0.1], dl/dz = p − target = [0.5 − 0.9, 0.5 − 0.1] = [−0.4, 0.4].
    const { loss, grad } = await evaluate([0, 0], 0);
    expect(loss).to.be.closeTo(Math.LN2, 1e-15);
    close(grad, [-0.4, 0.4]);
  });

  it('ce_smoothed_uneven_logits', async () => {
    // z = [ln 3, 0]: p = [0.75, 0.25]; y = 1: l = −(0.8·ln 0.25 + 0.2·(ln 0.75 + ln 0.25)/2) = −(0.9·ln 0.25 + 0.1·ln 0.75);
    //   target = [0.1, 0.9], dl/dz = [0.65, −0.65].
    const { loss, grad } = await evaluate([Math.log(3), 0], 1);
    expect(loss).to.be.closeTo(-(0.9 * Math.log(0.25) + 0.1 * Math.log(0.75)), 1e-15);
    close(grad, [0.65, -0.65]);
  });
});
