// The LoRA transform: a pure ModelProto → ModelProto that puts a low-rank path beside each target, as PEFT's
// LoraLayer.forward computes it: y = base(x) + B(A(dropout(x))) · scaling. A and B are new initializers, the
// parameters the LoRA plan trains (named `<module>.lora_A.weight`, PEFT's layout: A [r, in(, k…)], B [out, r(, 1…)]);
// the base weights stay in the graph as they were, frozen by the plan, so the trainer bakes them in as constants.
import type { ModelProto, NodeProto, TensorProto } from '../onnx/proto.js';
import { DataType, makeNode, makeTensor } from '../onnx/builder.js';
import { cloneModel } from '../artifacts/build.js';
import { UserError } from '../errors.js';
import type { Rng } from '../train/rng.js';
import type { LoraTarget } from './targets.js';

export interface LoraSettings {
  rank: number;
  alpha: number;
  /** Dropout on the adapter's input (training only; none at 0). */
  dropout: number;
  /** PEFT's use_rslora: scaling α/√r instead of α/r. */
  rslora?: boolean;
}

export const loraScaling = (s: LoraSettings): number => (s.rslora ? s.alpha / Math.sqrt(s.rank) : s.alpha / s.rank);

export interface AdapterWeights {
  A: Float32Array;
  B: Float32Array;
}

export const loraNames = (module: string) => ({ A: `${module}.lora_A.weight`, B: `${module}.lora_B.weight` });

export function adapterDims(t: LoraTarget, rank: number): { A: number[]; B: number[] } {
  return { A: [rank, t.inFeatures, ...t.kernel], B: [t.outFeatures, rank, ...t.kernel.map(() => 1)] };
}

/**
 * A fresh adapter as PEFT's init_lora_weights=True makes it: A by kaiming_uniform_(a=√5), which is
 * U(−1/√fan_in, 1/√fan_in) over A's fan-in, and B zero, so the adapted model starts equal to the base model.
 */
export function freshAdapter(t: LoraTarget, rank: number, rng: Rng): AdapterWeights {
  const dims = adapterDims(t, rank);
  const fanIn = dims.A.slice(1).reduce((a, b) => a * b, 1);
  const bound = 1 / Math.sqrt(fanIn);
  const A = new Float32Array(rank * fanIn);
  for (let i = 0; i < A.length; i++) A[i] = rng.uniform(-bound, bound);
  return { A, B: new Float32Array(t.outFeatures * rank) };
}

const attrOf = (node: NodeProto, name: string) => node.attribute.find((a) => a.name === name);

/** The adapter's nodes for one target, reading `input` and adding onto `baseOut` to make `output`. */
function adapterNodes(t: LoraTarget, settings: LoraSettings, input: string, baseOut: string, output: string, extra: TensorProto[]): NodeProto[] {
  const p = `${t.module}.lora/`;
  const names = loraNames(t.module);
  const nodes: NodeProto[] = [];
  let x = input;
  if (settings.dropout > 0) {
    // A training-mode Dropout: the trainer feeds its mask from the run's generator; evaluation skips it.
    extra.push(makeTensor(`${p}dropout_ratio`, DataType.FLOAT, [], [settings.dropout]), makeTensor(`${p}dropout_training`, DataType.BOOL, [], [1]));
    nodes.push(makeNode('Dropout', [x, `${p}dropout_ratio`, `${p}dropout_training`], [`${p}dropped`], {}, `${p}Dropout`));
    x = `${p}dropped`;
  }
  if (t.kind === 'linear') {
    nodes.push(
      makeNode('Transpose', [names.A], [`${p}A_t`], { perm: [1, 0] }, `${p}Transpose_A`),
      makeNode('MatMul', [x, `${p}A_t`], [`${p}down`], {}, `${p}A`),
      makeNode('Transpose', [names.B], [`${p}B_t`], { perm: [1, 0] }, `${p}Transpose_B`),
      makeNode('MatMul', [`${p}down`, `${p}B_t`], [`${p}up`], {}, `${p}B`),
    );
  } else {
    // PEFT's lora_A: the base Conv's kernel, stride and padding; lora_B: a 1×1 Conv.
    const kept = ['auto_pad', 'pads', 'strides'].map((n) => attrOf(t.node, n)).filter((a) => a !== undefined);
    const a = makeNode('Conv', [x, names.A], [`${p}down`], { kernel_shape: t.kernel }, `${p}A`);
    a.attribute.push(...kept);
    nodes.push(a, makeNode('Conv', [`${p}down`, names.B], [`${p}up`], { kernel_shape: t.kernel.map(() => 1) }, `${p}B`));
  }
  // The scaling is a Constant node, not an initializer: a float initializer would count as a parameter.
  const scaling = makeTensor(`${p}scaling_value`, DataType.FLOAT, [], [loraScaling(settings)]);
  nodes.push(
    makeNode('Constant', [], [`${p}scaling`], { value: scaling }, `${p}Constant_scaling`),
    makeNode('Mul', [`${p}up`, `${p}scaling`], [`${p}scaled`], {}, `${p}Mul`),
    makeNode('Add', [baseOut, `${p}scaled`], [output], {}, `${p}Add`),
  );
  return nodes;
}

/** Conv attributes PEFT's adapter cannot follow: it builds lora_A with the base kernel, stride and padding only. */
function checkConv(t: LoraTarget): void {
  const dilations = attrOf(t.node, 'dilations')?.ints.map(Number) ?? [];
  if (dilations.some((d) => d !== 1)) throw new UserError(`LoRA target '${t.weight}': its Conv '${t.node.name}' is dilated (${dilations}); PEFT's adapter is not, so LoRA cannot adapt it`);
}

/**
 * The model with an adapter beside every target, A and B from `weights` (by module). The source model is not
 * changed. With B zero the adapted model's outputs equal the base model's exactly: base + 0.
 */
export function withAdapters(model: ModelProto, targets: readonly LoraTarget[], settings: LoraSettings, weights: ReadonlyMap<string, AdapterWeights>): ModelProto {
  const adapted = cloneModel(model);
  const graph = adapted.graph;
  const byNode = new Map<string, LoraTarget>();
  for (const t of targets) {
    if (t.kind === 'conv') checkConv(t);
    const key = t.node.output[0];
    if (byNode.has(key)) throw new UserError(`LoRA targets '${byNode.get(key)!.weight}' and '${t.weight}' feed the same node`);
    byNode.set(key, t);
  }
  const nodes: NodeProto[] = [];
  const extra: TensorProto[] = [];
  for (const node of graph.node) {
    const t = byNode.get(node.output[0]);
    nodes.push(node);
    if (!t) continue;
    const output = node.output[0];
    const baseOut = `${t.module}.lora/base`;
    node.output[0] = baseOut;
    nodes.push(...adapterNodes(t, settings, node.input[0], baseOut, output, extra));
    const w = weights.get(t.module);
    if (!w) throw new Error(`no adapter weights for ${t.module}`);
    const dims = adapterDims(t, settings.rank);
    const names = loraNames(t.module);
    extra.push(makeTensor(names.A, DataType.FLOAT, dims.A, w.A), makeTensor(names.B, DataType.FLOAT, dims.B, w.B));
  }
  graph.node = nodes;
  graph.initializer.push(...extra);
  return adapted;
}
