// Small hand-built models with several data inputs, each with a twin that reads the same values from float
// inputs another way, so that training both must give the same parameters.
import { DataType, makeGraph, makeModel, makeNode, makeTensor, makeValueInfo } from '../../src/onnx/builder.js';
import type { ModelProto } from '../../src/onnx/proto.js';
import type { Dataset } from '../../src/data/dataset.js';
import { Rng } from '../../src/train/rng.js';

const weights = (rng: Rng, n: number, scale = 0.5) => Float32Array.from({ length: n }, () => rng.normal() * scale);

/**
 * Two float inputs: logits = head(relu(body(a))) + b · side. With `joined`, one input ab = [a | b] sliced
 * into the same two tensors.
 */
export function twoInputModel(joined = false): ModelProto {
  const rng = new Rng(3);
  const init = [
    makeTensor('body.weight', DataType.FLOAT, [4, 3], weights(rng, 12)), makeTensor('body.bias', DataType.FLOAT, [4], weights(rng, 4)),
    makeTensor('head.weight', DataType.FLOAT, [2, 4], weights(rng, 8)), makeTensor('head.bias', DataType.FLOAT, [2], weights(rng, 2)),
    makeTensor('side.weight', DataType.FLOAT, [2, 2], weights(rng, 4)),
  ];
  const nodes = [
    makeNode('Gemm', ['a', 'body.weight', 'body.bias'], ['body'], { transB: 1 }, 'body'),
    makeNode('Relu', ['body'], ['relu'], {}, 'relu'),
    makeNode('Gemm', ['relu', 'head.weight', 'head.bias'], ['head'], { transB: 1 }, 'head'),
    makeNode('MatMul', ['b', 'side.weight'], ['side'], {}, 'side'),
    makeNode('Add', ['head', 'side'], ['logits'], {}, 'sum'),
  ];
  let inputs = [makeValueInfo('a', DataType.FLOAT, ['batch', 3]), makeValueInfo('b', DataType.FLOAT, ['batch', 2])];
  if (joined) {
    const ints = (name: string, v: number[]) => makeTensor(name, DataType.INT64, [v.length], v);
    init.push(ints('starts_a', [0]), ints('ends_a', [3]), ints('starts_b', [3]), ints('ends_b', [5]), ints('axis', [1]));
    nodes.unshift(makeNode('Slice', ['ab', 'starts_a', 'ends_a', 'axis'], ['a'], {}, 'slice_a'), makeNode('Slice', ['ab', 'starts_b', 'ends_b', 'axis'], ['b'], {}, 'slice_b'));
    inputs = [makeValueInfo('ab', DataType.FLOAT, ['batch', 5])];
  }
  return makeModel(makeGraph(nodes, 'two-inputs', inputs, [makeValueInfo('logits', DataType.FLOAT, ['batch', 2])], init));
}

export function twoInputData(count: number, seed: number): { split: Dataset; joined: Dataset } {
  const rng = new Rng(seed);
  const a = weights(rng, count * 3, 1), b = weights(rng, count * 2, 1), ab = new Float32Array(count * 5);
  const labels = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    ab.set(a.subarray(i * 3, i * 3 + 3), i * 5);
    ab.set(b.subarray(i * 2, i * 2 + 2), i * 5 + 3);
    labels[i] = a[i * 3] + b[i * 2 + 1] > 0 ? 1 : 0;
  }
  const source = `two inputs (seed ${seed})`;
  return {
    split: { source, count, inputs: { a: { shape: [3], values: a }, b: { shape: [2], values: b } }, labels },
    joined: { source, count, inputs: { ab: { shape: [5], values: ab } }, labels },
  };
}

export const VOCAB = 10, EMBED = 4, HIDDEN = 6, CLASSES = 3;
const embedTable = () => weights(new Rng(5), VOCAB * EMBED, 1);

/**
 * A BERT-like text classifier: integer `input_ids` into a Gather embedding (a frozen table here: Gather has
 * no gradient rule on this branch), a token-wise Linear + Relu, the integer `attention_mask` cast to float
 * and multiplied in, a sum over the sequence and a Linear head. With `floatTwin`, it reads the embeddings
 * and the mask as float inputs instead (`embeddings` [batch, sequence, 4], `mask` [batch, sequence]).
 */
