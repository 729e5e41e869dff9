// A plan checked against the model it will train, before anything trains: every glob selects a parameter and
// no parameter sits in two groups of a stage. Errors name the plan file's field, as read-plan.ts's do.
import { matchParameters } from '../optim/groups.js';
import { UserError, nameList } from '../errors.js';
import type { Plan } from '../train/strategies.js';

/** `source`: the plan file (for errors); `model`: the model's file or description. */
export function checkPlanAgainstModel(plan: Plan, names: readonly string[], source: string, model: string): void {
  plan.stages.forEach((stage, s) => {
    const owner = new Map<string, number>();
    stage.groups.forEach((group, g) => {
      const globs = Array.isArray(group.params) ? group.params : [group.params];
      globs.forEach((glob, k) => {
        const path = `stages[${s}].groups[${g}].params${Array.isArray(group.params) ? `[${k}]` : ''}`;
        const matched = matchParameters(glob, names);
        if (matched.length === 0) throw new UserError(`${source}: ${path}: '${glob}' matches no parameter of ${model} (parameters: ${nameList(names, 12)})`);
        for (const name of matched) {
          const other = owner.get(name);
          if (other !== undefined && other !== g) {
            throw new UserError(`${source}: ${path}: '${glob}' selects ${name}, which stages[${s}].groups[${other}] already holds (a parameter belongs to one group of a stage)`);
          }
          owner.set(name, g);
        }
      });
    });
  });
}
