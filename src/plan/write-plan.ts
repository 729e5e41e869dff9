// A Plan written out in the plan file's format (snake_case, YAML): `onnx-finetune plan linear-probe` prints a
// built-in strategy this way, and reading the text back (read-plan.ts) gives the same Plan, field for field.
import { requirePackage } from '../require.js';
import type { Plan } from '../train/strategies.js';
import { GROUP_FIELDS, PLAN_FIELDS, SCHEDULE_FIELDS, STAGE_FIELDS, fileName, type Fields } from './schema.js';

/** The plan as the plain data of a plan file. */
export function planData(plan: Plan): Record<string, unknown> {
  return {
    [fileName(PLAN_FIELDS, 'strategy')]: plan.strategy,
    stages: plan.stages.map((stage) => {
      const { groups, schedule, ...rest } = stage;
      const out = renamed(rest, STAGE_FIELDS);
      out.groups = groups.map((g) => renamed(g, GROUP_FIELDS));
      if (schedule) out.schedule = { kind: schedule.kind, ...renamed(schedule, SCHEDULE_FIELDS[schedule.kind]) };
      // The table's order: name, groups, epochs, then the stage's own settings.
      return Object.fromEntries(Object.keys(STAGE_FIELDS).filter((k) => out[k] !== undefined).map((k) => [k, out[k]]));
    }),
  };
}

/** The plan as YAML, with `comment` (lines) above it. */
export function planYaml(plan: Plan, comment?: string): string {
  const yaml: typeof import('yaml') = requirePackage('yaml');
  const doc = new yaml.Document(planData(plan));
  if (comment) doc.commentBefore = comment.split('\n').map((line) => ` ${line}`).join('\n');
  return doc.toString({ lineWidth: 0 });
}

function renamed(o: object, fields: Fields): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(o)) if (key !== 'kind' && value !== undefined) out[fileName(fields, key)] = value;
  return out;
}
