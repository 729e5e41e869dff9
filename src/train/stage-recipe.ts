// A stage's optimizer-level recipe (schedule, gradient clipping, accumulation) checked before anything trains:
// one UserError naming the stage and the field.
import { UserError } from '../errors.js';
import { checkSchedule } from '../optim/schedules.js';
import type { Stage } from './strategies.js';
import { stageUpdates } from './updates.js';

/** With `batches` (per epoch) the schedule's lengths are checked against the stage's updates too. */
export function checkStageRecipe(stage: Stage, batches?: number): void {
  const where = `stage '${stage.name}'`;
  if (stage.clipNorm !== undefined && !(typeof stage.clipNorm === 'number' && stage.clipNorm > 0 && Number.isFinite(stage.clipNorm))) {
    throw new UserError(`${where} clipNorm must be a positive number, got ${JSON.stringify(stage.clipNorm)}`);
  }
  if (stage.accumulate !== undefined && !(Number.isSafeInteger(stage.accumulate) && stage.accumulate >= 1)) {
    throw new UserError(`${where} accumulate must be a positive whole number of batches, got ${JSON.stringify(stage.accumulate)}`);
  }
  if (stage.schedule !== undefined) checkSchedule(stage.schedule, `${where} schedule`, batches === undefined ? undefined : stageUpdates(stage, batches));
}
