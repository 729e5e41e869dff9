// The real architectures `npm run bench` times, built at bench time with the project's graph builder (no
// Python, no large files committed): torchvision's resnet18(num_classes=10) and efficientnet_b0(num_classes=10), and transformers'
// BertForSequenceClassification. Each is written as torch.onnx.export writes it with do_constant_folding=False
// (opset 17), under PyTorch's parameter names and node names. The weights are random, drawn as the libraries
// initialize them; a benchmark needs the architecture, the shapes and the FLOPs, not trained values.
import { DataType, makeGraph, makeModel, makeNode, makeTensor, makeValueInfo, type AttrValue, type Dim } from '../src/onnx/builder.js';
import type { ModelProto, NodeProto, TensorProto } from '../src/onnx/proto.js';
import { torchLinearInit } from '../src/model/init.js';
import { Rng } from '../src/train/rng.js';

/** A model with the multiply-adds of one example's forward pass, for GFLOP/s. */
export interface BenchModel {
  model: ModelProto;
  /** Multiply-adds of one example's forward pass through every Conv, MatMul and Gemm. */
  forwardMacs: number;
  /** Of which: the first layer's, whose input gradient a training step never computes (its input is data). */
  firstLayerMacs: number;
}

/** Nodes named as the TorchScript exporter names them: `<scope>/<Op>`, then `<scope>/<Op>_1`, ... */
class Graph {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  private readonly taken = new Map<string, number>();

  constructor(readonly rng: Rng) {}

  op(scope: string, opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}): string {
    const base = `${scope}/${opType}`;
    const k = this.taken.get(base) ?? 0;
    this.taken.set(base, k + 1);
    const name = k === 0 ? base : `${base}_${k}`;
    this.nodes.push(makeNode(opType, inputs, [`${name}_output_0`], attrs, name));
    return `${name}_output_0`;
  }

  tensor(name: string, dataType: DataType, dims: number[], values: ArrayLike<number>): string {
    this.initializers.push(makeTensor(name, dataType, dims, values));
    return name;
  }

  float(name: string, dims: number[], fill: (i: number) => number): string {
    return this.tensor(name, DataType.FLOAT, dims, Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, (_, i) => fill(i)));
  }

  normal(name: string, dims: number[], std: number): string {
    return this.float(name, dims, () => std * this.rng.normal());
  }

  /** A Constant node, as the exporter writes literals (an initializer would read as a parameter). */
  constant(scope: string, dataType: DataType, values: number[], dims = [values.length]): string {
    return this.op(scope, 'Constant', [], { value: makeTensor('', dataType, dims, values) });
  }
}

export const RESNET18 = { input: 'input', channels: 3, size: 32, classes: 10 } as const;

/**
 * torchvision.models.resnet18(num_classes=10) on 3×32×32 images: 7×7/2 conv, BN, ReLU, 3×3/2 max pool, four
 * stages of two BasicBlocks (1×1/2 downsample conv + BN where the shape changes), global average pool, fc.
 * BatchNorm unfolded (weight, bias, running_mean, running_var), as do_constant_folding=False exports it.
 * Init as torchvision's: kaiming_normal_(fan_out, relu) convs, BN weight 1 and bias 0, nn.Linear's default fc.
 */
