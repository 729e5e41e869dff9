// Finite-difference cases for the rules real architectures need (issue 10): Gather (embeddings, index selects),
// GatherElements, GatherND, LayerNormalization and its decomposed form, Where, Expand, Cast, CastLike, Split,
// SplitToSequence read by SequenceAt,
// HardSwish, HardSigmoid, Einsum, and the integer shape subgraphs exporters put next to the gradient path.
// HardSwish and HardSigmoid have no float64 kernel in onnxruntime: they bring a float64 reference forward.
import { DataType, makeNode, makeTensor, type AttrValue } from '../src/onnx/builder.js';
import type { GradCheckSpec } from './util/gradcheck.js';

const ints = (name: string, values: number[], dims: number[] = [values.length]) => makeTensor(name, DataType.INT64, dims, values);
const int32s = (name: string, values: number[], dims: number[] = [values.length]) => makeTensor(name, DataType.INT32, dims, values);
const doubles = (name: string, values: number[], dims: number[] = [values.length]) => makeTensor(name, DataType.DOUBLE, dims, values);
const bools = (name: string, values: number[], dims: number[]) => makeTensor(name, DataType.BOOL, dims, values);

function gatherCases(): GradCheckSpec[] {
  const gather = (name: string, dataDims: number[], indices: ReturnType<typeof ints>, axis?: number): GradCheckSpec => ({
    name, nodes: [makeNode('Gather', ['data', 'idx'], ['y'], axis === undefined ? {} : { axis })],
    inputs: [{ name: 'data', dims: dataDims }], constants: [indices], output: 'y',
  });
  return [
    // Embedding lookups: repeated (0 three times, 4 and -1 both the last row) and negative ids accumulate.
    gather('gather_embedding_repeats_negative', [5, 3], ints('idx', [0, 4, -1, 2, 0, 0], [2, 3])),
    gather('gather_embedding_int32_ids', [5, 3], int32s('idx', [1, -2, 1, 3], [4])),
    {
      // Ids as a data input (as token ids are), not a constant: normalized at run time.
      name: 'gather_embedding_ids_input',
      nodes: [makeNode('Gather', ['data', 'ids'], ['y'])],
      inputs: [{ name: 'data', dims: [4, 2] }, { name: 'ids', dims: [2, 3], type: 'int64', values: [3, 0, -1, 0, 2, 2] }],
      output: 'y',
    },
    // Index selects: x[:, 0] (rank-0 index), the last element of the last axis, rows of the middle axis.
    gather('gather_select_axis1_scalar', [2, 3, 4], ints('idx', [0], []), 1),
    gather('gather_select_last_axis_scalar_negative', [2, 3, 4], ints('idx', [-1], []), -1),
    gather('gather_axis1_indices_2d', [2, 3, 4], ints('idx', [2, 0, 2, -1], [2, 2]), 1),
    gather('gather_axis2_repeats', [2, 3, 4], ints('idx', [3, -1, 0], [3]), 2),
    gather('gather_axis0_scalar', [3, 4], ints('idx', [1], []), 0),
    {
      // A tied embedding: the same weight looks up the ids and projects back to logits (W used twice).
      name: 'gather_tied_embedding',
      nodes: [makeNode('Gather', ['W', 'ids'], ['h']), makeNode('Tanh', ['h'], ['t']), makeNode('Gemm', ['t', 'W'], ['y'], { transB: 1 })],
      inputs: [{ name: 'W', dims: [5, 3] }],
      constants: [ints('ids', [4, 1, 1])],
      output: 'y',
    },
    {
      name: 'gatherelements_axis0_repeats',
      nodes: [makeNode('GatherElements', ['data', 'idx'], ['y'], { axis: 0 })],
      inputs: [{ name: 'data', dims: [3, 4] }],
      constants: [ints('idx', [0, 2, -1, 1, 0, 0, 2, -3], [2, 4])],
      output: 'y',
    },
    {
      name: 'gatherelements_axis_m1_int32',
      nodes: [makeNode('GatherElements', ['data', 'idx'], ['y'], { axis: -1 })],
      inputs: [{ name: 'data', dims: [2, 3, 4] }],
      constants: [int32s('idx', [0, 3, 3, -1, 1, 2, 0, 0, 1, 2, 3, 3], [2, 3, 2])],
      output: 'y',
    },
    {
      // The last-token pick of a decoder classifier: data[b, pos_b] for each row b.
      name: 'gathernd_pairs',
      nodes: [makeNode('GatherND', ['data', 'idx'], ['y'])],
      inputs: [{ name: 'data', dims: [2, 3, 4] }],
      constants: [ints('idx', [0, 2, 1, -1, 1, 2], [3, 2])],
      output: 'y',
    },
    {
      name: 'gathernd_rows_repeated',
      nodes: [makeNode('GatherND', ['data', 'idx'], ['y'])],
      inputs: [{ name: 'data', dims: [3, 2] }],
      constants: [ints('idx', [2, 0, 2, -1], [2, 2, 1])],
      output: 'y',
    },
  ];
}