export function textModel(options: { floatTwin?: boolean; ids?: number } = {}): ModelProto {
  const ids = options.ids ?? DataType.INT64;
  const rng = new Rng(4);
  const init = [
    makeTensor('layer.weight', DataType.FLOAT, [EMBED, HIDDEN], weights(rng, EMBED * HIDDEN)), makeTensor('layer.bias', DataType.FLOAT, [HIDDEN], weights(rng, HIDDEN)),
    makeTensor('head.weight', DataType.FLOAT, [CLASSES, HIDDEN], weights(rng, CLASSES * HIDDEN)), makeTensor('head.bias', DataType.FLOAT, [CLASSES], weights(rng, CLASSES)),
    makeTensor('axis_2', DataType.INT64, [1], [2]), makeTensor('axis_1', DataType.INT64, [1], [1]),
  ];
  const nodes = [
    makeNode('MatMul', ['embedded', 'layer.weight'], ['layer_mm'], {}, 'layer_mm'),
    makeNode('Add', ['layer_mm', 'layer.bias'], ['layer'], {}, 'layer_add'),
    makeNode('Relu', ['layer'], ['relu'], {}, 'relu'),
    makeNode('Unsqueeze', ['mask_float', 'axis_2'], ['mask_3d'], {}, 'mask_unsqueeze'),
    makeNode('Mul', ['relu', 'mask_3d'], ['masked'], {}, 'mask_mul'),
    makeNode('ReduceSum', ['masked', 'axis_1'], ['pooled'], { keepdims: 0 }, 'pool'),
    makeNode('Gemm', ['pooled', 'head.weight', 'head.bias'], ['logits'], { transB: 1 }, 'head'),
  ];
  let inputs;
  if (options.floatTwin) {
    nodes.unshift(makeNode('Identity', ['embeddings'], ['embedded'], {}, 'embedded'), makeNode('Identity', ['mask'], ['mask_float'], {}, 'mask_float'));
    inputs = [makeValueInfo('embeddings', DataType.FLOAT, ['batch', 'sequence', EMBED]), makeValueInfo('mask', DataType.FLOAT, ['batch', 'sequence'])];
  } else {
    init.push(makeTensor('embed.weight', DataType.FLOAT, [VOCAB, EMBED], embedTable()));
    nodes.unshift(makeNode('Gather', ['embed.weight', 'input_ids'], ['embedded'], { axis: 0 }, 'embed'), makeNode('Cast', ['attention_mask'], ['mask_float'], { to: DataType.FLOAT }, 'mask_cast'));
    inputs = [makeValueInfo('input_ids', ids, ['batch', 'sequence']), makeValueInfo('attention_mask', DataType.INT64, ['batch', 'sequence'])];
  }
  const graph = makeGraph(nodes, 'text', inputs, [makeValueInfo('logits', DataType.FLOAT, ['batch', CLASSES])], init);
  // As torch.onnx.export writes it (its shape inference), where our inferShapes has no Gather yet.
  graph.valueInfo.push(makeValueInfo('embedded', DataType.FLOAT, ['batch', 'sequence', EMBED]));
  return makeModel(graph);
}

/** Token sequences padded with 0 and their masks; the class is which of three token groups is most frequent. */
export function textExamples(count: number, sequence: number, seed: number): { ids: number[][]; mask: number[][]; labels: number[] } {
  const rng = new Rng(seed);
  const ids: number[][] = [], mask: number[][] = [], labels: number[] = [];
  for (let i = 0; i < count; i++) {
    const length = 2 + Math.floor(rng.next() * (sequence - 1));
    const row = Array.from({ length: sequence }, (_, t) => (t < length ? 1 + Math.floor(rng.next() * (VOCAB - 1)) : 0));
    const groups = [0, 0, 0];
    for (const t of row) if (t > 0) groups[(t - 1) % 3]++;
    ids.push(row);
    mask.push(row.map((t) => (t > 0 ? 1 : 0)));
    labels.push(groups.indexOf(Math.max(...groups)));
  }
  return { ids, mask, labels };
}

/** The examples for textModel (ids as `type`), and for its float twin (embeddings looked up here). */
export function textData(count: number, sequence: number, seed: number, type: 'int64' | 'int32' = 'int64'): { ints: Dataset; floats: Dataset } {
  const { ids, mask, labels } = textExamples(count, sequence, seed);
  const table = embedTable();
  const flatIds = ids.flat();
  const embeddings = new Float32Array(flatIds.length * EMBED);
  flatIds.forEach((t, k) => embeddings.set(table.subarray(t * EMBED, (t + 1) * EMBED), k * EMBED));
  const source = `text (seed ${seed})`;
  const y = Float64Array.from(labels);
  return {
    ints: {
      source, count, labels: y, inputs: {
        input_ids: { shape: [sequence], values: type === 'int64' ? BigInt64Array.from(flatIds, BigInt) : Int32Array.from(flatIds) },
        attention_mask: { shape: [sequence], values: BigInt64Array.from(mask.flat(), BigInt) },
      },
    },
    floats: { source, count, labels: y, inputs: { embeddings: { shape: [sequence, EMBED], values: embeddings }, mask: { shape: [sequence], values: Float32Array.from(mask.flat()) } } },
  };
}

/** The examples as JSONL lines. */
export function textJsonl(count: number, sequence: number, seed: number): string {
  const { ids, mask, labels } = textExamples(count, sequence, seed);
  return ids.map((row, i) => JSON.stringify({ input_ids: row, attention_mask: mask[i], y: labels[i] })).join('\n') + '\n';
}
