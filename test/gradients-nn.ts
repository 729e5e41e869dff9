// Finite-difference cases for the CNN-side rules (issue 4): Conv, the pools, BatchNormalization, Softmax,
// LogSoftmax, Dropout, Concat, Slice, Pad, Clip, Gelu, Erf, Sqrt, Pow, Reshape with allowzero, Flatten.
// Ops onnxruntime has no double kernel for bring a float64 JavaScript reference (test/gradients-reference.ts);
// test/util/gradcheck.ts explains how those cases are checked and why the criterion stays the same.
import { DataType, makeNode, makeTensor, type AttrValue } from '../src/onnx/builder.js';
import type { GradCheckSpec, InputSpec, Reference } from './util/gradcheck.js';
import { averagePoolReference, convReference, erf, gelu, globalPoolReference, type WindowSpec } from './gradients-reference.js';

const ints = (name: string, values: (number | bigint)[]) => makeTensor(name, DataType.INT64, [values.length], BigInt64Array.from(values, (v) => BigInt(v)));
const doubles = (name: string, values: number[], dims: number[] = [values.length]) => makeTensor(name, DataType.DOUBLE, dims, values);
const tag = (v: number[]) => v.join('').replace(/-/g, 'm');
// PyTorch's exporters write open slice ends as the int64 extremes.
const INT64_MAX = 2n ** 63n - 1n, INT64_MIN = -(2n ** 63n);

/** n distinct values on the 1/64 grid, shuffled by a seed: max-type ops need inputs without ties. */
function distinctOnGrid(n: number, seed: number): number[] {
  const all = Array.from({ length: 65 }, (_, i) => (13 + i) / 64).flatMap((v) => [v, -v]);
  if (n > all.length) throw new Error('distinctOnGrid: too many values');
  let state = seed;
  for (let i = all.length - 1; i > 0; i--) {
    state = (state * 1103515245 + 12345) % 2147483648;
    const j = state % (i + 1);
    [all[i], all[j]] = [all[j], all[i]];
  }
  return all.slice(0, n);
}

// ---------------------------------------------------------------- Conv

interface ConvCase {
  name: string;
  x: number[];
  w: number[];
  bias?: boolean;
  attrs?: { strides?: number[]; dilations?: number[]; pads?: number[]; auto_pad?: WindowSpec['autoPad']; group?: number; kernel_shape?: number[] };
  wrt?: string[];
  /** Declared shape of x (a symbolic batch). */
  xShape?: (number | string)[];
}

function convCase(c: ConvCase): GradCheckSpec {
  const { strides, dilations, pads, auto_pad: autoPad, group } = c.attrs ?? {};
  const attrs: Record<string, AttrValue> = Object.fromEntries(Object.entries(c.attrs ?? {}).filter(([, v]) => v !== undefined)) as Record<string, AttrValue>;
  return {
    name: `conv_${c.name}`,
    nodes: [makeNode('Conv', c.bias ? ['x', 'w', 'b'] : ['x', 'w'], ['y'], attrs)],
    inputs: [
      { name: 'x', dims: c.x, shape: c.xShape },
      { name: 'w', dims: c.w },
      ...(c.bias ? [{ name: 'b', dims: [c.w[0]] }] : []),
    ],
    output: 'y',
    wrt: c.wrt,
    reference: convReference(c.x, c.w, { kernel: c.w.slice(2), strides, dilations, pads, autoPad, group }),
    float32: 'both',
  };
}

