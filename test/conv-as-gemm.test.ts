// Convs over small maps lowered to Gemms, and depthwise ones to products (src/graph/conv-as-gemm.ts):
// the lowered forward, in float64, must compute the Conv reference's function, and the gradients the existing
// rules give it must match the reference's finite differences.
import { expect } from 'chai';
import { DataType, makeGraph, makeNode, makeValueInfo, type AttrValue } from '../src/onnx/builder.js';
import type { NodeProto, TensorProto } from '../src/onnx/proto.js';
import { indexGraph } from '../src/graph/graph-index.js';
import { inferShapes } from '../src/graph/shapes.js';
import { convsAsGemms } from '../src/graph/conv-as-gemm.js';
import { gradCheck } from './util/gradcheck.js';
import { convReference } from './gradients-reference.js';

interface Case {
  name: string;
  x: number[];
  w: number[];
  bias?: boolean;
  attrs?: { strides?: number[]; dilations?: number[]; pads?: number[]; auto_pad?: 'SAME_UPPER' | 'SAME_LOWER'; group?: number };
}

function lowered(c: Case): { nodes: NodeProto[]; constants: TensorProto[] } {
  const inputs = ['x', 'w', ...(c.bias ? ['b'] : [])];
  const conv = makeNode('Conv', inputs, ['y'], (c.attrs ?? {}) as Record<string, AttrValue>, 'conv');
  const dims = [c.x, c.w, [c.w[0]]];
  const graph = makeGraph([conv], 'g', inputs.map((name, i) => makeValueInfo(name, DataType.DOUBLE, dims[i])), [makeValueInfo('y', DataType.DOUBLE, null)]);
  const constants: TensorProto[] = [];
  const nodes = convsAsGemms(graph.node, inferShapes(graph, indexGraph(graph), 17), constants);
  return { nodes, constants };
}

