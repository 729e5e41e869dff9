// The torch-seed model with another head: head.weight [classes, 16] and head.bias [classes] replaced, the
// logits' declared shape to match (the label-smoothing parity run needs a 2-class model).
import { cloneModel } from '../../src/artifacts/build.js';
import { DataType, makeTensor } from '../../src/onnx/builder.js';
import type { ModelProto } from '../../src/onnx/proto.js';

export function withHead(model: ModelProto, weight: number[], bias: number[]): ModelProto {
  const m = cloneModel(model);
  const classes = bias.length;
  m.graph.initializer = m.graph.initializer.map((t) => {
    if (t.name === 'head.weight') return makeTensor('head.weight', DataType.FLOAT, [classes, weight.length / classes], weight);
    if (t.name === 'head.bias') return makeTensor('head.bias', DataType.FLOAT, [classes], bias);
    return t;
  });
  const dims = m.graph.output[0].type!.tensorType!.shape!.dim!;
  dims[1] = { dimValue: classes } as (typeof dims)[number];
  return m;
}
