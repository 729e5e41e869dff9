// What a learning-rate schedule is, as data (a plan file's `schedule:` field and --schedule build one).
// Every schedule is stepped once per optimizer update and follows torch.optim.lr_scheduler (or Hugging Face's
// get_*_schedule_with_warmup) numerically. Lengths are in optimizer updates; where a length is left out it is
// the stage's number of updates. `warmupRatio` is a fraction of the stage's updates, as Hugging Face's warmup_ratio.
export type ScheduleSpec =
  | { kind: 'constant' }
  /** LinearLR from startFactor to 1 over the warmup, then constant. */
  | { kind: 'warmup'; warmupSteps?: number; warmupRatio?: number; startFactor?: number }
  /** torch.optim.lr_scheduler.LinearLR. */
  | { kind: 'linear'; startFactor?: number; endFactor?: number; totalSteps?: number }
  /** torch.optim.lr_scheduler.CosineAnnealingLR. */
  | { kind: 'cosine'; tMax?: number; etaMin?: number }
  /** torch.optim.lr_scheduler.OneCycleLR (its momentum cycling moves Adam's beta1, as PyTorch's does). */
  | {
    kind: 'onecycle'; maxLr?: number; totalSteps?: number; pctStart?: number; annealStrategy?: 'cos' | 'linear';
    divFactor?: number; finalDivFactor?: number; threePhase?: boolean; cycleMomentum?: boolean; baseMomentum?: number; maxMomentum?: number;
  }
  /** torch.optim.lr_scheduler.StepLR. */
  | { kind: 'step'; stepSize: number; gamma?: number }
  /** transformers.get_cosine_schedule_with_warmup. */
  | { kind: 'warmup-cosine'; warmupSteps?: number; warmupRatio?: number; numCycles?: number }
  /** transformers.get_linear_schedule_with_warmup. */
  | { kind: 'warmup-linear'; warmupSteps?: number; warmupRatio?: number };

export type ScheduleKind = ScheduleSpec['kind'];
export const SCHEDULE_KINDS: readonly ScheduleKind[] = ['constant', 'warmup', 'linear', 'cosine', 'onecycle', 'step', 'warmup-cosine', 'warmup-linear'];