describe('Convs over small maps as Gemms', () => {
  const cases: Case[] = [
    // ResNet's last stage on 32×32 images: 3×3, pads 1 over a 1×1 map; only the centre tap sees input.
    { name: 'centre_tap', x: [3, 4, 1, 1], w: [5, 4, 3, 3], attrs: { pads: [1, 1, 1, 1] } },
    // Its first conv: 3×3 stride 2, pads 1 over 2×2; the lower-right 2×2 taps.
    { name: 'stride2_corner_taps_bias', x: [2, 3, 2, 2], w: [4, 3, 3, 3], bias: true, attrs: { pads: [1, 1, 1, 1], strides: [2, 2] } },
    // Its downsample: 1×1 stride 2 over 2×2 reads the first position only.
    { name: 'pointwise_stride2', x: [2, 3, 2, 2], w: [4, 3, 1, 1], bias: true, attrs: { strides: [2, 2] } },
    // A window that covers the whole input: no selection at all.
    { name: 'whole_window', x: [2, 2, 3, 3], w: [3, 2, 3, 3], bias: true },
    { name: '1d_dilation2_pads', x: [2, 3, 1], w: [2, 3, 3], attrs: { dilations: [2], pads: [2, 2] } },
    { name: '1d_dilation2_strided_input', x: [2, 2, 5], w: [3, 2, 2], attrs: { dilations: [2], pads: [0, 0], strides: [4] } },
    { name: 'asymmetric_pads', x: [2, 2, 2, 3], w: [2, 2, 3, 3], attrs: { pads: [1, 0, 0, 0] } },
    { name: 'same_upper', x: [1, 2, 1, 1], w: [2, 2, 3, 3], attrs: { auto_pad: 'SAME_UPPER' } },
    // Maps of several positions: im2col by Gather.
    { name: 'columns_pads1_bias', x: [2, 3, 2, 2], w: [4, 3, 3, 3], bias: true, attrs: { pads: [1, 1, 1, 1] } },
    { name: 'columns_stride2_pads1', x: [2, 3, 4, 4], w: [2, 3, 3, 3], attrs: { pads: [1, 1, 1, 1], strides: [2, 2] } },
    { name: 'columns_pointwise_stride2', x: [2, 3, 4, 4], w: [4, 3, 1, 1], bias: true, attrs: { strides: [2, 2] } },
    { name: 'columns_remainder_asymmetric', x: [2, 2, 6, 5], w: [2, 2, 3, 2], attrs: { strides: [2, 2], pads: [1, 0, 2, 1] } },
    { name: 'columns_dilation2', x: [1, 2, 5, 6], w: [3, 2, 2, 3], bias: true, attrs: { dilations: [2, 2], pads: [0, 1, 1, 0] } },
    { name: 'columns_1d_stride3_dilation2', x: [2, 2, 11], w: [2, 2, 2], attrs: { strides: [3], dilations: [2] } },
    { name: 'columns_same_lower_even_kernel', x: [1, 2, 5, 4], w: [2, 2, 2, 2], attrs: { auto_pad: 'SAME_LOWER' } },
    // One input channel (the digits CNN's first conv): columns by a one-hot Conv, then a MatMul.
    { name: 'one_channel_pads1_bias', x: [2, 1, 4, 4], w: [3, 1, 3, 3], bias: true, attrs: { pads: [1, 1, 1, 1] } },
    { name: 'one_channel_stride2_asymmetric', x: [2, 1, 5, 4], w: [2, 1, 3, 2], attrs: { strides: [2, 2], pads: [1, 0, 1, 1] } },
    { name: 'one_channel_dilation2_1d', x: [2, 1, 7], w: [3, 1, 3], bias: true, attrs: { dilations: [2] } },
    // Depthwise convs over small maps (EfficientNet-B0's stages at 32×32): per-channel products.
    { name: 'depthwise_centre_tap_bias', x: [2, 3, 1, 1], w: [3, 1, 3, 3], bias: true, attrs: { group: 3, pads: [1, 1, 1, 1] } },
    { name: 'depthwise_k5_2x2', x: [2, 4, 2, 2], w: [4, 1, 5, 5], attrs: { group: 4, pads: [2, 2, 2, 2] } },
    { name: 'depthwise_stride2_to_1x1_bias', x: [2, 3, 2, 2], w: [3, 1, 3, 3], bias: true, attrs: { group: 3, pads: [1, 1, 1, 1], strides: [2, 2] } },
    { name: 'depthwise_stride2_asymmetric', x: [2, 2, 3, 2], w: [2, 1, 3, 3], attrs: { group: 2, pads: [1, 0, 1, 1], strides: [2, 1] } },
    { name: 'depthwise_dilation2', x: [1, 2, 2, 2], w: [2, 1, 2, 2], attrs: { group: 2, dilations: [2, 2], pads: [1, 1, 1, 1] } },
    { name: 'depthwise_same_upper', x: [2, 3, 2, 2], w: [3, 1, 3, 3], attrs: { group: 3, auto_pad: 'SAME_UPPER' } },
    { name: 'depthwise_1d', x: [2, 3, 4], w: [3, 1, 3], bias: true, attrs: { group: 3, pads: [1, 1] } },
    { name: 'depthwise_4x4_stride2_bias', x: [2, 3, 4, 4], w: [3, 1, 3, 3], bias: true, attrs: { group: 3, pads: [1, 1, 1, 1], strides: [2, 2] } },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const { nodes, constants } = lowered(c);
      const oneChannel = c.w[1] === 1 && !c.attrs?.group;
      expect(nodes.map((n) => n.opType)).to.include(c.attrs?.group || oneChannel ? 'MatMul' : 'Gemm');
      // The one-channel form's one Conv has a constant kernel; no other Conv remains.
      expect(nodes.filter((n) => n.opType === 'Conv').map((n) => n.input[1])).to.deep.equal(oneChannel ? ['conv/as_gemm/one_hot_taps'] : []);
      const { strides, dilations, pads, auto_pad: autoPad, group } = c.attrs ?? {};
      await gradCheck({
        name: `conv_as_gemm_${c.name}`,
        nodes,
        constants,
        inputs: [{ name: 'x', dims: c.x }, { name: 'w', dims: c.w }, ...(c.bias ? [{ name: 'b', dims: [c.w[0]] }] : [])],
        output: 'y',
        reference: convReference(c.x, c.w, { kernel: c.w.slice(2), strides, dilations, pads, autoPad, group }),
        // onnxruntime has no float64 Conv or ConvTranspose (the one-channel form's columns and their gradient).
        float32: oneChannel ? 'both' : undefined,
      });
    });
  }

  it('leaves Convs with a larger output map, grouped ones, and depthwise ones over larger maps as they are', () => {
    expect(lowered({ name: 'depthwise_map', x: [1, 3, 9, 9], w: [3, 1, 3, 3], attrs: { group: 3, pads: [1, 1, 1, 1] } }).nodes.map((n) => n.opType)).to.deep.equal(['Conv']);
    expect(lowered({ name: 'depthwise_multiplier', x: [2, 3, 1, 1], w: [6, 1, 3, 3], attrs: { group: 3, pads: [1, 1, 1, 1] } }).nodes.map((n) => n.opType)).to.deep.equal(['Conv']);
    expect(lowered({ name: 'map', x: [2, 2, 9, 9], w: [3, 2, 3, 3], attrs: { pads: [1, 1, 1, 1] } }).nodes.map((n) => n.opType)).to.deep.equal(['Conv']);
    const grouped = makeNode('Conv', ['x', 'w'], ['y'], { group: 2 }, 'conv');
    const graph = makeGraph([grouped], 'g', [makeValueInfo('x', DataType.DOUBLE, [1, 4, 1, 1]), makeValueInfo('w', DataType.DOUBLE, [4, 2, 1, 1])], [makeValueInfo('y', DataType.DOUBLE, null)]);
    expect(convsAsGemms(graph.node, inferShapes(graph, indexGraph(graph), 17), []).map((n) => n.opType)).to.deep.equal(['Conv']);
  });
});
