// The learning-rate finder (fastai's lr_find, Lightning's Tuner.lr_find): a short run on a copy of the
// parameters with the learning rate rising exponentially from startLr to endLr, one value per step (fastai's
// exp_annealer: start × (end/start)^(i/steps), every group at the same rate). Each step's loss is smoothed
// as both do (exponential moving average, beta 0.98, debiased); the run stops once the smoothed loss passes
// 4× the best so far (both use 4) or a loss is not finite. The suggestion is Lightning's rule: the point of
// steepest descent of the smoothed loss, np.gradient over the points less the first 10 and the last one.
import type { ModelProto } from '../onnx/proto.js';
import type { Dataset } from '../data/dataset.js';
import { runningStatistics } from '../artifacts/batch-norm-mode.js';
import { UserError } from '../errors.js';
import { StageRunner } from './stage-runner.js';
import type { Stage } from './strategies.js';
import { initialParameters, type TrainConfig } from './trainer.js';
import { Rng } from './rng.js';
import { batchStarts } from './batches.js';

export interface LrFindOptions {
  startLr: number;
  endLr: number;
  /** Steps (batches) at most. */
  steps: number;
}

export const LR_FIND_DEFAULTS: LrFindOptions = { startLr: 1e-7, endLr: 10, steps: 100 };
const BETA = 0.98, DIVERGENCE = 4, SKIP_BEGIN = 10, SKIP_END = 1;

export interface LrFindPoint {
  step: number;
  lr: number;
  loss: number;
  smoothedLoss: number;
}

export interface LrFindResult {
  points: LrFindPoint[];
  /** The suggested learning rate; undefined when too few points were left (the run diverged early). */
  suggestion?: number;
  /** Why the run ended before `steps`: the smoothed loss passed 4× its best, or a loss was not finite. */
  stopped?: 'diverged' | 'non-finite';
}

/** Runs the finder on the parameters `stage.groups` select; the model's own parameters are left as they are. */
export async function findLearningRate(model: ModelProto, stage: Stage, data: Dataset, config: TrainConfig, options: LrFindOptions = LR_FIND_DEFAULTS): Promise<LrFindResult> {
  const { startLr, endLr, steps } = options;
  if (!(startLr > 0 && endLr > startLr && Number.isFinite(endLr))) throw new UserError(`lr-find: the end learning rate (${endLr}) must be above the start (${startLr}), both positive`);
  if (!(Number.isSafeInteger(steps) && steps >= 2)) throw new UserError(`lr-find: steps must be a whole number >= 2, got ${steps}`);
  const parameters = new Map([...initialParameters(model)].map(([name, v]) => [name, v.slice()]));
  const rng = new Rng(config.seed >>> 0);
  const runner = await StageRunner.create(model, parameters, stage, data, config, new Rng((config.seed ^ 0x9e3779b9) >>> 0), runningStatistics(model.graph));
  const starts = batchStarts(data.count, config.batchSize);
  const order = Int32Array.from({ length: data.count }, (_, i) => i);
  const points: LrFindPoint[] = [];
  let average = 0, best = Infinity, stopped: LrFindResult['stopped'];
  try {
    for (let i = 0; i < steps; i++) {
      const batch = i % starts.length, epoch = Math.floor(i / starts.length);
      if (batch === 0 && config.shuffle) rng.permutation(order.length, order);
      const lr = startLr * (endLr / startLr) ** (i / steps);
      for (const group of runner.groups) group.lr = lr;
      const { loss, skipped } = await runner.step(order, starts[batch], Math.min(starts[batch] + config.batchSize, order.length), 'skip-batch', epoch, { index: i, last: true });
      if (skipped) {
        stopped = 'non-finite';
        break;
      }
      average = BETA * average + (1 - BETA) * loss;
      const smoothedLoss = average / (1 - BETA ** (i + 1));
      points.push({ step: i + 1, lr, loss, smoothedLoss });
      best = Math.min(best, smoothedLoss);
      if (i > 0 && smoothedLoss > DIVERGENCE * best) {
        stopped = 'diverged';
        break;
      }
      config.signal?.throwIfAborted();
    }
  } finally {
    await runner.release();
  }
  return { points, suggestion: steepestDescent(points), ...(stopped ? { stopped } : {}) };
}

/** Lightning's suggestion: argmin of np.gradient of the smoothed losses, the first 10 and the last point left out. */
export function steepestDescent(points: readonly LrFindPoint[]): number | undefined {
  const kept = points.slice(SKIP_BEGIN, points.length - SKIP_END);
  if (kept.length < 2) return undefined;
  const y = kept.map((p) => p.smoothedLoss), n = y.length;
  // np.gradient: one-sided at the ends, central inside.
  const gradient = y.map((_, i) => (i === 0 ? y[1] - y[0] : i === n - 1 ? y[n - 1] - y[n - 2] : (y[i + 1] - y[i - 1]) / 2));
  let steepest = 0;
  for (let i = 1; i < n; i++) if (gradient[i] < gradient[steepest]) steepest = i;
  return kept[steepest].lr;
}