export function convCases(): GradCheckSpec[] {
  const cases: ConvCase[] = [
    { name: '2d_plain', x: [2, 2, 5, 5], w: [3, 2, 3, 3] },
    // The digits CNN's layers: 3x3, pads 1, bias.
    { name: '2d_pads1_bias', x: [2, 2, 6, 6], w: [4, 2, 3, 3], bias: true, attrs: { pads: [1, 1, 1, 1] } },
    // (6 - 3) / 2 leaves a remainder: the last input row and column reach no window (output_padding 1).
    { name: '2d_stride2_remainder', x: [2, 2, 6, 6], w: [3, 2, 3, 3], bias: true, attrs: { strides: [2, 2] } },
    { name: '2d_stride2_asymmetric_pads', x: [2, 2, 6, 5], w: [2, 2, 3, 2], attrs: { strides: [2, 2], pads: [1, 0, 2, 1] } },
    { name: '2d_strides_2_3', x: [1, 2, 7, 8], w: [2, 2, 3, 3], bias: true, attrs: { strides: [2, 3], pads: [0, 1, 0, 1] } },
    { name: '2d_dilation2', x: [2, 2, 7, 7], w: [3, 2, 3, 3], attrs: { dilations: [2, 2] } },
    { name: '2d_dilation_2_1_stride2_pads', x: [1, 2, 8, 7], w: [2, 2, 3, 2], bias: true, attrs: { dilations: [2, 1], strides: [2, 2], pads: [2, 1, 1, 0] } },
    { name: '2d_group2', x: [2, 4, 5, 5], w: [6, 2, 3, 3], bias: true, attrs: { group: 2, pads: [1, 1, 1, 1] } },
    { name: '2d_depthwise', x: [2, 3, 5, 5], w: [3, 1, 3, 3], bias: true, attrs: { group: 3, pads: [1, 1, 1, 1] } },
    { name: '2d_depthwise_multiplier2_stride2', x: [2, 3, 6, 6], w: [6, 1, 3, 3], attrs: { group: 3, strides: [2, 2], pads: [1, 1, 0, 0] } },
    { name: '2d_pointwise_stride2', x: [2, 3, 5, 5], w: [4, 3, 1, 1], bias: true, attrs: { strides: [2, 2] } },
    { name: '2d_same_upper_stride2', x: [1, 2, 5, 5], w: [2, 2, 3, 3], bias: true, attrs: { auto_pad: 'SAME_UPPER', strides: [2, 2] } },
    { name: '2d_same_upper_even_kernel', x: [1, 2, 5, 4], w: [2, 2, 2, 2], attrs: { auto_pad: 'SAME_UPPER' } },
    { name: '2d_same_lower_even_kernel', x: [1, 2, 5, 4], w: [2, 2, 2, 2], attrs: { auto_pad: 'SAME_LOWER' } },
    { name: '2d_same_lower_stride2', x: [2, 2, 6, 5], w: [3, 2, 3, 3], attrs: { auto_pad: 'SAME_LOWER', strides: [2, 2] } },
    { name: '2d_valid_stride2', x: [2, 2, 7, 6], w: [2, 2, 3, 3], bias: true, attrs: { auto_pad: 'VALID', strides: [2, 2] } },
    { name: '2d_kernel_shape_attribute', x: [1, 2, 5, 5], w: [2, 2, 3, 2], attrs: { kernel_shape: [3, 2], pads: [1, 0, 1, 0] } },
    { name: '1d_plain_bias', x: [2, 3, 9], w: [4, 3, 3], bias: true },
    { name: '1d_stride2_pads', x: [2, 3, 9], w: [4, 3, 3], bias: true, attrs: { strides: [2], pads: [2, 1] } },
    // Positions past the last window: the dW correlation comes out longer than the kernel and is cut.
    { name: '1d_stride3_dilation2_cut', x: [2, 2, 11], w: [2, 2, 2], attrs: { strides: [3], dilations: [2] } },
    { name: '1d_group2_same_lower', x: [2, 4, 7], w: [4, 2, 4], bias: true, attrs: { group: 2, auto_pad: 'SAME_LOWER' } },
    // SAME with a kernel smaller than the stride: onnxruntime's padding comes out negative at the end.
    { name: '1d_same_upper_kernel_below_stride', x: [1, 2, 5], w: [2, 2, 1], attrs: { auto_pad: 'SAME_UPPER', strides: [3] } },
    { name: '1d_depthwise_dilation3', x: [2, 2, 10], w: [2, 1, 3], attrs: { group: 2, dilations: [3], pads: [1, 2] } },
    { name: '3d_pads', x: [1, 2, 3, 4, 4], w: [2, 2, 2, 2, 2], bias: true, attrs: { pads: [1, 0, 1, 0, 1, 1] } },
    { name: 'dynamic_batch', x: [3, 2, 5, 5], w: [2, 2, 3, 3], bias: true, attrs: { pads: [1, 1, 1, 1], strides: [2, 2] }, xShape: ['batch', 2, 5, 5] },
    { name: 'wrt_w_only_group2', x: [2, 4, 5, 5], w: [4, 2, 3, 3], attrs: { group: 2, strides: [2, 2] }, wrt: ['w'] },
    { name: 'wrt_x_only', x: [2, 2, 6, 6], w: [3, 2, 3, 3], bias: true, attrs: { strides: [2, 2], pads: [1, 1, 1, 1] }, wrt: ['x'] },
    { name: 'wrt_b_only', x: [2, 2, 5, 5], w: [3, 2, 3, 3], bias: true, wrt: ['b'] },
  ];
  return cases.map(convCase);
}

// ---------------------------------------------------------------- pools

interface PoolCase {
  name: string;
  x: number[];
  attrs: { kernel_shape: number[]; strides?: number[]; dilations?: number[]; pads?: number[]; auto_pad?: WindowSpec['autoPad']; ceil_mode?: number };
  opset?: number;
  xShape?: (number | string)[];
}

const attrsOf = (a: object) => Object.fromEntries(Object.entries(a).filter(([, v]) => v !== undefined)) as Record<string, AttrValue>;

function maxPoolCase(c: PoolCase & { outputs?: number; storageOrder?: number }): GradCheckSpec {
  return {
    name: `maxpool_${c.name}`,
    nodes: [makeNode('MaxPool', ['x'], c.outputs === 2 ? ['y', 'indices'] : ['y'], attrsOf({ ...c.attrs, storage_order: c.storageOrder }))],
    inputs: [{ name: 'x', dims: c.x, shape: c.xShape }],
    output: 'y',
    opset: c.opset,
  };
}