function layerNormCases(): GradCheckSpec[] {
  const ln = (name: string, xDims: number[], axis: number | undefined, withBias: boolean, extra: Partial<GradCheckSpec> = {}, attrs: Record<string, AttrValue> = {}): GradCheckSpec => {
    const rank = xDims.length;
    const normalized = xDims.slice(axis === undefined ? rank - 1 : axis < 0 ? axis + rank : axis);
    return {
      name,
      nodes: [makeNode('LayerNormalization', withBias ? ['x', 'scale', 'bias'] : ['x', 'scale'], ['y'], { ...(axis === undefined ? {} : { axis }), ...attrs })],
      inputs: [{ name: 'x', dims: xDims }, { name: 'scale', dims: normalized }, ...(withBias ? [{ name: 'bias', dims: normalized }] : [])],
      output: 'y',
      ...extra,
    };
  };
  return [
    ln('layernorm_last_axis_bias', [2, 3, 4], -1, true),
    ln('layernorm_default_axis_no_bias', [3, 5], undefined, false),
    ln('layernorm_axis1_two_axes', [2, 3, 4], 1, true),
    ln('layernorm_axis0_everything', [2, 3], 0, true),
    ln('layernorm_channels_last_4d', [2, 2, 2, 3], 3, true, {}, { epsilon: 1e-2 }),
    ln('layernorm_symbolic_batch', [3, 4], -1, true, { inputs: [{ name: 'x', dims: [3, 4], shape: ['batch', 4] }, { name: 'scale', dims: [4] }, { name: 'bias', dims: [4] }] }),
    {
      // The Mean and InvStdDev outputs exist but nothing reads them.
      name: 'layernorm_optional_outputs',
      nodes: [makeNode('LayerNormalization', ['x', 'scale', 'bias'], ['y', 'mean', 'inv_std'], { axis: -1 })],
      inputs: [{ name: 'x', dims: [2, 4] }, { name: 'scale', dims: [4] }, { name: 'bias', dims: [4] }],
      output: 'y',
    },
    ln('layernorm_wrt_x_only', [2, 3, 4], -1, true, { wrt: ['x'] }),
    ln('layernorm_wrt_scale_bias', [2, 3, 4], -1, true, { wrt: ['scale', 'bias'] }),
    ln('layernorm_wrt_bias_only', [2, 3, 4], -1, true, { wrt: ['bias'] }),
    ...[17, 18].map((opset): GradCheckSpec => ({
      // LayerNorm as the TorchScript exporter writes it below opset 17.
      name: `layernorm_decomposed_opset${opset}`,
      nodes: [
        makeNode('ReduceMean', opset >= 18 ? ['x', 'axes'] : ['x'], ['mean'], opset >= 18 ? {} : { axes: [-1] }),
        makeNode('Sub', ['x', 'mean'], ['centered']),
        makeNode('Pow', ['centered', 'two'], ['squared']),
        makeNode('ReduceMean', opset >= 18 ? ['squared', 'axes'] : ['squared'], ['variance'], opset >= 18 ? {} : { axes: [-1] }),
        makeNode('Add', ['variance', 'eps'], ['variance_eps']),
        makeNode('Sqrt', ['variance_eps'], ['std']),
        makeNode('Div', ['centered', 'std'], ['normalized']),
        makeNode('Mul', ['normalized', 'scale'], ['scaled']),
        makeNode('Add', ['scaled', 'bias'], ['y']),
      ],
      inputs: [{ name: 'x', dims: [2, 3, 4] }, { name: 'scale', dims: [4] }, { name: 'bias', dims: [4] }],
      constants: [ints('axes', [-1]), doubles('two', [2], []), doubles('eps', [1e-5], [])],
      output: 'y',
      opset,
    })),
  ];
}

