import { bceWithLogits } from './bce-with-logits.js';
import { crossEntropy } from './cross-entropy.js';
import type { Loss, LossName } from './loss.js';
import { mse } from './mse.js';

export const LOSSES: Record<LossName, Loss> = { bce: bceWithLogits, ce: crossEntropy, mse };

/** The loss a head implies: one logit is a binary task (BCE), several are classes (cross-entropy). */
export function lossForHead(logitCount: number): Loss {
  return logitCount === 1 ? bceWithLogits : crossEntropy;
}

export type { Loss, LossName } from './loss.js';