export function maxPoolCases(): GradCheckSpec[] {
  return [
    // The digits CNN's pool.
    maxPoolCase({ name: '2d_k2_s2', x: [2, 3, 6, 6], attrs: { kernel_shape: [2, 2], strides: [2, 2] } }),
    maxPoolCase({ name: '2d_k3_s1_pads1_overlapping', x: [2, 2, 5, 5], attrs: { kernel_shape: [3, 3], pads: [1, 1, 1, 1] } }),
    maxPoolCase({ name: '2d_k3_s2_asymmetric_pads', x: [2, 2, 6, 7], attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 0, 2, 1] } }),
    maxPoolCase({ name: '2d_ceil_mode', x: [1, 2, 7, 6], attrs: { kernel_shape: [2, 3], strides: [2, 2], ceil_mode: 1 } }),
    maxPoolCase({ name: '2d_ceil_mode_pads', x: [1, 2, 6, 6], attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], ceil_mode: 1 } }),
    maxPoolCase({ name: '2d_dilation2', x: [2, 2, 7, 7], attrs: { kernel_shape: [2, 2], dilations: [2, 2] } }),
    maxPoolCase({ name: '2d_same_upper', x: [1, 2, 5, 5], attrs: { kernel_shape: [3, 3], strides: [2, 2], auto_pad: 'SAME_UPPER' } }),
    maxPoolCase({ name: '2d_same_lower', x: [1, 2, 5, 6], attrs: { kernel_shape: [2, 2], auto_pad: 'SAME_LOWER' } }),
    maxPoolCase({ name: '2d_valid', x: [1, 2, 7, 6], attrs: { kernel_shape: [3, 2], strides: [2, 2], auto_pad: 'VALID' } }),
    maxPoolCase({ name: '1d_k3_s2_pads', x: [2, 3, 9], attrs: { kernel_shape: [3], strides: [2], pads: [1, 1] } }),
    maxPoolCase({ name: '3d_k2', x: [1, 2, 4, 4, 4], attrs: { kernel_shape: [2, 2, 2], strides: [2, 1, 2] } }),
    // The forward node's own Indices are used when it has them; column-major ones are recomputed row-major.
    maxPoolCase({ name: 'own_indices_output', x: [2, 2, 5, 5], attrs: { kernel_shape: [3, 3], strides: [1, 2] }, outputs: 2 }),
    maxPoolCase({ name: 'storage_order_1', x: [2, 2, 5, 4], attrs: { kernel_shape: [2, 2], strides: [1, 1] }, outputs: 2, storageOrder: 1 }),
    // Before opset 16 ScatterElements cannot add: windows that cannot overlap need no adding.
    maxPoolCase({ name: 'opset13_non_overlapping', x: [2, 2, 6, 6], attrs: { kernel_shape: [2, 2], strides: [2, 3] }, opset: 13 }),
    maxPoolCase({ name: 'opset18_dynamic_batch', x: [3, 2, 6, 6], attrs: { kernel_shape: [2, 2], strides: [2, 2] }, opset: 18, xShape: ['batch', 2, 6, 6] }),
  ];
}

function averagePoolCase(c: PoolCase & { includePad: 0 | 1 }): GradCheckSpec {
  const spec = { kernel: c.attrs.kernel_shape, strides: c.attrs.strides, dilations: c.attrs.dilations, pads: c.attrs.pads, autoPad: c.attrs.auto_pad, ceilMode: c.attrs.ceil_mode === 1 };
  return {
    name: `averagepool_${c.name}_include_pad${c.includePad}`,
    nodes: [makeNode('AveragePool', ['x'], ['y'], attrsOf({ ...c.attrs, count_include_pad: c.includePad }))],
    inputs: [{ name: 'x', dims: c.x, shape: c.xShape }],
    output: 'y',
    opset: c.opset,
    reference: averagePoolReference(c.x, { ...spec, countIncludePad: c.includePad === 1 }),
    float32: 'both',
    // Positive v: a gradient element is a sum of same-signed dY / count terms, so float32 keeps it to ~10 u.
    upstreamDraw: 'positive',
  };
}

