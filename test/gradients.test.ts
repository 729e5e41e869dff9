// Finite-difference checks for every registered gradient rule (test/util/gradcheck.ts explains the criterion),
// plus golden cases with values worked out by hand.
import { expect } from 'chai';
import { DataType, makeNode, makeTensor, type AttrValue } from '../src/onnx/builder.js';
import { RULES } from '../src/autodiff/rules/index.js';
import { createSession } from '../src/runtime/session.js';
import { finiteDifferenceCheck, gradCheck, runBackward, type GradCheckSpec, type InputSpec } from './util/gradcheck.js';
import { nnCases } from './gradients-nn.js';
import { archCases } from './gradients-arch.js';

const ints = (name: string, values: number[]) => makeTensor(name, DataType.INT64, [values.length], values);
const dimsName = (dims: number[]) => (dims.length === 0 ? 'scalar' : dims.join('x'));

function unary(name: string, op: string, dims: number[], attrs: Record<string, AttrValue> = {}, input: Partial<InputSpec> = {}): GradCheckSpec {
  return { name, nodes: [makeNode(op, ['x'], ['y'], attrs)], inputs: [{ name: 'x', dims, ...input }], output: 'y' };
}

function binary(op: string, a: number[], b: number[], wrt?: string[]): GradCheckSpec {
  const name = `${op.toLowerCase()}_${dimsName(a)}_${dimsName(b)}${wrt ? `_wrt_${wrt.join('')}` : ''}`;
  return { name, nodes: [makeNode(op, ['a', 'b'], ['y'])], inputs: [{ name: 'a', dims: a }, { name: 'b', dims: b }], output: 'y', wrt };
}

// Shape pairs covering broadcasting both ways: equal shapes, a missing leading axis, scalars, size-1 axes on
// either side, both sides broadcast at once, and inputs of different ranks that both need reducing.
const BROADCAST_PAIRS: [number[], number[]][] = [
  [[2, 3], [2, 3]],
  [[2, 3], [3]],
  [[3], [2, 3]],
  [[2, 3], []],
  [[], [2, 3]],
  [[2, 3], [1, 3]],
  [[2, 1], [2, 3]],
  [[2, 1], [1, 3]],
  [[2, 1, 3], [4, 1]],
  [[4, 1], [2, 1, 3]],
  [[2, 3, 4], [3, 1]],
  [[1, 1], [2, 3]],
];

function gemmCases(): GradCheckSpec[] {
  const [M, K, N] = [2, 3, 4];
  const cases: GradCheckSpec[] = [];
  const cShapes: (number[] | null)[] = [null, [M, N], [N], [1, N], [M, 1], [], [1], [1, 1]];
  for (const transA of [0, 1]) {
    for (const transB of [0, 1]) {
      cShapes.forEach((c, k) => {
        // Alternate beta = 1 (dC is dY itself) with beta != 1 (dC = beta * dY).
        const beta = k % 2 === 0 ? 1.3 : 1;
        const attrs = { alpha: 0.7, beta, transA, transB };
        cases.push({
          name: `gemm_tA${transA}_tB${transB}_${c ? `C_${dimsName(c)}` : 'noC'}_beta${beta}`,
          nodes: [makeNode('Gemm', c ? ['A', 'B', 'C'] : ['A', 'B'], ['y'], attrs)],
          inputs: [
            { name: 'A', dims: transA ? [K, M] : [M, K] },
            { name: 'B', dims: transB ? [N, K] : [K, N] },
            ...(c ? [{ name: 'C', dims: c }] : []),
          ],
          output: 'y',
        });
      });
    }
  }
  // Default attributes, and each input alone needing a gradient.
  const plain = (wrt: string[]): GradCheckSpec => ({
    name: `gemm_default_attrs_wrt_${wrt.join('')}`,
    nodes: [makeNode('Gemm', ['A', 'B', 'C'], ['y'])],
    inputs: [{ name: 'A', dims: [M, K] }, { name: 'B', dims: [K, N] }, { name: 'C', dims: [N] }],
    output: 'y',
    wrt,
  });
  cases.push(plain(['A']), plain(['B']), plain(['C']), plain(['A', 'B', 'C']));
  return cases;
}

