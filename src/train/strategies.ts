// A strategy is data: a plan of stages, each naming the parameter groups it trains (globs and learning
// rates) and for how many epochs. Each stage starts a fresh optimizer, as the seed notebook does.
import type { GroupSpec } from '../optim/groups.js';
import type { OptimizerKind } from '../optim/optimizer.js';
import type { ScheduleSpec } from '../optim/schedule-spec.js';
import type { BatchNormMode } from '../artifacts/batch-norm-mode.js';

/** The strategies that are plans over any model's parameters (compare runs them all). */
export type BuiltInStrategy = 'linear_probe' | 'partial_unfreeze' | 'full_fine_tune';
export const STRATEGIES: readonly BuiltInStrategy[] = ['linear_probe', 'partial_unfreeze', 'full_fine_tune'];
// lora: low-rank adapters beside chosen weights, trained with the head; its plan needs the model (src/lora/lora.ts).
export type StrategyKey = BuiltInStrategy | 'lora';
/** Every strategy whose results or checkpoints a run folder may hold. */
export const RESULT_STRATEGIES: readonly StrategyKey[] = [...STRATEGIES, 'lora'];

export interface Stage {
  name: string;
  /** Each group's globs and its own hyperparameters (lr, weightDecay, betas, …); the rest come from the run's settings. */
  groups: GroupSpec[];
  epochs: number;
  /** What this stage sets for itself; where left out, the run's settings (TrainConfig) hold. */
  optimizer?: OptimizerKind;
  batchNorm?: BatchNormMode;
  /** The learning rate over the stage's updates, per group (default: constant). */
  schedule?: ScheduleSpec;
  /** clip_grad_norm_ over the stage's trainable parameters before each update. */
  clipNorm?: number;
  /** Batches per optimizer update (gradient accumulation; default 1). */
  accumulate?: number;
}

export interface Plan {
  /** The plan's name: a built-in strategy's key, or a plan file's name. It names the run's output files (<name>.onnx). */
  strategy: string;
  stages: Stage[];
}

/** A plan's name (it names the output files, <name>.onnx): letters, digits, _ . -, starting with a letter or digit. */
export const PLAN_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export const DEFAULT_HEAD = 'head.*';

export function linearProbe(o: { lr: number; epochs: number; head?: string }): Plan {
  return { strategy: 'linear_probe', stages: [{ name: 'head', groups: [{ params: o.head ?? DEFAULT_HEAD, lr: o.lr }], epochs: o.epochs }] };
}

export function partialUnfreeze(o: { headLr: number; headEpochs: number; unfreeze: string; backboneLr: number; epochs: number; head?: string }): Plan {
  const head = o.head ?? DEFAULT_HEAD;
  return {
    strategy: 'partial_unfreeze',
    stages: [
      { name: 'head', groups: [{ params: head, lr: o.headLr }], epochs: o.headEpochs },
      { name: 'unfrozen', groups: [{ params: head, lr: o.headLr }, { params: o.unfreeze, lr: o.backboneLr }], epochs: o.epochs },
    ],
  };
}

export function fullFineTune(o: { lr: number; epochs: number }): Plan {
  return { strategy: 'full_fine_tune', stages: [{ name: 'all', groups: [{ params: '*', lr: o.lr }], epochs: o.epochs }] };
}

/** The seed notebook's hyperparameters. */
export const NOTEBOOK_DEFAULTS = {
  linear_probe: { lr: 1e-2, epochs: 10 },
  partial_unfreeze: { headLr: 1e-2, headEpochs: 5, unfreeze: 'backbone.2.*', backboneLr: 1e-3, epochs: 8 },
  full_fine_tune: { lr: 3e-3, epochs: 10 },
} as const;