export function averagePoolCases(): GradCheckSpec[] {
  const shapes: PoolCase[] = [
    { name: '2d_k2_s2', x: [2, 3, 6, 6], attrs: { kernel_shape: [2, 2], strides: [2, 2] } },
    { name: '2d_k3_s1_pads1', x: [2, 2, 5, 5], attrs: { kernel_shape: [3, 3], pads: [1, 1, 1, 1] } },
    { name: '2d_k3_s2_asymmetric_pads', x: [1, 2, 7, 6], attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [2, 0, 1, 1] } },
    { name: '2d_stride2_remainder', x: [2, 2, 7, 7], attrs: { kernel_shape: [2, 3], strides: [2, 2] } },
    { name: '2d_ceil_mode', x: [1, 2, 7, 6], attrs: { kernel_shape: [2, 3], strides: [2, 2], ceil_mode: 1 } },
    { name: '2d_ceil_mode_pads', x: [1, 2, 6, 6], attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], ceil_mode: 1 } },
    { name: '2d_same_upper', x: [1, 2, 6, 5], attrs: { kernel_shape: [3, 3], strides: [2, 2], auto_pad: 'SAME_UPPER' } },
    { name: '2d_same_lower', x: [1, 2, 5, 6], attrs: { kernel_shape: [2, 3], auto_pad: 'SAME_LOWER' } },
    { name: '2d_valid', x: [1, 2, 7, 6], attrs: { kernel_shape: [3, 2], strides: [2, 2], auto_pad: 'VALID' } },
    // Dilations arrived in AveragePool-19.
    { name: '2d_dilation2_pads_opset19', x: [1, 2, 7, 7], attrs: { kernel_shape: [2, 2], dilations: [2, 2], pads: [1, 1, 1, 0] }, opset: 19 },
    { name: '1d_k3_s2_pads', x: [2, 3, 9], attrs: { kernel_shape: [3], strides: [2], pads: [1, 2] } },
    { name: 'dynamic_batch', x: [3, 2, 6, 6], attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }, xShape: ['batch', 2, 6, 6] },
  ];
  return shapes.flatMap((c) => [averagePoolCase({ ...c, includePad: 0 }), averagePoolCase({ ...c, includePad: 1 })]);
}

export function globalPoolCases(): GradCheckSpec[] {
  const one = (op: 'GlobalAveragePool' | 'GlobalMaxPool', dims: number[], shape?: (number | string)[]): GradCheckSpec => ({
    name: `${op.toLowerCase()}_${dims.join('x')}${shape ? '_dynamic' : ''}`,
    nodes: [makeNode(op, ['x'], ['y'])],
    inputs: [{ name: 'x', dims, shape, values: op === 'GlobalMaxPool' ? distinctOnGrid(dims.reduce((a, b) => a * b, 1), dims.length) : undefined }],
    output: 'y',
    reference: globalPoolReference(dims, op === 'GlobalMaxPool' ? 'max' : 'average'),
    // The rules' backward (Expand, Div; ArgMax, ScatterElements) has double kernels: only the forward is float32.
    float32: 'forward',
  });
  return [
    one('GlobalAveragePool', [2, 3, 4, 5]), one('GlobalAveragePool', [2, 3, 7]), one('GlobalAveragePool', [3, 2, 3, 3], ['batch', 2, 3, 3]),
    one('GlobalMaxPool', [2, 3, 4, 5]), one('GlobalMaxPool', [2, 3, 7]), one('GlobalMaxPool', [3, 2, 3, 3], ['batch', 2, 3, 3]),
  ];
}

// ---------------------------------------------------------------- normalization, softmax, dropout

export function batchNormCases(): GradCheckSpec[] {
  const bn = (name: string, x: number[], opts: { eps?: number; statsAsInputs?: boolean; opset?: number; wrt?: string[]; shape?: (number | string)[] } = {}): GradCheckSpec => {
    const C = x[1];
    const stats: InputSpec[] = opts.statsAsInputs ? [{ name: 'mean', dims: [C] }, { name: 'var', dims: [C], draw: 'positive' }] : [];
    return {
      name: `batchnorm_${name}`,
      nodes: [makeNode('BatchNormalization', ['x', 'scale', 'bias', 'mean', 'var'], ['y'], attrsOf({ epsilon: opts.eps }))],
      inputs: [{ name: 'x', dims: x, shape: opts.shape }, { name: 'scale', dims: [C] }, { name: 'bias', dims: [C] }, ...stats],
      constants: opts.statsAsInputs ? [] : [doubles('mean', Array.from({ length: C }, (_, i) => 0.1 * i - 0.2)), doubles('var', Array.from({ length: C }, (_, i) => 0.5 + 0.25 * i))],
      output: 'y',
      opset: opts.opset,
      wrt: opts.wrt,
    };
  };
  return [
    bn('4d_frozen_stats', [2, 3, 4, 4]),
    bn('4d_epsilon_0.1_opset15', [2, 3, 3, 2], { eps: 0.1, opset: 15 }),
    bn('2d', [4, 3]),
    bn('3d', [2, 3, 5]),
    bn('stats_as_inputs', [2, 3, 3, 3], { statsAsInputs: true }),
    bn('wrt_scale_only', [2, 3, 4, 4], { wrt: ['scale'] }),
    bn('dynamic_batch', [3, 2, 3, 3], { shape: ['batch', 2, 3, 3] }),
  ];
}

