// Y = MaxPool(X): each output is one input element, the first maximum in its window (onnxruntime and PyTorch
// scan a window in the same order, so ties go to the same element). dX = dY scattered to those elements.
// Their positions come from the Indices output of a MaxPool over the same input with the same attributes (the
// forward node's own, when it has one in row-major order): onnxruntime's indices are flat over N·C·spatial,
// so the scatter runs over X flattened. Overlapping windows can pick one element twice, hence reduction=add
// (ScatterElements from opset 16); at an older opset only windows that cannot overlap are accepted.
// Measured against two mask forms (forward + backward of the node alone, 1 thread, median µs; digits CNN's
// 2×2/2 pools on 32×8×8×8 and 32×16×4×4, ResNet-18's 3×3/2 pad 1 pool on 32×64×16×16):
//   this form (MaxPool for Indices, ScatterElements)                        160    64   10 000
//   windows as columns by Reshape + Transpose, ArgMax, Equal, Where, back     399   263   (n/a)
//   windows as columns by a one-hot Conv, ArgMax, Equal, Where, ConvTranspose 296   305   11 900
// onnxruntime's 6-D Transpose and its ArgMax, Equal and Where each cost about as much as the whole scatter.
import { UserError } from '../../errors.js';
import { windowAttributes } from '../../graph/windows.js';
import { onnx, type AttributeProto } from '../../onnx/proto.js';
import type { GradRule } from '../rule.js';

export const maxPool: GradRule = {
  opType: 'MaxPool',
  grad(ctx) {
    const X = ctx.I(0);
    const attrs = windowAttributes(ctx.attr, ctx.attrInts('kernel_shape') ?? []);
    const overlapping = attrs.kernel.some((k, i) => (k - 1) * attrs.dilations[i] + 1 > attrs.strides[i]);
    if (overlapping && ctx.opset < 16) {
      throw new UserError(`MaxPool node '${ctx.node.name}': its windows overlap, and adding gradients that meet needs ScatterElements ` +
        `with reduction=add (opset 16); the model has opset ${ctx.opset}`);
    }
    const nodes = [];
    let indices = ctx.O(1);
    if (!indices || ctx.attrInt('storage_order', 0) !== 0) {
      indices = ctx.tmp('indices');
      const node = ctx.make('MaxPool', [X], [ctx.tmp('Y'), indices]);
      node.attribute = ctx.node.attribute.filter((a) => a.name !== 'storage_order')
        .map((a) => onnx.AttributeProto.decode(onnx.AttributeProto.encode(a as never).finish()) as unknown as AttributeProto);
      nodes.push(node);
    }
    nodes.push(
      ctx.make('Shape', [X], [ctx.tmp('X_shape')]),
      ctx.make('Size', [X], [ctx.tmp('X_size')]),
      ctx.make('Reshape', [ctx.tmp('X_size'), ctx.ints('one_dim', [1])], [ctx.tmp('X_size_1d')]),
      ctx.make('Expand', [ctx.constant('zero', [0]), ctx.tmp('X_size_1d')], [ctx.tmp('zeros')]),
      ctx.make('Reshape', [indices, ctx.ints('flat', [-1])], [ctx.tmp('indices_flat')]),
      ctx.make('Reshape', [ctx.GO(0), ctx.ints('flat', [-1])], [ctx.tmp('dY_flat')]),
      ctx.make('ScatterElements', [ctx.tmp('zeros'), ctx.tmp('indices_flat'), ctx.tmp('dY_flat')], [ctx.tmp('dX_flat')],
        { axis: 0, reduction: ctx.opset >= 16 ? 'add' : undefined }),
      ctx.make('Reshape', [ctx.tmp('dX_flat'), ctx.tmp('X_shape')], [ctx.GI(0)]),
    );
    return nodes;
  },
};