function selectionCases(): GradCheckSpec[] {
  return [
    {
      name: 'where_broadcast_both',
      nodes: [makeNode('Where', ['c', 'a', 'b'], ['y'])],
      inputs: [{ name: 'a', dims: [2, 3] }, { name: 'b', dims: [3] }],
      constants: [bools('c', [1, 0, 0, 1, 1, 0], [2, 3])],
      output: 'y',
    },
    {
      name: 'where_condition_broadcast',
      nodes: [makeNode('Where', ['c', 'a', 'b'], ['y'])],
      inputs: [{ name: 'a', dims: [1, 3] }, { name: 'b', dims: [] }],
      constants: [bools('c', [1, 0], [2, 1])],
      output: 'y',
    },
    {
      // An attention mask: a computed condition and a constant fill; only the scores get a gradient.
      name: 'where_mask_constant_fill',
      nodes: [makeNode('Greater', ['m', 'zero'], ['c']), makeNode('Where', ['c', 'fill', 'scores'], ['y'])],
      inputs: [{ name: 'scores', dims: [2, 2, 3] }, { name: 'm', dims: [2, 1, 3] }],
      constants: [doubles('zero', [0], []), doubles('fill', [-1e4], [])],
      output: 'y',
      wrt: ['scores'],
    },
    ...([[[3, 1], [2, 3, 4]], [[1, 4], [2, 1, 4]], [[2, 1, 1], [2, 3, 1]], [[3], [2, 3]], [[2, 3], [2, 3]]] as number[][][]).map(([x, shape]): GradCheckSpec => ({
      name: `expand_${x.join('x')}_to_${shape.join('x')}`,
      nodes: [makeNode('Expand', ['x', 'shape'], ['y'])],
      inputs: [{ name: 'x', dims: x }],
      constants: [ints('shape', shape)],
      output: 'y',
    })),
    {
      // A class token expanded to the batch, its target shape computed from another input (ViT, dynamo).
      name: 'expand_shape_from_subgraph',
      nodes: [
        makeNode('Shape', ['x'], ['x_shape']),
        makeNode('Gather', ['x_shape', 'zero_index'], ['batch'], { axis: 0 }),
        makeNode('Unsqueeze', ['batch', 'axis0'], ['batch_1d']),
        makeNode('Concat', ['batch_1d', 'ones'], ['target'], { axis: 0 }),
        makeNode('Expand', ['cls', 'target'], ['cls_batch']),
        makeNode('Concat', ['cls_batch', 'x'], ['y'], { axis: 1 }),
      ],
      inputs: [{ name: 'x', dims: [2, 3, 4], shape: ['batch', 3, 4] }, { name: 'cls', dims: [1, 1, 4] }],
      constants: [ints('zero_index', [0], []), ints('axis0', [0]), ints('ones', [1, 1])],
      output: 'y',
    },
  ];
}

