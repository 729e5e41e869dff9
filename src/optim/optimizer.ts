// The optimizer layer: PyTorch's update rules over parameter groups, state keyed by parameter name.
// Arithmetic is rounded to float32 at every step, as PyTorch computes on float32 tensors; Python-side
// scalars (bias corrections, step size) stay in double precision until they meet a tensor, as in PyTorch.
import { resolveGroups, type GroupSpec, type Hyperparameters, type ParamGroup } from './groups.js';

export type OptimizerKind = 'adam' | 'adamw' | 'sgd';
export const OPTIMIZERS: readonly OptimizerKind[] = ['adam', 'adamw', 'sgd'];

/** Per-parameter state: Adam's moments or SGD's momentum buffer, and the step count. */
export interface ParamState {
  step: number;
  expAvg?: Float32Array;
  expAvgSq?: Float32Array;
  momentumBuffer?: Float32Array;
}

/** Runs one update for every parameter of the optimizer at once (adam-kernel.ts); else the JavaScript loops do. */
export interface UpdateKernel {
  step(optimizer: Optimizer, params: ReadonlyMap<string, Float32Array>, grads: ReadonlyMap<string, Float32Array>): void;
  release(): Promise<void>;
}

export class Optimizer {
  readonly groups: ParamGroup[];
  readonly state = new Map<string, ParamState>();
  /** Set for large models, where the per-element JavaScript loop would cost more than the GEMMs. */
  kernel?: UpdateKernel;

  /** Parameters that any group updates (the groups' parameters are fixed once resolved; read every step). */
  readonly parameterNames: readonly string[];

  constructor(readonly kind: OptimizerKind, specs: readonly GroupSpec[], names: readonly string[], defaults: Partial<Hyperparameters> = {}) {
    this.groups = resolveGroups(specs, names, defaults);
    this.parameterNames = this.groups.flatMap((g) => g.params);
  }

  /** One update. `params` and `grads` map each parameter name to its (float32) values, updated in place. */
  step(params: ReadonlyMap<string, Float32Array>, grads: ReadonlyMap<string, Float32Array>): void {
    for (const name of this.parameterNames) {
      const state = this.state.get(name) ?? { step: 0 };
      this.state.set(name, state);
      state.step += 1;
    }
    if (this.kernel) return this.kernel.step(this, params, grads);
    for (const group of this.groups) {
      for (const name of group.params) {
        const p = params.get(name)!, g = grads.get(name)!, state = this.state.get(name)!;
        if (this.kind === 'sgd') sgdUpdate(p, g, state, group);
        else adamUpdate(p, g, state, group, this.kind === 'adamw');
      }
    }
  }
}

/** Adam's per-step constants for a group, rounded to float32 where they meet a float32 tensor. */
export function adamScalars(h: Hyperparameters, t: number) {
  const [beta1, beta2] = h.betas;
  return {
    w1: Math.fround(1 - beta1), b2: Math.fround(beta2), w2: Math.fround(1 - beta2), eps: Math.fround(h.eps),
    wd: Math.fround(h.weightDecay), decay: Math.fround(1 - h.lr * h.weightDecay),
    // Python-side scalars in torch: computed in double, then rounded as they multiply a tensor.
    negStep: Math.fround(-(h.lr / (1 - beta1 ** t))), bc2: Math.fround(Math.sqrt(1 - beta2 ** t)),
  };
}

// torch.optim.Adam / AdamW (single-tensor path): lerp for the first moment, addcmul for the second,
// denom = sqrt(v) / sqrt(1 - beta2^t) + eps, p -= lr / (1 - beta1^t) * m / denom. PyTorch's CPU kernels
// compute lerp and add(…, alpha) as one fused multiply-add: `fround(a + b * c)` rounds once the same way
// (a float32 product is exact in a double). adam-kernel.wat does the same operations in the same order.
function adamUpdate(p: Float32Array, g: Float32Array, state: ParamState, h: ParamGroup, decoupled: boolean): void {
  const m = (state.expAvg ??= new Float32Array(p.length));
  const v = (state.expAvgSq ??= new Float32Array(p.length));
  const { w1, b2, w2, eps, wd, decay, negStep, bc2 } = adamScalars(h, state.step);
  const coupledDecay = h.weightDecay !== 0 && !decoupled, decoupledDecay = h.weightDecay !== 0 && decoupled;
  for (let i = 0; i < p.length; i++) {
    let grad = g[i];
    if (decoupledDecay) p[i] = Math.fround(p[i] * decay);
    if (coupledDecay) grad = Math.fround(grad + wd * p[i]);
    m[i] = Math.fround(m[i] + w1 * Math.fround(grad - m[i]));
    v[i] = Math.fround(Math.fround(v[i] * b2) + Math.fround(Math.fround(w2 * grad) * grad));
    const denom = Math.fround(Math.fround(Math.fround(Math.sqrt(v[i])) / bc2) + eps);
    p[i] = Math.fround(p[i] + Math.fround(Math.fround(negStep * m[i]) / denom));
  }
}

// torch.optim.SGD: weight decay into the gradient, momentum buffer seeded with the first gradient,
// nesterov looks ahead by momentum * buffer. Each add(…, alpha) is a fused multiply-add, as above.
function sgdUpdate(p: Float32Array, g: Float32Array, state: ParamState, h: ParamGroup): void {
  const wd = Math.fround(h.weightDecay), mu = Math.fround(h.momentum), damp = Math.fround(1 - h.dampening), negLr = Math.fround(-h.lr);
  const first = state.momentumBuffer === undefined;
  const buf = h.momentum !== 0 ? (state.momentumBuffer ??= new Float32Array(p.length)) : undefined;
  const decay = h.weightDecay !== 0;
  for (let i = 0; i < p.length; i++) {
    let d = decay ? Math.fround(g[i] + wd * p[i]) : g[i];
    if (buf) {
      buf[i] = first ? d : Math.fround(Math.fround(buf[i] * mu) + damp * d);
      d = h.nesterov ? Math.fround(d + mu * buf[i]) : buf[i];
    }
    p[i] = Math.fround(p[i] + negLr * d);
  }
}