export function buildResNet18(seed = 1): BenchModel {
  const g = new Graph(new Rng(seed));
  let macs = 0, size: number = RESNET18.size;
  const conv = (scope: string, x: string, param: string, cin: number, cout: number, k: number, stride: number) => {
    g.normal(`${param}.weight`, [cout, cin, k, k], Math.sqrt(2 / (cout * k * k)));
    const pad = (k - 1) >> 1;
    size = Math.floor((size + 2 * pad - k) / stride) + 1;
    macs += size * size * cout * cin * k * k;
    return g.op(scope, 'Conv', [x, `${param}.weight`], { dilations: [1, 1], group: 1, kernel_shape: [k, k], pads: [pad, pad, pad, pad], strides: [stride, stride] });
  };
  const bn = (scope: string, x: string, param: string, c: number) => batchNorm(g, scope, x, param, c);

  let x = conv('/conv1', RESNET18.input, 'conv1', RESNET18.channels, 64, 7, 2);
  const firstLayerMacs = macs;
  x = g.op('/relu', 'Relu', [bn('/bn1', x, 'bn1', 64)]);
  size = Math.floor((size + 2 - 3) / 2) + 1;
  x = g.op('/maxpool', 'MaxPool', [x], { ceil_mode: 0, dilations: [1, 1], kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [2, 2] });
  let cin = 64;
  for (const [stage, cout] of [64, 128, 256, 512].entries()) {
    for (const block of [0, 1]) {
      const name = `layer${stage + 1}.${block}`, scope = `/layer${stage + 1}/${name}`;
      const stride = stage > 0 && block === 0 ? 2 : 1;
      const inputSize = size;
      let y = conv(`${scope}/conv1`, x, `${name}.conv1`, cin, cout, 3, stride);
      y = g.op(`${scope}/relu`, 'Relu', [bn(`${scope}/bn1`, y, `${name}.bn1`, cout)]);
      y = bn(`${scope}/bn2`, conv(`${scope}/conv2`, y, `${name}.conv2`, cout, cout, 3, 1), `${name}.bn2`, cout);
      let identity = x;
      if (stride !== 1 || cin !== cout) {
        const outputSize = size;
        size = inputSize;
        identity = bn(`${scope}/downsample/downsample.1`, conv(`${scope}/downsample/downsample.0`, x, `${name}.downsample.0`, cin, cout, 1, stride), `${name}.downsample.1`, cout);
        size = outputSize;
      }
      x = g.op(`${scope}/relu_1`, 'Relu', [g.op(scope, 'Add', [y, identity])]);
      cin = cout;
    }
  }
  x = g.op('', 'Flatten', [g.op('/avgpool', 'GlobalAveragePool', [x])], { axis: 1 });
  const fc = torchLinearInit(g.rng, 512, RESNET18.classes);
  g.tensor('fc.weight', DataType.FLOAT, [RESNET18.classes, 512], fc.weight);
  g.tensor('fc.bias', DataType.FLOAT, [RESNET18.classes], fc.bias);
  macs += 512 * RESNET18.classes;
  g.nodes.push(makeNode('Gemm', [x, 'fc.weight', 'fc.bias'], ['logits'], { alpha: 1, beta: 1, transB: 1 }, '/fc/Gemm'));
  const graph = makeGraph(g.nodes, 'main_graph',
    [makeValueInfo(RESNET18.input, DataType.FLOAT, ['batch', RESNET18.channels, RESNET18.size, RESNET18.size])],
    [makeValueInfo('logits', DataType.FLOAT, ['batch', RESNET18.classes])], g.initializers);
  return { model: makeModel(graph), forwardMacs: macs, firstLayerMacs };
}

export const EFFICIENTNET_B0 = { input: 'input', channels: 3, size: 32, classes: 10 } as const;

/** torchvision's efficientnet_b0 stages: expand ratio, kernel, stride, input and output channels, blocks. */
const B0_STAGES: [number, number, number, number, number, number][] = [
  [1, 3, 1, 32, 16, 1], [6, 3, 2, 16, 24, 2], [6, 5, 2, 24, 40, 2], [6, 3, 2, 40, 80, 3],
  [6, 5, 1, 80, 112, 3], [6, 5, 2, 112, 192, 4], [6, 3, 1, 192, 320, 1],
];