export function softmaxCases(): GradCheckSpec[] {
  const one = (op: 'Softmax' | 'LogSoftmax', dims: number[], axis?: number, opset?: number): GradCheckSpec => ({
    name: `${op.toLowerCase()}_${dims.join('x')}_axis_${axis === undefined ? 'default' : tag([axis])}${opset ? `_opset${opset}` : ''}`,
    nodes: [makeNode(op, ['x'], ['y'], attrsOf({ axis }))],
    inputs: [{ name: 'x', dims }],
    output: 'y',
    opset,
  });
  return ['Softmax', 'LogSoftmax'].flatMap((op) => [
    one(op as 'Softmax', [3, 4]),
    one(op as 'Softmax', [2, 3, 4], 1),
    one(op as 'Softmax', [2, 3, 4], 0),
    one(op as 'Softmax', [2, 3, 4], -2),
    one(op as 'Softmax', [2, 3, 4], undefined, 13),
  ]);
}

export function dropoutCases(): GradCheckSpec[] {
  const bool = (name: string, value: boolean) => makeTensor(name, DataType.BOOL, [], [value ? 1 : 0]);
  return [
    { name: 'dropout_no_training_mode', nodes: [makeNode('Dropout', ['x'], ['y'])], inputs: [{ name: 'x', dims: [3, 4] }], output: 'y' },
    {
      name: 'dropout_eval_with_ratio_and_mask_output',
      nodes: [makeNode('Dropout', ['x', 'ratio'], ['y', 'mask'])],
      inputs: [{ name: 'x', dims: [3, 4] }],
      constants: [doubles('ratio', [0.3], [])],
      output: 'y',
    },
    {
      name: 'dropout_training_mode_false',
      nodes: [makeNode('Dropout', ['x', 'ratio', 'training'], ['y', 'mask'])],
      inputs: [{ name: 'x', dims: [2, 3, 2] }],
      constants: [doubles('ratio', [0.5], []), bool('training', false)],
      output: 'y',
    },
  ];
}

// ---------------------------------------------------------------- Concat, Slice, Pad, Clip

export function concatCases(): GradCheckSpec[] {
  const cat = (name: string, dims: number[][], axis: number, extra: Partial<GradCheckSpec> = {}, shapes?: ((number | string)[] | undefined)[]): GradCheckSpec => ({
    name: `concat_${name}`,
    nodes: [makeNode('Concat', dims.map((_, i) => `x${i}`), ['y'], { axis })],
    inputs: dims.map((d, i) => ({ name: `x${i}`, dims: d, shape: shapes?.[i] })),
    output: 'y',
    ...extra,
  });
  return [
    cat('axis0', [[2, 3], [1, 3], [3, 3]], 0),
    cat('axis1_4d', [[2, 1, 2, 2], [2, 3, 2, 2]], 1),
    cat('axis_m1', [[2, 3, 1], [2, 3, 2], [2, 3, 3]], -1),
    cat('one_input_frozen', [[2, 2], [2, 3]], 1, { wrt: ['x1'] }),
    { name: 'concat_same_tensor_twice', nodes: [makeNode('Concat', ['x', 'x', 'z'], ['y'], { axis: 1 })], inputs: [{ name: 'x', dims: [2, 2] }, { name: 'z', dims: [2, 1] }], output: 'y' },
    // Along a symbolic batch axis the split sizes are read at run time.
    cat('dynamic_batch_axis', [[2, 3], [3, 3]], 0, {}, [['batch', 3], ['other', 3]]),
    cat('dynamic_batch_other_axis', [[2, 3], [2, 1]], 1, {}, [['batch', 3], ['batch', 1]]),
  ];
}

export function sliceCases(): GradCheckSpec[] {
  const sl = (name: string, dims: number[], starts: (number | bigint)[], ends: (number | bigint)[], axes?: number[], steps?: number[], shape?: (number | string)[]): GradCheckSpec => ({
    name: `slice_${name}`,
    nodes: [makeNode('Slice', ['x', 'starts', 'ends', ...(axes ? ['axes'] : steps ? [''] : []), ...(steps ? ['steps'] : [])], ['y'])],
    inputs: [{ name: 'x', dims, shape }],
    constants: [ints('starts', starts), ints('ends', ends), ...(axes ? [ints('axes', axes)] : []), ...(steps ? [ints('steps', steps)] : [])],
    output: 'y',
  });
  return [
    sl('axis1_step1', [3, 5], [1], [4], [1]),
    sl('no_axes_input', [4, 5], [1, 0], [3, 2]),
    sl('negative_indices', [3, 6], [-4], [-1], [1]),
    sl('clamped_ends', [3, 5], [-100, 2], [100, INT64_MAX], [0, 1]),
    sl('negative_axis', [2, 3, 6], [1], [5], [-1]),
    sl('step2', [3, 7], [1], [7], [1], [2]),
    sl('step3_clamped', [2, 8], [0], [INT64_MAX], [1], [3]),
    sl('step_m1_reverse', [3, 5], [-1], [INT64_MIN], [1], [-1]),
    sl('step_m1_reverse_from_int64_max', [3, 5], [INT64_MAX], [-INT64_MAX], [1], [-1]),
    sl('step_m2', [3, 7], [5], [0], [1], [-2]),
    sl('mixed_axes_steps', [4, 5, 6], [0, 4, 1], [4, 0, 6], [2, 1, 0], [2, -1, 1]),
    sl('steps_input_without_axes', [5, 4], [1, 0], [5, 4], undefined, [2, 1]),
    sl('empty_result', [3, 5], [4], [2], [1]),
    // The symbolic batch axis may only be taken whole.
    sl('dynamic_batch_whole_axis0', [3, 5], [0, 1], [INT64_MAX, 4], [0, 1], undefined, ['batch', 5]),
    {
      name: 'slice_constant_node_parameters',
      nodes: [
        makeNode('Constant', [], ['starts'], { value: makeTensor('', DataType.INT64, [1], [1]) }),
        makeNode('Constant', [], ['ends'], { value: makeTensor('', DataType.INT64, [1], [-1]) }),
        makeNode('Constant', [], ['axes'], { value: makeTensor('', DataType.INT64, [1], [0]) }),
        makeNode('Slice', ['x', 'starts', 'ends', 'axes'], ['y']),
      ],
      inputs: [{ name: 'x', dims: [4, 3] }],
      output: 'y',
    },
  ];
}