function castSplitCases(): GradCheckSpec[] {
  const split = (name: string, inputs: string[], outputs: number, attrs: Record<string, AttrValue>, opset: number, constants = [] as ReturnType<typeof ints>[], use = [0, 1]): GradCheckSpec => {
    const outs = Array.from({ length: outputs }, (_, i) => `s${i}`);
    return {
      name,
      nodes: [makeNode('Split', ['x', ...inputs], outs, attrs), makeNode('Concat', use.map((i) => outs[i]), ['y'], { axis: 1 })],
      inputs: [{ name: 'x', dims: [2, 7] }],
      constants,
      output: 'y',
      opset,
    };
  };
  return [
    { name: 'cast_double_to_double', nodes: [makeNode('Cast', ['x'], ['y'], { to: DataType.DOUBLE })], inputs: [{ name: 'x', dims: [2, 3] }], output: 'y' },
    {
      // x + float(int(x)): the integer path is piecewise constant and carries no gradient.
      name: 'cast_integer_path_carries_none',
      nodes: [makeNode('Cast', ['x'], ['xi'], { to: DataType.INT64 }), makeNode('Cast', ['xi'], ['xf'], { to: DataType.DOUBLE }), makeNode('Add', ['x', 'xf'], ['y'])],
      inputs: [{ name: 'x', dims: [2, 3] }],
      output: 'y',
    },
    {
      name: 'castlike_to_double',
      nodes: [makeNode('CastLike', ['x', 'like'], ['y'])],
      inputs: [{ name: 'x', dims: [2, 3] }],
      constants: [doubles('like', [0], [])],
      output: 'y',
    },
    {
      // The dynamo exporter's zero Conv bias: CastLike(constant, activation); the activation only lends its type.
      name: 'castlike_target_on_path_gets_none',
      nodes: [makeNode('Tanh', ['x'], ['h']), makeNode('CastLike', ['c', 'h'], ['cb']), makeNode('Mul', ['h', 'cb'], ['y'])],
      inputs: [{ name: 'x', dims: [2, 3] }],
      constants: [doubles('c', [0.75, -1.25, 2], [3])],
      output: 'y',
    },
    split('split_sizes_input_skip_middle', ['sizes'], 3, { axis: 1 }, 17, [ints('sizes', [2, 1, 4])], [2, 0]),
    {
      // Before opset 13 the sizes are an attribute (the project's own Concat gradient needs 13, hence Mul here).
      name: 'split_sizes_attribute_opset12',
      nodes: [makeNode('Split', ['x'], ['a', 'b'], { axis: 1, split: [3, 3] }), makeNode('Mul', ['a', 'b'], ['y'])],
      inputs: [{ name: 'x', dims: [2, 6] }],
      output: 'y',
      opset: 12,
    },
    split('split_num_outputs_opset18_uneven', [], 3, { axis: -1, num_outputs: 3 }, 18, [], [0, 2, 1]),
    {
      name: 'split_equal_default',
      nodes: [makeNode('Split', ['x'], ['a', 'b']), makeNode('Mul', ['a', 'b'], ['y'])],
      inputs: [{ name: 'x', dims: [4, 3] }],
      output: 'y',
    },
  ];
}