function matmulCases(): GradCheckSpec[] {
  const pairs: [string, number[], number[]][] = [
    ['2d', [2, 3], [3, 4]],
    ['batched_3d', [2, 2, 3], [2, 3, 4]],
    ['3d_by_2d', [2, 2, 3], [3, 4]],
    ['2d_by_3d', [2, 3], [2, 3, 4]],
    ['4d_broadcast_batch', [2, 1, 2, 3], [1, 3, 3, 2]],
    ['4d_by_3d', [2, 3, 2, 3], [3, 3, 2]],
    ['inner_dim_1', [2, 1], [1, 3]],
  ];
  return [
    ...pairs.map(([variant, a, b]): GradCheckSpec => ({
      name: `matmul_${variant}`, nodes: [makeNode('MatMul', ['a', 'b'], ['y'])], inputs: [{ name: 'a', dims: a }, { name: 'b', dims: b }], output: 'y',
    })),
    { name: 'matmul_wrt_b_only', nodes: [makeNode('MatMul', ['a', 'b'], ['y'])], inputs: [{ name: 'a', dims: [2, 2, 3] }, { name: 'b', dims: [3, 4] }], output: 'y', wrt: ['b'] },
  ];
}

function reduceCases(): GradCheckSpec[] {
  const cases: GradCheckSpec[] = [];
  const axesList: (number[] | null)[] = [[1], [0, 2], [2, 0], [-1], [-3, -1], [-1, 0], [0, 1, 2], null];
  for (const keepdims of [0, 1]) {
    for (const axes of axesList) {
      const tag = `${axes ? `axes_${axes.join('_').replace(/-/g, 'm')}` : 'all'}_keepdims${keepdims}`;
      // Opset 17: ReduceSum takes axes as an input, ReduceMean as an attribute.
      cases.push({
        name: `reducesum_${tag}`,
        nodes: [makeNode('ReduceSum', axes ? ['x', 'axes'] : ['x'], ['y'], { keepdims })],
        inputs: [{ name: 'x', dims: [2, 3, 4] }],
        constants: axes ? [ints('axes', axes)] : [],
        output: 'y',
      });
      cases.push({
        name: `reducemean_${tag}`,
        nodes: [makeNode('ReduceMean', ['x'], ['y'], { keepdims, axes: axes ?? undefined })],
        inputs: [{ name: 'x', dims: [2, 3, 4] }],
        output: 'y',
      });
    }
  }
  cases.push(
    {
      name: 'reducesum_empty_axes_noop',
      nodes: [makeNode('ReduceSum', ['x', 'axes'], ['y'], { keepdims: 0, noop_with_empty_axes: 1 })],
      inputs: [{ name: 'x', dims: [2, 3] }],
      constants: [makeTensor('axes', DataType.INT64, [0], [])],
      output: 'y',
    },
    ...[0, 1].map((keepdims): GradCheckSpec => ({
      name: `reducesum_empty_axes_all_keepdims${keepdims}`,
      nodes: [makeNode('ReduceSum', ['x', 'axes'], ['y'], { keepdims })],
      inputs: [{ name: 'x', dims: [2, 3] }],
      constants: [makeTensor('axes', DataType.INT64, [0], [])],
      output: 'y',
    })),
    {
      // From opset 18 ReduceMean takes axes as an input too.
      name: 'reducemean_opset18_axes_input',
      nodes: [makeNode('ReduceMean', ['x', 'axes'], ['y'], { keepdims: 0 })],
      inputs: [{ name: 'x', dims: [2, 3, 4] }],
      constants: [ints('axes', [0, -1])],
      output: 'y',
      opset: 18,
    },
  );
  return cases;
}

