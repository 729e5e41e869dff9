// Golden values and refusals for the rules of real architectures (their finite-difference cases are in
// test/gradients-arch.ts, run with the others by test/gradients.test.ts): the kinks of HardSwish and HardSigmoid
// where finite differences cannot look, accumulation of repeated indices, float casts, and the forms refused.
import { expect } from 'chai';
import { DataType, makeNode, makeTensor } from '../src/onnx/builder.js';
import { UserError } from '../src/errors.js';
import { buildCase, runBackward, type GradCheckSpec } from './util/gradcheck.js';

const close = (actual: ArrayLike<number> | undefined, expected: number[]) => {
  expect(actual, 'gradient').to.not.equal(undefined);
  expect(Array.from(actual!)).to.have.length(expected.length);
  Array.from(actual!).forEach((v, i) => expect(v, `element ${i}`).to.be.closeTo(expected[i], 1e-12));
};

async function gradients(spec: GradCheckSpec) {
  const r = await runBackward(spec);
  return (name: string) => r.gradients.get(name)?.data as Float64Array | undefined;
}

function refusal(spec: GradCheckSpec, message: RegExp) {
  let error: unknown;
  try {
    buildCase(spec);
  } catch (e) {
    error = e;
  }
  expect(error).to.be.instanceOf(UserError);
  expect((error as Error).message).to.match(message);
}

describe('gradients of real architectures: golden values', () => {
  const SIXTH = Math.fround(1 / 6);

  it('HardSwish takes PyTorch\'s slopes at and around its kinks', async () => {
    // PyTorch's hardswish_backward: 0 below -3, x/3 + 1/2 on [-3, 3] (so -1/2 at -3 and 3/2 at 3), 1 above.
    const x = [-4, -3, -1.5, 0, 3, 4];
    const g = await gradients({
      name: 'hardswish_kinks', nodes: [makeNode('HardSwish', ['x'], ['y'])], inputs: [{ name: 'x', dims: [6], values: x }], output: 'y',
      upstream: [1, 1, 1, 1, 1, 1], reference: ({ x: v }) => v.map((t) => t * Math.max(0, Math.min(1, t / 6 + 0.5))), float32: 'forward',
    });
    close(g('x'), [0, -0.5, 0, 0.5, 1.5, 1]);
  });

  it('HardSigmoid passes nothing at its kinks, alpha between them', async () => {
    // alpha = 1/6 as float32, beta = 1/2: alpha·x + beta is exactly 0 at -3 and 1 at 3 in float64 too.
    const g = await gradients({
      name: 'hardsigmoid_kinks', nodes: [makeNode('HardSigmoid', ['x'], ['y'], { alpha: SIXTH, beta: 0.5 })],
      inputs: [{ name: 'x', dims: [5], values: [-3.5, -3, 0, 3, 3.5] }], output: 'y', upstream: [2, 2, 2, 2, 2],
      reference: ({ x: v }) => v.map((t) => Math.max(0, Math.min(1, SIXTH * t + 0.5))), float32: 'forward',
    });
    close(g('x'), [0, 0, 2 * SIXTH, 0, 0]);
  });

  it('Gather adds the gradients of repeated and negative indices', async () => {
    // W [3, 2], ids [0, 2, -1, 0]: row 0 is read twice, row 2 twice (2 and -1), row 1 never.
    // v = [[1, 2], [3, 4], [5, 6], [7, 8]]: dW = [[1 + 7, 2 + 8], [0, 0], [3 + 5, 4 + 6]].
    const g = await gradients({
      name: 'gather_golden', nodes: [makeNode('Gather', ['W', 'ids'], ['y'])], inputs: [{ name: 'W', dims: [3, 2] }],
      constants: [makeTensor('ids', DataType.INT64, [4], [0, 2, -1, 0])], output: 'y', upstream: [1, 2, 3, 4, 5, 6, 7, 8],
    });
    close(g('W'), [8, 10, 0, 0, 8, 10]);
  });

  it('GatherElements adds where indices repeat', async () => {
    // data [1, 3], indices [[2, 2, 0]] along axis 1, v = [1, 2, 4]: d data = [4, 0, 1 + 2].
    const g = await gradients({
      name: 'gatherelements_golden', nodes: [makeNode('GatherElements', ['d', 'i'], ['y'], { axis: 1 })], inputs: [{ name: 'd', dims: [1, 3] }],
      constants: [makeTensor('i', DataType.INT64, [1, 3], [2, 2, 0])], output: 'y', upstream: [1, 2, 4],
    });
    close(g('d'), [4, 0, 3]);
  });

  it('a float cast carries the gradient back in the input\'s type', async () => {
    // y = double(float(x)) · 3 on values exact in float32: dx = 3 v, in float64.
    const spec: GradCheckSpec = {
      name: 'cast_float_roundtrip',
      nodes: [makeNode('Cast', ['x'], ['f'], { to: DataType.FLOAT }), makeNode('Cast', ['f'], ['d'], { to: DataType.DOUBLE }), makeNode('Mul', ['d', 'three'], ['y'])],
      inputs: [{ name: 'x', dims: [2], values: [0.5, -1.25] }], constants: [makeTensor('three', DataType.DOUBLE, [], [3])], output: 'y', upstream: [1, -2],
    };
    close((await gradients(spec))('x'), [3, -6]);
  });

  it('Split gives zeros to the part no gradient reaches', async () => {
    const g = await gradients({
      name: 'split_golden', nodes: [makeNode('Split', ['x', 's'], ['a', 'b']), makeNode('Identity', ['b'], ['y'])], inputs: [{ name: 'x', dims: [4] }],
      constants: [makeTensor('s', DataType.INT64, [2], [1, 3])], output: 'y', upstream: [5, 6, 7],
    });
    close(g('x'), [0, 5, 6, 7]);
  });
});

describe('gradients of real architectures: refused forms', () => {
  const einsum = (equation: string, dims: number[][]): GradCheckSpec => ({
    name: `einsum_${equation}`, nodes: [makeNode('Einsum', dims.map((_, i) => `x${i}`), ['y'], { equation })],
    inputs: dims.map((d, i) => ({ name: `x${i}`, dims: d })), output: 'y',
  });

  it('Einsum with an ellipsis', () => refusal(einsum('...ij,jk->...ik', [[2, 2, 3], [3, 4]]), /Einsum node .*ellipsis/));
  it('Einsum taking a diagonal', () => refusal(einsum('ii->i', [[3, 3]]), /Einsum node .*'ii' repeats an index/));

  it('LayerNormalization whose Mean output is differentiated', () => refusal({
    name: 'layernorm_mean_output', nodes: [makeNode('LayerNormalization', ['x', 's'], ['n', 'mean']), makeNode('Add', ['n', 'mean'], ['y'])],
    inputs: [{ name: 'x', dims: [2, 3] }, { name: 's', dims: [3] }], output: 'y',
  }, /LayerNormalization node .*Mean or InvStdDev/));

  it('Gather below opset 16 (no ScatterND reduction)', () => refusal({
    name: 'gather_opset15', nodes: [makeNode('Gather', ['W', 'ids'], ['y'])], inputs: [{ name: 'W', dims: [3, 2] }],
    constants: [makeTensor('ids', DataType.INT64, [1], [0])], output: 'y', opset: 15,
  }, /opset 16 or later/));
});