function sequenceSplitCases(): GradCheckSpec[] {
  const at = (position: number, out: string) => makeNode('SequenceAt', ['seq', `p${position < 0 ? 'm' : ''}${Math.abs(position)}`], [out]);
  const positions = [0, 1, 2, -1].map((p) => ints(`p${p < 0 ? 'm' : ''}${Math.abs(p)}`, [p], []));
  return [
    {
      // GPT-2's qkv split as the dynamo exporter writes it: a scalar chunk size; chunk 1 is never read, chunk 2
      // twice (once as -1).
      name: 'splittosequence_scalar_size_unread_chunk',
      nodes: [makeNode('SplitToSequence', ['x', 'size'], ['seq'], { axis: 2 }), at(0, 'q'), at(2, 'v'), at(-1, 'v_again'),
        makeNode('Mul', ['q', 'v'], ['qv']), makeNode('Add', ['qv', 'v_again'], ['y'])],
      inputs: [{ name: 'x', dims: [2, 3, 6], shape: ['batch', 3, 6] }],
      constants: [ints('size', [2], []), ...positions],
      output: 'y',
    },
    {
      name: 'splittosequence_sizes_list',
      nodes: [makeNode('SplitToSequence', ['x', 'sizes'], ['seq'], { axis: -1 }), at(0, 'a'), at(1, 'b'), makeNode('Concat', ['b', 'a'], ['y'], { axis: 1 })],
      inputs: [{ name: 'x', dims: [2, 5] }],
      constants: [ints('sizes', [2, 3]), ...positions],
      output: 'y',
    },
    {
      // No sizes and keepdims 0: one chunk per index of the axis, the axis dropped.
      name: 'splittosequence_keepdims0',
      nodes: [makeNode('SplitToSequence', ['x'], ['seq'], { axis: 0, keepdims: 0 }), at(0, 'a'), at(2, 'c'), makeNode('Mul', ['a', 'c'], ['y'])],
      inputs: [{ name: 'x', dims: [3, 4] }],
      constants: positions,
      output: 'y',
    },
  ];
}

// PyTorch's hardsigmoid: α = 1/6 (stored as float32), β = 1/2.
const SIXTH = Math.fround(1 / 6);
// Values on both sides of every kink (±3; ±2.5 for the default α = 0.2), none on one, exact in float32.
const HARD_X = [-5, -4, -3.5, -2.75, -2, -1, -0.25, 0.5, 1.75, 2.75, 3.5, 4.5];

function hardCases(): GradCheckSpec[] {
  const hardSigmoid = (x: number, alpha: number, beta: number) => Math.max(0, Math.min(1, alpha * x + beta));
  const hard = (name: string, op: string, attrs: Record<string, AttrValue>, f: (x: number) => number): GradCheckSpec => ({
    name,
    nodes: [makeNode(op, ['x'], ['y'], attrs)],
    inputs: [{ name: 'x', dims: [3, 4], values: HARD_X }],
    output: 'y',
    reference: ({ x }) => x.map(f),
    float32: 'forward',
  });
  return [
    hard('hardswish_all_regions', 'HardSwish', {}, (x) => x * hardSigmoid(x, SIXTH, 0.5)),
    hard('hardsigmoid_pytorch', 'HardSigmoid', { alpha: SIXTH, beta: 0.5 }, (x) => hardSigmoid(x, SIXTH, 0.5)),
    hard('hardsigmoid_default_attrs', 'HardSigmoid', {}, (x) => hardSigmoid(x, Math.fround(0.2), 0.5)),
    {
      // MobileNetV3's squeeze-excite: a [N, C, 1, 1] gate (HardSigmoid of a pooled branch) times [N, C, H, W].
      name: 'squeeze_excite_hardsigmoid_gate',
      nodes: [
        makeNode('ReduceMean', ['x'], ['pooled'], { axes: [2, 3], keepdims: 1 }),
        makeNode('HardSigmoid', ['pooled'], ['gate'], { alpha: SIXTH, beta: 0.5 }),
        makeNode('Mul', ['x', 'gate'], ['y']),
      ],
      inputs: [{ name: 'x', dims: [2, 3, 2, 2] }],
      output: 'y',
      reference: ({ x }) => {
        const out = new Float64Array(x.length);
        for (let nc = 0; nc < 6; nc++) {
          const mean = (x[nc * 4] + x[nc * 4 + 1] + x[nc * 4 + 2] + x[nc * 4 + 3]) / 4;
          for (let k = 0; k < 4; k++) out[nc * 4 + k] = x[nc * 4 + k] * hardSigmoid(mean, SIXTH, 0.5);
        }
        return out;
      },
      // The Mul's gradient reads the gate, so the backward graph holds HardSigmoid too.
      float32: 'both',
    },
  ];
}