function shapeCases(): GradCheckSpec[] {
  const x234: InputSpec[] = [{ name: 'x', dims: [2, 3, 4] }];
  const withShape = (name: string, op: string, dims: number[], axesOrShape: number[] | null, attrs: Record<string, AttrValue> = {}): GradCheckSpec => ({
    name,
    nodes: [makeNode(op, axesOrShape ? ['x', 's'] : ['x'], ['y'], attrs)],
    inputs: [{ name: 'x', dims }],
    constants: axesOrShape ? [ints('s', axesOrShape)] : [],
    output: 'y',
  });
  return [
    ...[0, 1, 2, 3, -1].map((axis) => ({ ...unary(`flatten_axis_${axis < 0 ? `m${-axis}` : axis}`, 'Flatten', [2, 3, 4], { axis }) })),
    unary('flatten_default', 'Flatten', [2, 3, 4]),
    withShape('reshape_minus_one', 'Reshape', [2, 3, 4], [4, -1]),
    withShape('reshape_zero_copies_dim', 'Reshape', [2, 3, 4], [0, -1]),
    withShape('reshape_zero_and_explicit', 'Reshape', [2, 3, 4], [0, 4, 3]),
    withShape('reshape_flat', 'Reshape', [2, 3, 4], [-1]),
    withShape('reshape_add_axes', 'Reshape', [2, 6], [2, 1, 3, 2]),
    { name: 'transpose_perm_120', nodes: [makeNode('Transpose', ['x'], ['y'], { perm: [1, 2, 0] })], inputs: x234, output: 'y' },
    { name: 'transpose_perm_201', nodes: [makeNode('Transpose', ['x'], ['y'], { perm: [2, 0, 1] })], inputs: x234, output: 'y' },
    { name: 'transpose_perm_021', nodes: [makeNode('Transpose', ['x'], ['y'], { perm: [0, 2, 1] })], inputs: x234, output: 'y' },
    unary('transpose_default', 'Transpose', [2, 3, 4]),
    unary('transpose_4d_perm_3102', 'Transpose', [2, 3, 1, 4], { perm: [3, 1, 0, 2] }),
    unary('transpose_4d_default', 'Transpose', [2, 3, 1, 4]),
    withShape('unsqueeze_axis_0', 'Unsqueeze', [2, 3], [0]),
    withShape('unsqueeze_axes_1_3', 'Unsqueeze', [2, 3], [1, 3]),
    withShape('unsqueeze_axis_m1', 'Unsqueeze', [2, 3], [-1]),
    withShape('unsqueeze_axes_unsorted_3_0', 'Unsqueeze', [2, 3], [3, 0]),
    withShape('squeeze_axis_1', 'Squeeze', [2, 1, 3, 1], [1]),
    withShape('squeeze_axes_1_3', 'Squeeze', [2, 1, 3, 1], [1, 3]),
    withShape('squeeze_axis_m1', 'Squeeze', [2, 1, 3, 1], [-1]),
    withShape('squeeze_all_ones', 'Squeeze', [2, 1, 3, 1], null),
    {
      // Exporters often write shapes and axes as Constant nodes rather than initializers.
      name: 'constant_node_axes_and_shape',
      nodes: [
        makeNode('Constant', [], ['shape'], { value: makeTensor('', DataType.INT64, [2], [3, -1]) }),
        makeNode('Constant', [], ['axes'], { value: makeTensor('', DataType.INT64, [1], [0]) }),
        makeNode('Reshape', ['x', 'shape'], ['r']),
        makeNode('Unsqueeze', ['r', 'axes'], ['u']),
        makeNode('ReduceSum', ['u', 'axes'], ['y'], { keepdims: 0 }),
      ],
      inputs: [{ name: 'x', dims: [2, 3, 2] }],
      output: 'y',
    },
  ];
}

function elementwiseCases(): GradCheckSpec[] {
  return [
    unary('neg_basic', 'Neg', [2, 3]),
    unary('relu_mixed_signs', 'Relu', [3, 4]),
    unary('leakyrelu_alpha_0.2', 'LeakyRelu', [3, 4], { alpha: 0.2 }),
    unary('leakyrelu_default_alpha', 'LeakyRelu', [3, 4]),
    unary('sigmoid_basic', 'Sigmoid', [2, 3]),
    unary('sigmoid_large_inputs', 'Sigmoid', [4], {}, { values: [-6, -3, 3, 6] }),
    unary('tanh_basic', 'Tanh', [2, 3]),
    unary('exp_basic', 'Exp', [2, 3]),
    unary('log_positive', 'Log', [2, 3], {}, { draw: 'positive' }),
    unary('identity_basic', 'Identity', [2, 3]),
    unary('identity_scalar', 'Identity', []),
    ...['Add', 'Sub', 'Mul', 'Div'].flatMap((op) => BROADCAST_PAIRS.map(([a, b]) => binary(op, a, b))),
    ...['Sub', 'Div'].flatMap((op) => [binary(op, [2, 3], [3], ['a']), binary(op, [2, 3], [3], ['b'])]),
  ];
}