export function padCases(): GradCheckSpec[] {
  const pd = (name: string, dims: number[], pads: number[], opts: { value?: boolean; axes?: number[]; opset?: number; shape?: (number | string)[] } = {}): GradCheckSpec => ({
    name: `pad_${name}`,
    nodes: [makeNode('Pad', ['x', 'pads', ...(opts.value || opts.axes ? [opts.value ? 'value' : ''] : []), ...(opts.axes ? ['axes'] : [])], ['y'], { mode: 'constant' })],
    inputs: [{ name: 'x', dims, shape: opts.shape }, ...(opts.value ? [{ name: 'value', dims: [] }] : [])],
    constants: [ints('pads', pads), ...(opts.axes ? [ints('axes', opts.axes)] : [])],
    output: 'y',
    opset: opts.opset,
  });
  return [
    pd('2d', [2, 3], [1, 0, 2, 1]),
    pd('4d_spatial', [1, 2, 3, 3], [0, 0, 1, 2, 0, 0, 2, 1]),
    pd('negative_crops', [3, 5], [-1, 1, 0, -2]),
    pd('value_input_differentiated', [2, 3], [1, 1, 0, 2], { value: true }),
    pd('opset18_axes_input', [2, 3, 4], [1, 2, 0, 1], { axes: [2, -2], opset: 18 }),
    pd('dynamic_batch', [3, 4], [0, 1, 0, 2], { shape: ['batch', 4] }),
  ];
}

export function clipCases(): GradCheckSpec[] {
  // x stays at least 0.05 away from every bound, so central differences never straddle a kink.
  const x = [-1.2, -0.7, -0.3, 0.1, 0.45, 0.9, 1.3, -0.05, 0.6, -0.55, 0.25, 1.05];
  const clip = (name: string, lo: number | null, hi: number | null, trainBounds = false): GradCheckSpec => ({
    name: `clip_${name}`,
    nodes: [makeNode('Clip', ['x', ...(lo !== null || hi !== null ? [lo === null ? '' : 'lo'] : []), ...(hi === null ? [] : ['hi'])], ['y'])],
    inputs: [
      { name: 'x', dims: [3, 4], values: x },
      ...(trainBounds && lo !== null ? [{ name: 'lo', dims: [], values: [lo] }] : []),
      ...(trainBounds && hi !== null ? [{ name: 'hi', dims: [], values: [hi] }] : []),
    ],
    constants: trainBounds ? [] : [...(lo === null ? [] : [doubles('lo', [lo], [])]), ...(hi === null ? [] : [doubles('hi', [hi], [])])],
    output: 'y',
  });
  return [
    clip('min_max', -0.5, 0.5),
    clip('min_only', -0.4, null),
    clip('max_only', null, 0.7),
    clip('no_bounds', null, null),
    clip('bounds_differentiated', -0.6, 0.8, true),
    clip('min_only_differentiated', -0.2, null, true),
    clip('max_only_differentiated', null, 0.35, true),
    // min > max: the output is max everywhere, so only max gets a gradient.
    clip('min_above_max_differentiated', 0.5, -0.5, true),
  ];
}

// ---------------------------------------------------------------- Gelu, Erf, Sqrt, Pow

// Values on the 1/64 grid that keep clear of x ≈ -0.75, where Gelu' = 0 (see test/util/gradcheck.ts).
const GELU_X = [-2.5, -1.75, -1.25, -0.4375, -0.25, -0.125, 0.125, 0.3125, 0.75, 1.125, 1.5, 2.25];