function einsumCases(): GradCheckSpec[] {
  const einsum = (name: string, equation: string, dims: number[][]): GradCheckSpec => {
    const names = dims.map((_, i) => `x${i}`);
    return { name, nodes: [makeNode('Einsum', names, ['y'], { equation })], inputs: dims.map((d, i) => ({ name: names[i], dims: d })), output: 'y' };
  };
  return [
    einsum('einsum_attention_scores', 'bhid,bhjd->bhij', [[2, 2, 3, 4], [2, 2, 5, 4]]),
    einsum('einsum_attention_values', 'bhij,bhjd->bhid', [[2, 2, 3, 5], [2, 2, 5, 4]]),
    einsum('einsum_linear_3d', 'bij,jk->bik', [[2, 3, 4], [4, 5]]),
    einsum('einsum_matvec_spaces', 'ij, j -> i', [[3, 4], [4]]),
    einsum('einsum_implicit_output', 'ij,jk', [[2, 3], [3, 4]]),
    einsum('einsum_outer', 'i,j->ij', [[3], [4]]),
    einsum('einsum_private_index_summed', 'ij,k->ik', [[2, 3], [4]]),
    einsum('einsum_single_transpose', 'ij->ji', [[2, 3]]),
    einsum('einsum_single_sum', 'ijk->ik', [[2, 3, 4]]),
  ];
}

// Integer subgraphs the exporters write next to the gradient path: they carry no gradient and must not stop it.
function integerSubgraphCases(): GradCheckSpec[] {
  return [
    {
      // The dynamo exporter's ReduceMean (opset 18) with axes from Reshape(Constant).
      name: 'reducemean_axes_from_reshape_constant',
      nodes: [
        makeNode('Constant', [], ['axes_raw'], { value: makeTensor('', DataType.INT64, [2], [-1, -2]) }),
        makeNode('Reshape', ['axes_raw', 'flat'], ['axes']),
        makeNode('ReduceMean', ['x', 'axes'], ['y'], { keepdims: 1 }),
      ],
      inputs: [{ name: 'x', dims: [2, 3, 2, 2] }],
      constants: [ints('flat', [-1])],
      output: 'y',
      opset: 18,
    },
    {
      // A causal mask built from Shape, Gather, Range, ConstantOfShape, Trilu, Cast, Equal, Not, And, ArgMax,
      // CumSum, NonZero, Size; Where picks the scores, Softmax on the last axis of a rank-4 tensor.
      name: 'causal_mask_integer_subgraph',
      nodes: [
        makeNode('Shape', ['scores'], ['shape']),
        makeNode('Gather', ['shape', 'last'], ['n'], { axis: 0 }),
        makeNode('Range', ['zero_i', 'n', 'one_i'], ['positions']),
        makeNode('Unsqueeze', ['n', 'axis0'], ['n_1d']),
        makeNode('Concat', ['n_1d', 'n_1d'], ['square'], { axis: 0 }),
        makeNode('ConstantOfShape', ['square'], ['ones'], { value: makeTensor('', DataType.INT64, [1], [1]) }),
        makeNode('Trilu', ['ones'], ['lower'], { upper: 0 }),
        makeNode('CumSum', ['lower', 'zero_i'], ['lower_sums']),
        makeNode('Cast', ['lower_sums'], ['allowed'], { to: DataType.BOOL }),
        makeNode('Equal', ['positions', 'positions'], ['always']),
        makeNode('Not', ['always'], ['never']),
        makeNode('Not', ['never'], ['always_too']),
        makeNode('And', ['allowed', 'always_too'], ['mask']),
        makeNode('ArgMax', ['scores'], ['argmax'], { axis: -1 }),
        makeNode('NonZero', ['mask'], ['nonzero']),
        makeNode('Size', ['nonzero'], ['count']),
        makeNode('Where', ['mask', 'scores', 'fill'], ['masked']),
        makeNode('Softmax', ['masked'], ['y'], { axis: -1 }),
      ],
      inputs: [{ name: 'scores', dims: [2, 2, 3, 3], shape: ['batch', 2, 3, 3] }],
      constants: [ints('last', [-1], []), ints('zero_i', [0], []), ints('one_i', [1], []), ints('axis0', [0]), doubles('fill', [-1e4], [])],
      output: 'y',
    },
    {
      // Squeeze-excite's gate in float64: [N, C, 1, 1] times [N, C, H, W].
      name: 'mul_squeeze_excite_broadcast',
      nodes: [makeNode('Mul', ['x', 'gate'], ['y'])],
      inputs: [{ name: 'x', dims: [2, 3, 2, 2], shape: ['batch', 3, 2, 2] }, { name: 'gate', dims: [2, 3, 1, 1], shape: ['batch', 3, 1, 1] }],
      output: 'y',
    },
    {
      // A Linear on a rank-4 activation: MatMul with a rank-2 weight, bias broadcast.
      name: 'matmul_rank4_by_weight_with_bias',
      nodes: [makeNode('MatMul', ['x', 'W'], ['h']), makeNode('Add', ['h', 'b'], ['y'])],
      inputs: [{ name: 'x', dims: [2, 2, 3, 4], shape: ['batch', 2, 3, 4] }, { name: 'W', dims: [4, 5] }, { name: 'b', dims: [5] }],
      output: 'y',
    },
    {
      // BERT's attention: Q·Kᵀ batched at rank 4 with a scale, softmax, times V, heads merged by Reshape(0, 0, -1).
      name: 'attention_rank4_chain',
      nodes: [
        makeNode('Transpose', ['k'], ['kt'], { perm: [0, 1, 3, 2] }),
        makeNode('MatMul', ['q', 'kt'], ['scores']),
        makeNode('Div', ['scores', 'scale'], ['scaled']),
        makeNode('Softmax', ['scaled'], ['probs'], { axis: -1 }),
        makeNode('MatMul', ['probs', 'v'], ['context']),
        makeNode('Transpose', ['context'], ['merged_t'], { perm: [0, 2, 1, 3] }),
        makeNode('Reshape', ['merged_t', 'merge'], ['merged']),
        makeNode('MatMul', ['merged', 'W'], ['y']),
      ],
      inputs: [{ name: 'q', dims: [2, 2, 3, 2] }, { name: 'k', dims: [2, 2, 3, 2] }, { name: 'v', dims: [2, 2, 3, 2] }, { name: 'W', dims: [4, 3] }],
      constants: [doubles('scale', [1.5], []), ints('merge', [0, 0, -1])],
      output: 'y',
    },
  ];
}

