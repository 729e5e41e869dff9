// A stage's optimizer-level recipe (schedule, gradient clipping, accumulation) checked before anything trains:
// one UserError naming the stage and the field.
import { UserError } from '../errors.js';
import { checkSchedule } from '../optim/schedules.js';
import type { Plan, Stage } from './strategies.js';
import type { ScheduleSpec } from '../optim/schedule-spec.js';
import { layerDecayGroups } from '../optim/layer-decay.js';
import { noDecayGroups } from '../optim/no-decay.js';
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

/** What the train commands' recipe options (--schedule, --lr-decay, …) add to every stage of a plan. */
export interface RecipeOptions {
  schedule?: ScheduleSpec;
  clipNorm?: number;
  accumulate?: number;
  /** Layer-wise lr decay (layer-decay.ts), with the head's glob for depth 0. */
  lrDecay?: { decay: number; head: string };
  /** Globs of the parameters kept out of weight decay (no-decay.ts). */
  noDecay?: string[];
}

/** The plan with the recipe in each stage: groups split by depth and by weight decay, the stage fields set. `names` in graph order (parametersInGraphOrder). */
export function withRecipe(plan: Plan, names: readonly string[], o: RecipeOptions): Plan {
  return {
    ...plan,
    stages: plan.stages.map((stage) => {
      let groups = stage.groups;
      if (o.lrDecay) groups = layerDecayGroups(groups, names, o.lrDecay.decay, o.lrDecay.head);
      if (o.noDecay?.length) groups = noDecayGroups(groups, names, o.noDecay);
      return {
        ...stage, groups,
        ...(o.schedule ? { schedule: o.schedule } : {}), ...(o.clipNorm !== undefined ? { clipNorm: o.clipNorm } : {}), ...(o.accumulate !== undefined ? { accumulate: o.accumulate } : {}),
      };
    }),
  };
}