export function geluErfCases(): GradCheckSpec[] {
  const SQRT2_F32 = Math.fround(Math.SQRT2);
  return [
    {
      name: 'gelu_opset20_exact',
      nodes: [makeNode('Gelu', ['x'], ['y'])],
      inputs: [{ name: 'x', dims: [3, 4], values: GELU_X }],
      output: 'y',
      opset: 20,
      reference: ({ x }) => x.map((v) => gelu(v, 'none')),
      float32: 'both',
    },
    {
      name: 'gelu_opset20_exact_drawn',
      nodes: [makeNode('Gelu', ['x'], ['y'], { approximate: 'none' })],
      inputs: [{ name: 'x', dims: [2, 5], draw: 'positive' }],
      output: 'y',
      opset: 20,
      reference: ({ x }) => x.map((v) => gelu(v, 'none')),
      float32: 'both',
    },
    { name: 'gelu_opset20_tanh', nodes: [makeNode('Gelu', ['x'], ['y'], { approximate: 'tanh' })], inputs: [{ name: 'x', dims: [3, 4], values: GELU_X }], output: 'y', opset: 20 },
    { name: 'gelu_opset20_tanh_drawn', nodes: [makeNode('Gelu', ['x'], ['y'], { approximate: 'tanh' })], inputs: [{ name: 'x', dims: [2, 3, 2] }], output: 'y', opset: 20 },
    {
      name: 'erf_basic',
      nodes: [makeNode('Erf', ['x'], ['y'])],
      inputs: [{ name: 'x', dims: [2, 3, 2] }],
      output: 'y',
      reference: ({ x }) => x.map(erf),
      float32: 'forward',
    },
    {
      name: 'erf_wide_range',
      nodes: [makeNode('Erf', ['x'], ['y'])],
      inputs: [{ name: 'x', dims: [8], values: [-2.5, -1.5, -0.75, -0.125, 0.0625, 0.5, 1.25, 2] }],
      output: 'y',
      reference: ({ x }) => x.map(erf),
      float32: 'forward',
    },
    {
      // Gelu as torch.onnx.export writes it before opset 20: x · ½ (1 + erf(x / √2)), √2 rounded to float32.
      name: 'erf_torch_gelu_decomposition',
      nodes: [
        makeNode('Div', ['x', 'sqrt2'], ['scaled']),
        makeNode('Erf', ['scaled'], ['e']),
        makeNode('Add', ['e', 'one'], ['e1']),
        makeNode('Mul', ['x', 'e1'], ['xe1']),
        makeNode('Mul', ['xe1', 'half'], ['y']),
      ],
      inputs: [{ name: 'x', dims: [3, 4], values: GELU_X }],
      constants: [doubles('sqrt2', [SQRT2_F32], []), doubles('one', [1], []), doubles('half', [0.5], [])],
      output: 'y',
      wrt: ['x'],
      reference: ({ x }) => x.map((v) => v * (1 + erf(v / SQRT2_F32)) * 0.5),
      float32: 'both',
    },
  ];
}

export function sqrtPowCases(): GradCheckSpec[] {
  const powConst = (name: string, exponent: number, dims: number[] = [2, 3]): GradCheckSpec => ({
    name: `pow_constant_${name}`,
    nodes: [makeNode('Pow', ['a', 'e'], ['y'])],
    inputs: [{ name: 'a', dims, draw: 'positive' }],
    constants: [doubles('e', [exponent], [])],
    output: 'y',
  });
  return [
    { name: 'sqrt_basic', nodes: [makeNode('Sqrt', ['x'], ['y'])], inputs: [{ name: 'x', dims: [2, 3], draw: 'positive' }], output: 'y' },
    powConst('square', 2),
    powConst('cube_negative_base', 3),
    powConst('half', 0.5),
    powConst('minus_1.5', -1.5),
    { ...powConst('square_any_sign', 2), name: 'pow_constant_square_any_sign', inputs: [{ name: 'a', dims: [2, 3] }] },
    {
      name: 'pow_integer_exponent_tensor',
      nodes: [makeNode('Pow', ['a', 'e'], ['y'])],
      inputs: [{ name: 'a', dims: [2, 3] }],
      constants: [ints('e', [1, 2, 3])],
      output: 'y',
    },
    { name: 'pow_both_inputs', nodes: [makeNode('Pow', ['a', 'b'], ['y'])], inputs: [{ name: 'a', dims: [2, 3], draw: 'positive' }, { name: 'b', dims: [2, 3] }], output: 'y' },
    { name: 'pow_exponent_broadcast', nodes: [makeNode('Pow', ['a', 'b'], ['y'])], inputs: [{ name: 'a', dims: [2, 3], draw: 'positive' }, { name: 'b', dims: [3] }], output: 'y' },
    { name: 'pow_base_broadcast', nodes: [makeNode('Pow', ['a', 'b'], ['y'])], inputs: [{ name: 'a', dims: [1, 3], draw: 'positive' }, { name: 'b', dims: [2, 3] }], output: 'y' },
    { name: 'pow_exponent_only', nodes: [makeNode('Pow', ['a', 'b'], ['y'])], inputs: [{ name: 'a', dims: [2, 3], draw: 'positive' }, { name: 'b', dims: [] }], output: 'y', wrt: ['b'] },
  ];
}

