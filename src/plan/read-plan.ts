// A plan file (YAML or JSON) read into the Plan type, each field checked where it stands: every error is one
// line naming the file and the field's path, `plan.yaml: stages[1].groups[0].lr: must be a positive number,
// got -0.1`. What needs the model (globs that match, groups that overlap) is check-plan.ts's.
import { basename, extname } from 'node:path';
import { UserError, clip } from '../errors.js';
import { readTextFile } from '../runtime/files.js';
import { parseDocument } from './document.js';
import { PLAN_NAME, type Plan, type Stage } from '../train/strategies.js';
import type { GroupSpec } from '../optim/groups.js';
import type { ScheduleSpec } from '../optim/schedule-spec.js';
import { SCHEDULE_KINDS, type ScheduleKind } from '../optim/schedule-spec.js';
import { GROUP_FIELDS, PLAN_FIELDS, SCHEDULE_FIELDS, STAGE_FIELDS, type Fields, type Rule } from './schema.js';
import { nearestName } from './near-miss.js';

/** Plan files are small: a larger file is not one. */
const MAX_PLAN_BYTES = 1 << 20;

/** Reads and checks a plan file; its name defaults to the file's (ulmfit.yaml: ulmfit). */
export function readPlanFile(path: string): Plan {
  const text = readTextFile(path, 'plan file', { limit: MAX_PLAN_BYTES });
  const fallback = basename(path, extname(path));
  return parsePlan(text, path, PLAN_NAME.test(fallback) ? fallback : undefined);
}

/** A plan from YAML (or JSON, which YAML 1.2 reads too) text; `source` names it in errors. */
export function parsePlan(text: string, source: string, defaultName?: string): Plan {
  return readPlan(parseDocument(text, source), source, defaultName);
}

/** The plan in a parsed document; the paths in errors are the file's own (snake_case) names. */
export function readPlan(value: unknown, source: string, defaultName?: string): Plan {
  const fail = (path: string, message: string) => new UserError(`${source}: ${path ? `${path}: ` : ''}${message}`);
  const read = (value: unknown, path: string, rule: Rule): unknown => readValue(value, path, rule, fail);
  const plan = readRecord(value, '', PLAN_FIELDS, read, fail) as { strategy?: string; stages: Stage[] };
  const strategy = plan.strategy ?? defaultName;
  if (strategy === undefined) throw fail('name', `is missing: the plan's name (it names the output files: <name>.onnx, <name>.json)`);
  return { strategy, stages: plan.stages };
}

type Read = (value: unknown, path: string, rule: Rule) => unknown;
type Fail = (path: string, message: string) => UserError;

/** An object's fields by the table: unknown ones refused (with the near miss), required ones present. */
function readRecord(value: unknown, path: string, fields: Fields, read: Read, fail: Fail, skip: string[] = []): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw fail(path, `must be a mapping of fields (${Object.keys(fields).join(', ')}), got ${show(value)}`);
  const given = value as Record<string, unknown>;
  const at = (name: string) => (path ? `${path}.${name}` : name);
  for (const name of Object.keys(given)) {
    if (Object.hasOwn(fields, name) || skip.includes(name)) continue;
    const near = nearestName(name, [...Object.keys(fields), ...skip]);
    throw fail(at(clip(name)), `unknown field (${near ? `did you mean ${near}?` : `fields: ${[...Object.keys(fields), ...skip].join(', ')}`})`);
  }
  const out: Record<string, unknown> = {};
  for (const [name, f] of Object.entries(fields)) {
    const v = given[name];
    if (v === undefined) {
      if (f.required) throw fail(at(name), `is missing: must be ${f.rule.want}`);
      continue;
    }
    out[f.key] = read(v, at(name), f.rule);
  }
  return out;
}

function readValue(value: unknown, path: string, rule: Rule, fail: Fail): unknown {
  const read: Read = (v, p, r) => readValue(v, p, r, fail);
  const wrong = () => fail(path, `must be ${rule.want}, got ${show(value)}`);
  switch (rule.type) {
    case 'number':
      if (typeof value !== 'number' || !rule.ok(value)) throw wrong();
      return value;
    case 'boolean':
      if (typeof value !== 'boolean') throw wrong();
      return value;
    case 'choice':
      if (typeof value !== 'string' || !rule.choices.includes(value)) throw wrong();
      return value;
    case 'name':
      if (typeof value !== 'string' || !PLAN_NAME.test(value)) throw wrong();
      return value;
    case 'globs': {
      const globs = Array.isArray(value) ? value : [value];
      if (globs.length === 0) throw fail(path, 'is an empty list: must name at least one glob');
      globs.forEach((g, i) => {
        if (typeof g !== 'string' || g.trim() === '') throw fail(Array.isArray(value) ? `${path}[${i}]` : path, `must be a glob over parameter names (e.g. 'head.*'), got ${show(g)}`);
      });
      return value;
    }
    case 'betas':
      if (!Array.isArray(value) || value.length !== 2 || value.some((b) => typeof b !== 'number' || !(b >= 0 && b < 1))) throw wrong();
      return [value[0], value[1]];
    case 'stages':
      if (!Array.isArray(value) || value.length === 0) throw fail(path, `must be a non-empty list of stages, got ${show(value)}`);
      return value.map((stage, i) => {
        const s = readRecord(stage, `${path}[${i}]`, STAGE_FIELDS, read, fail);
        return { name: `stage${i + 1}`, ...s };
      });
    case 'groups':
      if (!Array.isArray(value) || value.length === 0) throw fail(path, `must be a non-empty list of parameter groups, got ${show(value)}`);
      return value.map((group, i) => readRecord(group, `${path}[${i}]`, GROUP_FIELDS, read, fail) as unknown as GroupSpec);
    case 'schedule':
      return readSchedule(value, path, read, fail);
  }
}

function readSchedule(value: unknown, path: string, read: Read, fail: Fail): ScheduleSpec {
  const kind = (value as Record<string, unknown> | null)?.kind;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw fail(path, `must be a mapping with a kind (${SCHEDULE_KINDS.join(', ')}), got ${show(value)}`);
  if (!SCHEDULE_KINDS.includes(kind as ScheduleKind)) {
    const near = typeof kind === 'string' ? nearestName(kind, SCHEDULE_KINDS) : undefined;
    throw fail(`${path}.kind`, `must be one of ${SCHEDULE_KINDS.join(', ')}, got ${show(kind)}${near ? ` (did you mean ${near}?)` : ''}`);
  }
  const fields = SCHEDULE_FIELDS[kind as ScheduleKind];
  const spec = { kind, ...readRecord(value, path, fields, read, fail, ['kind']) } as Record<string, unknown>;
  if (spec.warmupSteps !== undefined && spec.warmupRatio !== undefined) throw fail(`${path}.warmup_ratio`, 'and warmup_steps both give the warmup\'s length: give one of them');
  return spec as ScheduleSpec;
}

/** A value as an error quotes it: short and on one line. */
function show(value: unknown): string {
  if (value === undefined || value === null) return 'nothing';
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return `'${clip(value)}'`;
  return clip(JSON.stringify(value) ?? String(value));
}