/**
 * torchvision.models.efficientnet_b0(num_classes=10) on 3×32×32 images: a 3×3/2 stem (Conv, BN, SiLU), 16
 * MBConv blocks (1×1 expansion, depthwise k×k conv, squeeze-and-excitation with SiLU and Sigmoid, 1×1
 * projection, a residual where the shape allows), a 1×1 conv to 1280, global average pool and the classifier.
 * SiLU as the exporter writes it (Sigmoid, Mul); BatchNorm unfolded; no Dropout or stochastic depth (export
 * drops them in eval mode; in PyTorch's train() they are a mask multiply, small against the convolutions).
 * Init as torchvision's: kaiming_normal_(fan_out) convs with zero biases, BN weight 1 and bias 0, the
 * classifier U(±1/√classes) with a zero bias.
 */
export function buildEfficientNetB0(seed = 1): BenchModel {
  const g = new Graph(new Rng(seed));
  let macs = 0, size: number = EFFICIENTNET_B0.size;
  const conv = (scope: string, x: string, param: string, cin: number, cout: number, k: number, stride: number, groups = 1, bias = false) => {
    g.normal(`${param}.weight`, [cout, cin / groups, k, k], Math.sqrt(2 / (cout * k * k)));
    if (bias) g.float(`${param}.bias`, [cout], () => 0);
    const pad = (k - 1) >> 1;
    size = Math.floor((size + 2 * pad - k) / stride) + 1;
    macs += size * size * cout * (cin / groups) * k * k;
    return g.op(scope, 'Conv', [x, `${param}.weight`, ...(bias ? [`${param}.bias`] : [])],
      { dilations: [1, 1], group: groups, kernel_shape: [k, k], pads: [pad, pad, pad, pad], strides: [stride, stride] });
  };
  const bn = (scope: string, x: string, param: string, c: number) => batchNorm(g, scope, x, param, c);
  const silu = (scope: string, x: string) => g.op(scope, 'Mul', [x, g.op(scope, 'Sigmoid', [x])]);
  // Conv, BN and SiLU (or no activation) under features.<path>.{0,1}.
  const convBnAct = (path: string, x: string, cin: number, cout: number, k: number, stride: number, groups = 1, act = true) => {
    const scope = `/features/${path.replace(/\./g, '/')}`;
    const y = bn(`${scope}/1/BatchNormalization`, conv(`${scope}/0/Conv`, x, `features.${path}.0`, cin, cout, k, stride, groups), `features.${path}.1`, cout);
    return act ? silu(`${scope}/2`, y) : y;
  };

  let x = convBnAct('0', EFFICIENTNET_B0.input, EFFICIENTNET_B0.channels, 32, 3, 2);
  const firstLayerMacs = macs;
  for (const [s, [expand, k, stride, cinStage, cout, blocks]] of B0_STAGES.entries()) {
    for (let b = 0; b < blocks; b++) {
      const cin = b === 0 ? cinStage : cout, st = b === 0 ? stride : 1;
      const hidden = cin * expand, block = `${s + 1}.${b}.block`;
      let y = x, part = 0;
      if (expand !== 1) y = convBnAct(`${block}.${part++}`, y, cin, hidden, 1, 1);
      y = convBnAct(`${block}.${part++}`, y, hidden, hidden, k, st, hidden);
      // Squeeze-and-excitation: per-channel scales from the pooled map (1×1 maps: no change to `size`).
      const squeeze = Math.max(1, Math.floor(cin / 4)), se = `features.${block}.${part++}`, seScope = `/features/${block.replace(/\./g, '/')}/${part - 1}`;
      const saved = size;
      const pooled = g.op(`${seScope}/avgpool`, 'GlobalAveragePool', [y]);
      size = 1;
      const scale = g.op(`${seScope}/scale_activation`, 'Sigmoid',
        [conv(`${seScope}/fc2`, silu(`${seScope}/activation`, conv(`${seScope}/fc1`, pooled, `${se}.fc1`, hidden, squeeze, 1, 1, 1, true)), `${se}.fc2`, squeeze, hidden, 1, 1, 1, true)]);
      size = saved;
      y = g.op(seScope, 'Mul', [scale, y]);
      y = convBnAct(`${block}.${part++}`, y, hidden, cout, 1, 1, 1, false);
      x = st === 1 && cin === cout ? g.op(`/features/${s + 1}/${b}`, 'Add', [y, x]) : y;
    }
  }
  x = convBnAct('8', x, 320, 1280, 1, 1);
  x = g.op('', 'Flatten', [g.op('/avgpool', 'GlobalAveragePool', [x])], { axis: 1 });
  const range = 1 / Math.sqrt(EFFICIENTNET_B0.classes);
  g.float('classifier.1.weight', [EFFICIENTNET_B0.classes, 1280], () => range * (2 * g.rng.next() - 1));
  g.float('classifier.1.bias', [EFFICIENTNET_B0.classes], () => 0);
  macs += 1280 * EFFICIENTNET_B0.classes;
  g.nodes.push(makeNode('Gemm', [x, 'classifier.1.weight', 'classifier.1.bias'], ['logits'], { alpha: 1, beta: 1, transB: 1 }, '/classifier/classifier.1/Gemm'));
  const graph = makeGraph(g.nodes, 'main_graph',
    [makeValueInfo(EFFICIENTNET_B0.input, DataType.FLOAT, ['batch', EFFICIENTNET_B0.channels, EFFICIENTNET_B0.size, EFFICIENTNET_B0.size])],
    [makeValueInfo('logits', DataType.FLOAT, ['batch', EFFICIENTNET_B0.classes])], g.initializers);
  return { model: makeModel(graph), forwardMacs: macs, firstLayerMacs };
}