// ---------------------------------------------------------------- Reshape allowzero, Flatten

export function reshapeFlattenCases(): GradCheckSpec[] {
  const reshape = (name: string, dims: number[], target: number[], allowzero: number, shape?: (number | string)[]): GradCheckSpec => ({
    name: `reshape_allowzero${allowzero}_${name}`,
    nodes: [makeNode('Reshape', ['x', 's'], ['y'], { allowzero })],
    inputs: [{ name: 'x', dims, shape }],
    constants: [ints('s', target)],
    output: 'y',
  });
  const flatten = (axis: number, dims: number[], shape: (number | string)[]): GradCheckSpec => ({
    name: `flatten_dynamic_axis_${tag([axis])}`,
    nodes: [makeNode('Flatten', ['x'], ['y'], { axis })],
    inputs: [{ name: 'x', dims, shape }],
    output: 'y',
  });
  return [
    // torch.export's flatten: Reshape(x, [-1, 64]) with allowzero=1 and a symbolic batch.
    reshape('torch_flatten', [3, 4, 2, 2], [-1, 16], 1, ['batch', 4, 2, 2]),
    reshape('explicit', [2, 3, 4], [4, 6], 1),
    // A literal 0 is a size-0 axis: the gradient's Reshape must read its own target the same way.
    reshape('empty', [0, 4], [4, 0], 1),
    reshape('empty_3d', [2, 0, 3], [3, 0, 2], 1),
    flatten(2, [2, 3, 2, 2], ['batch', 3, 2, 2]),
    flatten(-2, [2, 3, 2, 2], ['batch', 3, 2, 2]),
    flatten(0, [2, 3, 2], ['batch', 3, 2]),
    flatten(3, [2, 3, 2, 2], ['batch', 3, 2, 2]),
  ];
}

// ---------------------------------------------------------------- a digits-like CNN end to end

/** x [N, 1, 6, 6] → Conv(4, 3x3, pads 1) + b → Relu → MaxPool 2x2/2 → Reshape [-1, 36] (allowzero) → Gemm(Wᵀ) + c. */
export function cnnChainCase(): GradCheckSpec {
  const [N, F, H] = [2, 4, 6];
  const conv = convReference([N, 1, H, H], [F, 1, 3, 3], { kernel: [3, 3], pads: [1, 1, 1, 1] }, ['x', 'w1', 'b1']);
  const reference: Reference = (inputs) => {
    const h = conv(inputs).map((v) => Math.max(v, 0));
    const P = H / 2, pooled = new Float64Array(N * F * P * P);
    for (let nc = 0; nc < N * F; nc++) {
      for (let i = 0; i < P; i++) {
        for (let j = 0; j < P; j++) {
          const at = (a: number, b: number) => h[nc * H * H + (2 * i + a) * H + 2 * j + b];
          pooled[nc * P * P + i * P + j] = Math.max(at(0, 0), at(0, 1), at(1, 0), at(1, 1));
        }
      }
    }
    const { w2, b2 } = inputs, K = F * P * P, O = 3;
    return Float64Array.from({ length: N * O }, (_, k) => {
      const [n, o] = [Math.floor(k / O), k % O];
      let acc = b2[o];
      for (let f = 0; f < K; f++) acc += pooled[n * K + f] * w2[o * K + f];
      return acc;
    });
  };
  return {
    name: 'chain_digits_like_cnn',
    nodes: [
      makeNode('Conv', ['x', 'w1', 'b1'], ['c'], { pads: [1, 1, 1, 1], kernel_shape: [3, 3] }),
      makeNode('Relu', ['c'], ['r']),
      makeNode('MaxPool', ['r'], ['p'], { kernel_shape: [2, 2], strides: [2, 2] }),
      makeNode('Reshape', ['p', 'shape'], ['flat'], { allowzero: 1 }),
      makeNode('Gemm', ['flat', 'w2', 'b2'], ['y'], { transB: 1 }),
    ],
    inputs: [
      { name: 'x', dims: [N, 1, H, H], shape: ['batch', 1, H, H] },
      { name: 'w1', dims: [F, 1, 3, 3] },
      { name: 'b1', dims: [F] },
      { name: 'w2', dims: [3, F * 9] },
      { name: 'b2', dims: [3] },
    ],
    constants: [ints('shape', [-1, F * 9])],
    output: 'y',
    wrt: ['w1', 'b1', 'w2', 'b2'],
    opset: 18,
    reference,
    float32: 'both',
  };
}

export function nnCases(): GradCheckSpec[] {
  return [
    ...convCases(), ...maxPoolCases(), ...averagePoolCases(), ...globalPoolCases(), ...batchNormCases(), ...softmaxCases(),
    ...dropoutCases(), ...concatCases(), ...sliceCases(), ...padCases(), ...clipCases(), ...geluErfCases(), ...sqrtPowCases(),
    ...reshapeFlattenCases(), cnnChainCase(),
  ];
}
