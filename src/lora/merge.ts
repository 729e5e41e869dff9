// Folding trained adapters into their weights, as PEFT's merge_and_unload does: W + (B·A)·scaling in float32,
// laid out as the exporter laid W out. The result is the plain source model: no adapter nodes, no A or B.
import type { ModelProto } from '../onnx/proto.js';
import { inferenceModel } from '../artifacts/build.js';
import { inEvalMode } from '../artifacts/dropout-masks.js';
import { loraNames, loraScaling, type LoraSettings } from './adapters.js';
import type { LoraTarget } from './targets.js';

/**
 * (B·A)·scaling as PyTorch's weight holds it, [out, in·k…] row-major: Σ over the rank in float64, then
 * rounded to float32 once, then scaled in float32 (PEFT: `(B @ A) * scaling`).
 */
export function deltaWeight(A: Float32Array, B: Float32Array, rank: number, scaling: number): Float32Array {
  const out = B.length / rank;
  const fanIn = A.length / rank;
  const delta = new Float32Array(out * fanIn);
  const s = Math.fround(scaling);
  for (let o = 0; o < out; o++) {
    for (let i = 0; i < fanIn; i++) {
      let sum = 0;
      for (let r = 0; r < rank; r++) sum += B[o * rank + r] * A[r * fanIn + i];
      delta[o * fanIn + i] = Math.fround(sum) * s;
    }
  }
  return delta;
}

/** The merged weight of one target, in the initializer's layout ([in, out] where the exporter transposed W). */
export function mergedWeight(t: LoraTarget, W: Float32Array, A: Float32Array, B: Float32Array, settings: LoraSettings): Float32Array {
  const delta = deltaWeight(A, B, settings.rank, loraScaling(settings));
  const merged = new Float32Array(W.length);
  if (t.layout === 'out-in') {
    for (let k = 0; k < W.length; k++) merged[k] = W[k] + delta[k];
    return merged;
  }
  const [rows, cols] = [t.inFeatures, t.outFeatures]; // W is [in, out]; delta is [out, in]
  for (let i = 0; i < rows; i++) for (let o = 0; o < cols; o++) merged[i * cols + o] = W[i * cols + o] + delta[o * rows + i];
  return merged;
}

/**
 * The source model with the trained values: each target's weight merged with its adapter, every other trained
 * parameter (the head) and buffer as training left it. `values` are the adapted model's parameters and buffers.
 */
export function mergedModel(base: ModelProto, targets: readonly LoraTarget[], settings: LoraSettings, values: ReadonlyMap<string, Float32Array>): ModelProto {
  const own = new Set(base.graph.initializer.map((t) => t.name));
  const kept = new Map([...values].filter(([name]) => own.has(name)));
  for (const t of targets) {
    const names = loraNames(t.module);
    kept.set(t.weight, mergedWeight(t, values.get(t.weight)!, values.get(names.A)!, values.get(names.B)!, settings));
  }
  return inEvalMode(inferenceModel(base, kept));
}