/** BERT-Tiny (google/bert_uncased_L-2_H-128_A-2), dropout 0, two labels; one step on 16×128 tokens takes ~100 ms. */
export const BERT_TINY = { vocab: 30522, hidden: 128, layers: 2, heads: 2, intermediate: 512, maxPositions: 512, typeVocab: 2, classes: 2, sequence: 128 } as const;
export type BertConfig = typeof BERT_TINY;

/**
 * transformers' BertForSequenceClassification with int64 `input_ids` and `attention_mask` [batch, sequence]:
 * word + position + token-type embeddings (Gather; position and token-type ids sliced from int64 buffers to the
 * sequence length), LayerNorm, the additive mask (1 - mask) · float32 min, eager attention (MatMul, Div by
 * √head size, Add mask, Softmax, MatMul), erf GELU, residual LayerNorms, the pooler (first token, Linear, tanh)
 * and the classifier. Linear layers on 3-D tensors are Transpose(weight) + MatMul + Add, on 2-D Gemm.
 * Init as transformers': N(0, 0.02) weights and embeddings, zero biases, LayerNorm weight 1 and bias 0.
 */
export function buildBert(config: BertConfig = BERT_TINY, seed = 1): BenchModel {
  const { vocab, hidden, layers, heads, intermediate, maxPositions, typeVocab, classes, sequence } = config;
  const g = new Graph(new Rng(seed));
  const headSize = hidden / heads;
  const std = 0.02;
  let macs = 0;
  const linear = (scope: string, x: string, param: string, inFeatures: number, outFeatures: number) => {
    g.normal(`${param}.weight`, [outFeatures, inFeatures], std);
    g.float(`${param}.bias`, [outFeatures], () => 0);
    macs += sequence * inFeatures * outFeatures;
    const weightT = g.op(scope, 'Transpose', [`${param}.weight`], { perm: [1, 0] });
    return g.op(scope, 'Add', [`${param}.bias`, g.op(scope, 'MatMul', [x, weightT])]);
  };
  const layerNorm = (scope: string, x: string, param: string) => {
    g.float(`${param}.weight`, [hidden], () => 1);
    g.float(`${param}.bias`, [hidden], () => 0);
    return g.op(scope, 'LayerNormalization', [x, `${param}.weight`, `${param}.bias`], { axis: -1, epsilon: 1e-12 });
  };

  // Embeddings. The position and token-type ids are constants [1, maxPositions] (non-persistent buffers in
  // transformers) sliced to the sequence length.
  const e = '/bert/embeddings';
  g.normal('bert.embeddings.word_embeddings.weight', [vocab, hidden], std);
  g.normal('bert.embeddings.position_embeddings.weight', [maxPositions, hidden], std);
  g.normal('bert.embeddings.token_type_embeddings.weight', [typeVocab, hidden], std);
  const positionBuffer = g.constant(e, DataType.INT64, Array.from({ length: maxPositions }, (_, i) => i), [1, maxPositions]);
  const tokenTypeBuffer = g.constant(e, DataType.INT64, new Array<number>(maxPositions).fill(0), [1, maxPositions]);
  const length = g.op(e, 'Gather', [g.op(e, 'Shape', ['input_ids']), g.constant(e, DataType.INT64, [1], [])], { axis: 0 });
  const end = g.op(e, 'Unsqueeze', [length, g.constant(e, DataType.INT64, [0])]);
  const [start, axis1] = [g.constant(e, DataType.INT64, [0]), g.constant(e, DataType.INT64, [1])];
  const positionIds = g.op(e, 'Slice', [positionBuffer, start, end, axis1, axis1]);
  const tokenTypeIds = g.op(e, 'Slice', [tokenTypeBuffer, start, end, axis1, axis1]);
  const words = g.op(`${e}/word_embeddings`, 'Gather', ['bert.embeddings.word_embeddings.weight', 'input_ids']);
  const types = g.op(`${e}/token_type_embeddings`, 'Gather', ['bert.embeddings.token_type_embeddings.weight', tokenTypeIds]);
  const positions = g.op(`${e}/position_embeddings`, 'Gather', ['bert.embeddings.position_embeddings.weight', positionIds]);
  let x = layerNorm(`${e}/LayerNorm`, g.op(e, 'Add', [g.op(e, 'Add', [words, types]), positions]), 'bert.embeddings.LayerNorm');

  // The extended attention mask [batch, 1, 1, sequence]: 0 where attended, float32's minimum where padded.
  const maskAxes = g.constant('/bert', DataType.INT64, [1, 2]);
  const maskFloat = g.op('/bert', 'Cast', [g.op('/bert', 'Unsqueeze', ['attention_mask', maskAxes])], { to: DataType.FLOAT });
  const inverted = g.op('/bert', 'Sub', [g.constant('/bert', DataType.FLOAT, [1], []), maskFloat]);
  const mask = g.op('/bert', 'Mul', [inverted, g.constant('/bert', DataType.FLOAT, [-3.4028234663852886e38], [])]);

  for (let l = 0; l < layers; l++) {
    const p = `bert.encoder.layer.${l}`, s = `/bert/encoder/layer.${l}`;
    const a = `${s}/attention/self`;
    const splitHeads = g.constant(a, DataType.INT64, [0, 0, heads, headSize]);
    const heads4d = (t: string, perm: number[]) => g.op(a, 'Transpose', [g.op(a, 'Reshape', [t, splitHeads], { allowzero: 0 })], { perm });
    const q = heads4d(linear(`${a}/query`, x, `${p}.attention.self.query`, hidden, hidden), [0, 2, 1, 3]);
    const kT = heads4d(linear(`${a}/key`, x, `${p}.attention.self.key`, hidden, hidden), [0, 2, 3, 1]);
    const v = heads4d(linear(`${a}/value`, x, `${p}.attention.self.value`, hidden, hidden), [0, 2, 1, 3]);
    const scale = g.constant(a, DataType.FLOAT, [Math.sqrt(headSize)], []);
    const scores = g.op(a, 'Add', [g.op(a, 'Div', [g.op(a, 'MatMul', [q, kT]), scale]), mask]);
    const context = g.op(a, 'MatMul', [g.op(a, 'Softmax', [scores], { axis: -1 }), v]);
    macs += 2 * sequence * sequence * hidden;
    const merged = g.op(a, 'Reshape', [g.op(a, 'Transpose', [context], { perm: [0, 2, 1, 3] }), g.constant(a, DataType.INT64, [0, 0, hidden])], { allowzero: 0 });
    const attended = linear(`${s}/attention/output/dense`, merged, `${p}.attention.output.dense`, hidden, hidden);
    x = layerNorm(`${s}/attention/output/LayerNorm`, g.op(`${s}/attention/output`, 'Add', [attended, x]), `${p}.attention.output.LayerNorm`);
    // GELU as transformers writes it: x · ½ · (1 + erf(x / √2)).
    const f = `${s}/intermediate/intermediate_act_fn`;
    const up = linear(`${s}/intermediate/dense`, x, `${p}.intermediate.dense`, hidden, intermediate);
    const [sqrt2, one, half] = [Math.SQRT2, 1, 0.5].map((v) => g.constant(f, DataType.FLOAT, [v], []));
    const gelu = g.op(f, 'Mul', [g.op(f, 'Mul', [up, g.op(f, 'Add', [g.op(f, 'Erf', [g.op(f, 'Div', [up, sqrt2])]), one])]), half]);
    const down = linear(`${s}/output/dense`, gelu, `${p}.output.dense`, intermediate, hidden);
    x = layerNorm(`${s}/output/LayerNorm`, g.op(`${s}/output`, 'Add', [down, x]), `${p}.output.LayerNorm`);
  }

  // Pooler: the first token's hidden state, Linear, tanh; then the classifier, both Gemm on 2-D.
  const first = g.op('/bert/pooler', 'Gather', [x, g.constant('/bert/pooler', DataType.INT64, [0], [])], { axis: 1 });
  const pooled = g.op('/bert/pooler/activation', 'Tanh', [gemm(g, '/bert/pooler/dense', first, 'bert.pooler.dense', hidden, hidden, std)]);
  g.nodes.push(makeNode('Gemm', [pooled, 'classifier.weight', 'classifier.bias'], ['logits'], { alpha: 1, beta: 1, transB: 1 }, '/classifier/Gemm'));
  g.normal('classifier.weight', [classes, hidden], std);
  g.float('classifier.bias', [classes], () => 0);
  // Per example, besides every token's linear layers and attention: the pooler and classifier on one token.
  macs += hidden * hidden + hidden * classes;
  // A dynamic batch axis only, as exported with dynamic_axes={'input_ids': {0: 'batch'}, ...}.
  const tokens: Dim[] = ['batch', sequence];
  const graph = makeGraph(g.nodes, 'main_graph',
    [makeValueInfo('input_ids', DataType.INT64, tokens), makeValueInfo('attention_mask', DataType.INT64, tokens)],
    [makeValueInfo('logits', DataType.FLOAT, ['batch', classes])], g.initializers);
  return { model: makeModel(graph), forwardMacs: macs, firstLayerMacs: 0 };
}

/** A BatchNormalization as torchvision initializes it (scale 1, shift 0, running mean 0, variance 1), in inference form. */
function batchNorm(g: Graph, scope: string, x: string, param: string, c: number): string {
  g.float(`${param}.weight`, [c], () => 1);
  g.float(`${param}.bias`, [c], () => 0);
  g.float(`${param}.running_mean`, [c], () => 0);
  g.float(`${param}.running_var`, [c], () => 1);
  return g.op(scope, 'BatchNormalization', [x, ...['weight', 'bias', 'running_mean', 'running_var'].map((p) => `${param}.${p}`)], { epsilon: 1e-5, momentum: 0.9, training_mode: 0 });
}

function gemm(g: Graph, scope: string, x: string, param: string, inFeatures: number, outFeatures: number, std: number): string {
  g.normal(`${param}.weight`, [outFeatures, inFeatures], std);
  g.float(`${param}.bias`, [outFeatures], () => 0);
  return g.op(scope, 'Gemm', [x, `${param}.weight`, `${param}.bias`], { alpha: 1, beta: 1, transB: 1 });
}