function compositeCases(): GradCheckSpec[] {
  return [
    {
      // One tensor, two consumers: dx = dy * (e^x tanh x + e^x (1 - tanh² x)); the two paths must be summed.
      name: 'fanout_two_consumers',
      nodes: [makeNode('Exp', ['x'], ['a']), makeNode('Tanh', ['x'], ['b']), makeNode('Mul', ['a', 'b'], ['y'])],
      inputs: [{ name: 'x', dims: [2, 3] }],
      output: 'y',
    },
    { name: 'fanout_same_node_twice', nodes: [makeNode('Mul', ['x', 'x'], ['y'])], inputs: [{ name: 'x', dims: [2, 3] }], output: 'y' },
    {
      // w reaches y three times, twice through broadcasting.
      name: 'fanout_broadcast_parameter',
      nodes: [makeNode('Mul', ['x', 'w'], ['xw']), makeNode('Add', ['xw', 'w'], ['s']), makeNode('Div', ['s', 'w'], ['y'])],
      inputs: [{ name: 'x', dims: [2, 3] }, { name: 'w', dims: [3] }],
      output: 'y',
      wrt: ['w'],
    },
    {
      // A small MLP head with most of the rules in one chain: Gemm, Relu, Reshape, Transpose, MatMul, Add,
      // Sigmoid, Unsqueeze, Squeeze, LeakyRelu, Log, ReduceMean.
      name: 'chain_mlp',
      nodes: [
        makeNode('Gemm', ['x', 'W1', 'b1'], ['h1'], { transB: 1 }),
        makeNode('Relu', ['h1'], ['r1']),
        makeNode('Reshape', ['r1', 'shape'], ['r1_3d']),
        makeNode('Transpose', ['r1_3d'], ['t'], { perm: [0, 2, 1] }),
        makeNode('MatMul', ['t', 'W2'], ['h2']),
        makeNode('Add', ['h2', 'b2'], ['h2b']),
        makeNode('Sigmoid', ['h2b'], ['s']),
        makeNode('Unsqueeze', ['s', 'axis0'], ['s4']),
        makeNode('Squeeze', ['s4', 'axis0'], ['s3']),
        makeNode('LeakyRelu', ['s3'], ['l'], { alpha: 0.05 }),
        makeNode('Log', ['l'], ['ll']),
        makeNode('ReduceMean', ['ll'], ['y'], { axes: [1], keepdims: 0 }),
      ],
      inputs: [
        { name: 'x', dims: [3, 4] },
        { name: 'W1', dims: [6, 4] },
        { name: 'b1', dims: [6] },
        { name: 'W2', dims: [2, 4] },
        { name: 'b2', dims: [4] },
      ],
      constants: [ints('shape', [3, 2, 3]), ints('axis0', [0])],
      output: 'y',
      wrt: ['W1', 'b1', 'W2', 'b2', 'x'],
    },
    {
      // Only the parameters need gradients; the data path through Exp and Neg gets none.
      name: 'chain_params_only',
      nodes: [
        makeNode('Neg', ['x'], ['nx']),
        makeNode('Exp', ['nx'], ['ex']),
        makeNode('MatMul', ['ex', 'W'], ['h']),
        makeNode('Tanh', ['h'], ['th']),
        makeNode('Flatten', ['th'], ['f'], { axis: 0 }),
        makeNode('Identity', ['f'], ['id']),
        makeNode('Sub', ['id', 'c'], ['d']),
        makeNode('ReduceSum', ['d', 'axes'], ['y'], { keepdims: 1 }),
      ],
      inputs: [{ name: 'x', dims: [2, 3] }, { name: 'W', dims: [3, 2] }, { name: 'c', dims: [1] }],
      constants: [ints('axes', [1])],
      output: 'y',
      wrt: ['W', 'c'],
    },
  ];
}