// Shapes computed at run time (Reshape to a Concat of Shape pieces) leave axes of unknown size: which of them
// were broadcast is then found at run time.
function unknownSizeCases(): GradCheckSpec[] {
  const pair = (name: string, op: string, a: number[], aShape: (number | string | null)[], b: number[], bShape: (number | string | null)[]): GradCheckSpec => ({
    name, nodes: [makeNode(op, ['a', 'b'], ['y'])], inputs: [{ name: 'a', dims: a, shape: aShape }, { name: 'b', dims: b, shape: bShape }], output: 'y',
  });
  return [
    pair('unknown_sizes_add_broadcast_row', 'Add', [2, 3], [null, null], [1, 3], [null, null]),
    pair('unknown_sizes_mul_broadcast_column', 'Mul', [2, 3], [null, 3], [2, 1], [null, null]),
    pair('unknown_sizes_mul_same_shape', 'Mul', [2, 3], [null, 3], [2, 3], [null, 3]),
    pair('unknown_sizes_symbols_differ', 'Sub', [2, 3], ['n', 3], [1, 3], ['m', 3]),
    pair('unknown_sizes_lead_and_runtime', 'Div', [2, 2, 3], [2, null, 3], [1, 3], [null, 3]),
  ];
}

export function archCases(): GradCheckSpec[] {
  return [...gatherCases(), ...layerNormCases(), ...selectionCases(), ...castSplitCases(), ...sequenceSplitCases(), ...hardCases(), ...einsumCases(), ...integerSubgraphCases(), ...unknownSizeCases()];
}
