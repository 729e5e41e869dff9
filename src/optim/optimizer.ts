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



export class Optimizer {
  readonly groups: ParamGroup[];
  readonly state = new Map<string, ParamState>();

  constructor(readonly kind: OptimizerKind, specs: readonly GroupSpec[], names: readonly string[], defaults: Partial<Hyperparameters> = {}) {
    this.groups = resolveGroups(specs, names, defaults);
  }

  /** Parameters that any group updates. */
  get parameterNames(): string[] {
    return this.groups.flatMap((g) => g.params);
  }

  /** One update. `params` and `grads` map each parameter name to its (float32) values, updated in place. */
  step(params: ReadonlyMap<string, Float32Array>, grads: ReadonlyMap<string, Float32Array>): void {
    for (const group of this.groups) {
      for (const name of group.params) {
        const p = params.get(name)!, g = grads.get(name)!;
        const state = this.state.get(name) ?? { step: 0 };
        this.state.set(name, state);
        state.step += 1;
        if (this.kind === 'sgd') sgdUpdate(p, g, state, group);
        else adamUpdate(p, g, state, group, this.kind === 'adamw');
      }
    }
  }
}

// torch.optim.Adam / AdamW (single-tensor path): lerp for the first moment, addcmul for the second,
// denom = sqrt(v) / sqrt(1 - beta2^t) + eps, p -= lr / (1 - beta1^t) * m / denom.
function adamUpdate(p: Float32Array, g: Float32Array, state: ParamState, h: ParamGroup, decoupled: boolean): void {
  const m = (state.expAvg ??= new Float32Array(p.length));
  const v = (state.expAvgSq ??= new Float32Array(p.length));
  const [beta1, beta2] = h.betas;
  const t = state.step;
  const stepSize = h.lr / (1 - beta1 ** t);
  const bc2Sqrt = Math.sqrt(1 - beta2 ** t);
  const w1 = Math.fround(1 - beta1), b2 = Math.fround(beta2), w2 = Math.fround(1 - beta2), eps = Math.fround(h.eps);
  const negStep = Math.fround(-stepSize), bc2 = Math.fround(bc2Sqrt), decay = Math.fround(1 - h.lr * h.weightDecay), wd = Math.fround(h.weightDecay);
  const coupledDecay = h.weightDecay !== 0 && !decoupled, decoupledDecay = h.weightDecay !== 0 && decoupled;
  for (let i = 0; i < p.length; i++) {
    let grad = g[i];
    if (decoupledDecay) p[i] = Math.fround(p[i] * decay);
    if (coupledDecay) grad = Math.fround(grad + Math.fround(wd * p[i]));
    m[i] = Math.fround(m[i] + Math.fround(w1 * Math.fround(grad - m[i])));
    v[i] = Math.fround(Math.fround(v[i] * b2) + Math.fround(Math.fround(w2 * grad) * grad));
    const denom = Math.fround(Math.fround(Math.sqrt(v[i]) / bc2) + eps);
    p[i] = Math.fround(p[i] + Math.fround(Math.fround(negStep * m[i]) / denom));
  }
}

// torch.optim.SGD: weight decay into the gradient, momentum buffer seeded with the first gradient,
// nesterov looks ahead by momentum * buffer.
function sgdUpdate(p: Float32Array, g: Float32Array, state: ParamState, h: ParamGroup): void {
  const wd = Math.fround(h.weightDecay), mu = Math.fround(h.momentum), damp = Math.fround(1 - h.dampening), negLr = Math.fround(-h.lr);
  const first = state.momentumBuffer === undefined;
  const buf = h.momentum !== 0 ? (state.momentumBuffer ??= new Float32Array(p.length)) : undefined;
  const decay = h.weightDecay !== 0;
  for (let i = 0; i < p.length; i++) {
    let d = decay ? Math.fround(g[i] + Math.fround(wd * p[i])) : g[i];
    if (buf) {
      buf[i] = first ? d : Math.fround(Math.fround(buf[i] * mu) + Math.fround(damp * d));
      d = h.nesterov ? Math.fround(d + Math.fround(mu * buf[i])) : buf[i];
    }
    p[i] = Math.fround(p[i] + Math.fround(negLr * d));
  }
}