// Exported models have a symbolic batch dimension: the rules and the un-broadcasting must not need its size.
function dynamicBatchCases(): GradCheckSpec[] {
  const x = (dims: number[], shape: (number | string)[]): InputSpec => ({ name: 'x', dims, shape });
  const one = (name: string, op: string, input: InputSpec, attrs: Record<string, AttrValue> = {}, constant?: number[]): GradCheckSpec => ({
    name, nodes: [makeNode(op, constant ? ['x', 'k'] : ['x'], ['y'], attrs)], inputs: [input], constants: constant ? [ints('k', constant)] : [], output: 'y',
  });
  return [
    {
      name: 'dynamic_gemm_bias',
      nodes: [makeNode('Gemm', ['x', 'W', 'b'], ['y'], { transB: 1 })],
      inputs: [x([3, 4], ['batch', 4]), { name: 'W', dims: [2, 4] }, { name: 'b', dims: [2] }],
      output: 'y',
    },
    {
      name: 'dynamic_matmul_3d_by_2d',
      nodes: [makeNode('MatMul', ['x', 'W'], ['h']), makeNode('Add', ['h', 'b'], ['y'])],
      inputs: [x([2, 3, 4], ['batch', 3, 4]), { name: 'W', dims: [4, 2] }, { name: 'b', dims: [1, 2] }],
      output: 'y',
    },
    {
      name: 'dynamic_mul_column',
      nodes: [makeNode('Mul', ['x', 'c'], ['y'])],
      inputs: [x([3, 4], ['batch', 4]), { name: 'c', dims: [3, 1], shape: ['batch', 1] }],
      output: 'y',
    },
    {
      name: 'dynamic_add_shared_row',
      nodes: [makeNode('Add', ['x', 'r'], ['y'])],
      inputs: [x([3, 4], ['batch', 4]), { name: 'r', dims: [1, 4] }],
      output: 'y',
    },
    one('dynamic_flatten', 'Flatten', x([2, 3, 2], ['batch', 3, 2])),
    one('dynamic_reshape_minus_one', 'Reshape', x([2, 3, 2], ['batch', 3, 2]), {}, [-1, 6]),
    one('dynamic_transpose', 'Transpose', x([2, 3], ['batch', 3]), { perm: [1, 0] }),
    one('dynamic_unsqueeze', 'Unsqueeze', x([2, 3], ['batch', 3]), {}, [1]),
    one('dynamic_squeeze', 'Squeeze', x([2, 1, 3], ['batch', 1, 3]), {}, [1]),
    one('dynamic_reducesum_batch', 'ReduceSum', x([3, 2], ['batch', 2]), { keepdims: 0 }, [0]),
    one('dynamic_reducemean_features', 'ReduceMean', x([3, 2], ['batch', 2]), { axes: [1], keepdims: 0 }),
    one('dynamic_reducemean_all', 'ReduceMean', x([3, 2], ['batch', 2]), { keepdims: 0 }),
  ];
}

const CASES: GradCheckSpec[] = [
  ...gemmCases(), ...matmulCases(), ...elementwiseCases(), ...shapeCases(), ...reduceCases(), ...compositeCases(), ...dynamicBatchCases(),
  ...nnCases(), ...archCases(),
];

describe('gradient rules against finite differences (float64)', () => {
  // Op types whose rule emitted nodes in some case (filled as the cases run).
  const exercised = new Set<string>();

  it('has a case for every registered rule', () => {
    const covered = new Set(CASES.flatMap((c) => c.nodes.map((n) => n.opType)));
    const missing = [...RULES.keys()].filter((op) => !covered.has(op));
    expect(missing, 'rules without a gradient-check case').to.deep.equal([]);
  });

  it('names each case uniquely', () => {
    const names = CASES.map((c) => c.name);
    expect(names.filter((n, i) => names.indexOf(n) !== i)).to.deep.equal([]);
  });

  for (const spec of CASES) {
    it(spec.name, async () => {
      const report = await gradCheck(spec);
      for (const node of report.built.forward.graph.node) {
        if (report.built.result.nodes.some((n) => n.name.startsWith(`${node.name}_Grad/`))) exercised.add(node.opType);
      }
    });
  }

  it('ran the backward of every registered rule', () => {
    expect([...RULES.keys()].filter((op) => !exercised.has(op)), 'rules never exercised').to.deep.equal([]);
  });
});

describe('golden gradients', () => {
  const close = (actual: Float64Array | undefined, expected: number[]) => {
    expect(actual, 'gradient').to.not.equal(undefined);
    expect(Array.from(actual!)).to.have.length(expected.length);
    Array.from(actual!).forEach((v, i) => expect(v, `element ${i}`).to.be.closeTo(expected[i], 1e-12));
  };
  const grads = async (spec: GradCheckSpec) => {
    const r = await runBackward(spec);
    return { y: r.y, g: (name: string) => r.gradients.get(name)?.data as Float64Array | undefined };
  };

  it('sigmoid_at_zero', async () => {
    // y = σ(0) = 1/2; dy/dx = σ(0)(1 − σ(0)) = 1/4.
    const { y, g } = await grads({ ...unary('sigmoid_at_zero', 'Sigmoid', [1], {}, { values: [0] }), upstream: [1] });
    close(y, [0.5]);
    close(g('x'), [0.25]);
  });

  it('tanh_at_zero', async () => {
    // dy/dx = 1 − tanh²(0) = 1; with v = 3, dx = 3.
    const { g } = await grads({ ...unary('tanh_at_zero', 'Tanh', [1], {}, { values: [0] }), upstream: [3] });
    close(g('x'), [3]);
  });

  it('relu_negative_zeroed', async () => {
    // x = [−2, 3], v = [5, 7]: the negative input passes nothing back, the positive one passes v: dx = [0, 7].
    const { y, g } = await grads({ ...unary('relu_negative_zeroed', 'Relu', [2], {}, { values: [-2, 3] }), upstream: [5, 7] });
    close(y, [0, 3]);
    close(g('x'), [0, 7]);
  });

  it('leakyrelu_negative_scaled', async () => {
    // alpha = 0.25 (exact in float32, as attributes are stored), x = [−2, 3], v = [5, 7]:
    //   y = [−0.5, 3], dx = [0.25 · 5, 7] = [1.25, 7].
    const { y, g } = await grads({ ...unary('leakyrelu_negative_scaled', 'LeakyRelu', [2], { alpha: 0.25 }, { values: [-2, 3] }), upstream: [5, 7] });
    close(y, [-0.5, 3]);
    close(g('x'), [1.25, 7]);
  });

  it('log_at_two', async () => {
    // d ln x / dx = 1/x = 0.5 at x = 2.
    const { g } = await grads({ ...unary('log_at_two', 'Log', [1], {}, { values: [2] }), upstream: [1] });
    close(g('x'), [0.5]);
  });

  it('exp_at_zero', async () => {
    // d eˣ/dx = eˣ = 1 at 0; with v = 2, dx = 2.
    const { g } = await grads({ ...unary('exp_at_zero', 'Exp', [1], {}, { values: [0] }), upstream: [2] });
    close(g('x'), [2]);
  });

  it('div_scalars', async () => {
    // y = a/b = 6/3 = 2; dy/da = 1/b = 1/3; dy/db = −a/b² = −6/9 = −2/3.
    const spec = binary('Div', [1], [1]);
    spec.inputs = [{ name: 'a', dims: [1], values: [6] }, { name: 'b', dims: [1], values: [3] }];
    const { y, g } = await grads({ ...spec, name: 'div_scalars', upstream: [1] });
    close(y, [2]);
    close(g('a'), [1 / 3]);
    close(g('b'), [-2 / 3]);
  });

  it('gemm_transB', async () => {
    // A = [[1, 2]] (1×2), B = [[3, 4], [5, 6]] (N×K, transB), alpha = 2:
    //   Y = 2 · A·Bᵀ = 2 · [[1·3 + 2·4, 1·5 + 2·6]] = [[22, 34]].
    // With v = [[1, 1]]: dA = alpha · v·B = 2 · [[3 + 5, 4 + 6]] = [[16, 20]];
    //   dB = alpha · vᵀ·A = 2 · [[1, 2], [1, 2]] = [[2, 4], [2, 4]].
    const { y, g } = await grads({
      name: 'gemm_transB',
      nodes: [makeNode('Gemm', ['A', 'B'], ['y'], { alpha: 2, transB: 1 })],
      inputs: [{ name: 'A', dims: [1, 2], values: [1, 2] }, { name: 'B', dims: [2, 2], values: [3, 4, 5, 6] }],
      output: 'y',
      upstream: [1, 1],
    });
    close(y, [22, 34]);
    close(g('A'), [16, 20]);
    close(g('B'), [2, 4, 2, 4]);
  });

  it('gemm_bias_row_summed', async () => {
    // Y = A·B + C with C of shape [N] broadcast over M = 3 rows; v = ones: dC = [3, 3] (one per row), beta = 0.5 → [1.5, 1.5].
    const { g } = await grads({
      name: 'gemm_bias_row_summed',
      nodes: [makeNode('Gemm', ['A', 'B', 'C'], ['y'], { beta: 0.5 })],
      inputs: [{ name: 'A', dims: [3, 2] }, { name: 'B', dims: [2, 2] }, { name: 'C', dims: [2] }],
      output: 'y',
      upstream: [1, 1, 1, 1, 1, 1],
    });
    close(g('C'), [1.5, 1.5]);
  });

  it('add_broadcast_bias', async () => {
    // y = x + b, x [2, 3], b [3]; v = [[1, 2, 3], [4, 5, 6]]: db = column sums = [5, 7, 9], dx = v.
    const { g } = await grads({ ...binary('Add', [2, 3], [3]), name: 'add_broadcast_bias', upstream: [1, 2, 3, 4, 5, 6] });
    close(g('b'), [5, 7, 9]);
    close(g('a'), [1, 2, 3, 4, 5, 6]);
  });

  it('reducemean_rows', async () => {
    // y = mean over axis 1 of x [2, 3]; v = [3, 6]: every element of row i gets v_i / 3 → [1, 1, 1, 2, 2, 2].
    const { g } = await grads({
      name: 'reducemean_rows',
      nodes: [makeNode('ReduceMean', ['x'], ['y'], { axes: [1], keepdims: 0 })],
      inputs: [{ name: 'x', dims: [2, 3] }],
      output: 'y',
      upstream: [3, 6],
    });
    close(g('x'), [1, 1, 1, 2, 2, 2]);
  });

  it('matmul_batch_broadcast_summed', async () => {
    // A [2, 1, 2] (two batches), B [2, 1] shared: dB = Σ_batches Aᵀ·v. With A = [[1, 2]], [[3, 4]] and v = ones:
    //   dB = [1 + 3, 2 + 4] = [[4], [6]].
    const { g } = await grads({
      name: 'matmul_batch_broadcast_summed',
      nodes: [makeNode('MatMul', ['A', 'B'], ['y'])],
      inputs: [{ name: 'A', dims: [2, 1, 2], values: [1, 2, 3, 4] }, { name: 'B', dims: [2, 1], values: [5, 6] }],
      output: 'y',
      upstream: [1, 1],
    });
    close(g('B'), [4, 6]);
    close(g('A'), [5, 6, 5, 6]);
  });
});

describe('the gradient checker itself', () => {
  // y = x · x with v drawn at random: the true gradient is 2 x v. The checker must pass it and fail small errors.
  const spec: GradCheckSpec = { name: 'checker_self_test', nodes: [makeNode('Mul', ['x', 'x'], ['y'])], inputs: [{ name: 'x', dims: [2, 3] }], output: 'y' };

  async function check(perturb: (g: Float64Array, x: Float64Array) => void) {
    const { built, upstream, gradients } = await runBackward(spec);
    const x = built.feeds.x.data as Float64Array;
    const g = gradients.get('x')!.data as Float64Array;
    Array.from(g).forEach((v, i) => expect(v).to.be.closeTo(2 * x[i] * upstream[i], 1e-12));
    perturb(g, x);
    const session = await createSession(built.forward);
    try {
      return await finiteDifferenceCheck({ name: spec.name, session, output: 'y', feeds: built.feeds, upstream, analytic: gradients });
    } finally {
      await session.release();
    }
  }

  it('accepts the exact gradient with a relative error far below the tolerance', async () => {
    const result = await check(() => {});
    expect(result.get('x')!.maxError).to.be.below(1e-7);
  });

  it('rejects one element off by 1e-4 relative', async () => {
    let error: Error | undefined;
    await check((g) => { g[4] *= 1 + 1e-4; }).catch((e: Error) => { error = e; });
    expect(error?.message).to.match(/d\/dx\[4\]/);
  });

  it('rejects a gradient missing a factor of 2', async () => {
    let error: Error | undefined;
    await check((g) => g.forEach((v, i) => { g[i] = v / 2; })).catch((e: Error) => { error = e; });
    expect(error).to.be.instanceOf(Error);
  });
});
