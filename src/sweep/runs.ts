// The sweep's runs: every combination of the grid, each with `random.runs` draws of the random options, and
// the settings of each checked against its command's options (names with a near miss, numbers by their rule),
// so that a typo fails the sweep before any run starts rather than every run one by one.
import { createHash } from 'node:crypto';
import { isAbsolute, resolve } from 'node:path';
import { UserError } from '../errors.js';
import { nearestName } from '../plan/near-miss.js';
import { COMMON_OPTIONS, STRATEGY_OPTIONS, readNumber } from '../cli/options.js';
import { COMMANDS, type CommandKey } from '../cli/run.js';
import { seededRandom } from './random.js';
import type { Distribution, Scalar, SweepFile } from './sweep-file.js';

export interface SweepRun {
  /** The run's folder under the sweep's --out: its number and a digest of its settings. */
  name: string;
  /** The CLI command (full-finetune, run). */
  command: string;
  /** What varies between runs: the grid's and the random search's values, by field name. */
  settings: Record<string, Scalar>;
  /** Every option of the run (fixed and varied), by option name without --. */
  options: Record<string, Scalar>;
  /** plan.<path> fields set in the run's plan file. */
  planFields: Record<string, Scalar>;
}

/** Options the sweep sets itself for each run. */
const MANAGED = ['out', 'resume', 'overwrite', 'json'];
/** Options that name files: relative paths are the sweep file's folder's, made absolute for every worker. */
const PATH_OPTIONS = ['model', 'backbone', 'train', 'test', 'val', 'train-labels', 'test-labels', 'tokenizer'];
const PLAN_PREFIX = 'plan.';

export function sweepRuns(sweep: SweepFile): SweepRun[] {
  const points = gridPoints(sweep.grid);
  const draw = sweep.random ? seededRandom(sweep.random.seed) : undefined;
  const runs: SweepRun[] = [];
  for (const point of points) {
    for (let r = 0; r < (sweep.random?.runs ?? 1); r++) {
      const drawn = sweep.random ? Object.fromEntries(Object.entries(sweep.random.options).map(([name, d]) => [name, sample(d, draw!)])) : {};
      runs.push(makeRun(sweep, { ...point, ...drawn }, runs.length));
    }
  }
  return runs;
}

function gridPoints(grid: Record<string, Scalar[]>): Record<string, Scalar>[] {
  let points: Record<string, Scalar>[] = [{}];
  for (const [name, values] of Object.entries(grid)) points = points.flatMap((p) => values.map((v) => ({ ...p, [name]: v })));
  return points;
}

function sample(d: Distribution, random: () => number): Scalar {
  const u = random();
  switch (d.kind) {
    case 'choice':
      return d.values[Math.floor(u * d.values.length)];
    case 'int':
      return d.low + Math.floor(u * (d.high - d.low + 1));
    // Four significant digits: the value on the command line, in the folder's digest and in sweep.csv is the one trained with.
    case 'uniform':
      return Number((d.low + u * (d.high - d.low)).toPrecision(4));
    case 'log_uniform':
      return Number(Math.exp(Math.log(d.low) + u * (Math.log(d.high) - Math.log(d.low))).toPrecision(4));
  }
}

function makeRun(sweep: SweepFile, varied: Record<string, Scalar>, index: number): SweepRun {
  const all = { ...sweep.fixed, ...varied };
  const command = String(all.command);
  const options: Record<string, Scalar> = {};
  const planFields: Record<string, Scalar> = {};
  for (const [name, value] of Object.entries(all)) {
    if (name === 'command') continue;
    if (name.startsWith(PLAN_PREFIX)) planFields[name.slice(PLAN_PREFIX.length)] = value;
    else options[name] = PATH_OPTIONS.includes(name) && typeof value === 'string' && !isAbsolute(value) ? resolve(sweep.base, value) : value;
  }
  const digest = createHash('sha256').update(JSON.stringify([command, options, planFields])).digest('hex').slice(0, 8);
  return { name: `${String(index + 1).padStart(3, '0')}-${digest}`, command, settings: varied, options, planFields };
}

/** Where a field was given, for errors: options.lr, grid.lr, random.options.lr. */
function whereOf(sweep: SweepFile, name: string): string {
  if (name in sweep.grid) return `grid.${name}`;
  if (sweep.random && name in sweep.random.options) return `random.options.${name}`;
  return name === 'command' ? 'command' : `options.${name}`;
}

const COMMAND_KEYS = Object.fromEntries(Object.entries(COMMANDS).map(([key, name]) => [name, key as CommandKey]));

/** Every run's command, option names and number values, and its plan fields' paths, checked. */
export function checkRuns(sweep: SweepFile, runs: SweepRun[]): void {
  if (runs.length === 0) throw new UserError(`${sweep.path}: the sweep has no runs`);
  const source = sweep.path;
  for (const run of runs) {
    const key = run.command === 'run' ? 'run' : COMMAND_KEYS[run.command];
    if (key === undefined || key === 'compare') {
      const choices = Object.values(COMMANDS).filter((c) => c !== 'compare');
      const near = nearestName(run.command, choices);
      throw new UserError(`${source}: ${whereOf(sweep, 'command')}: '${run.command}' is not a strategy command${key === 'compare' ? ' (sweep the strategies themselves)' : ''}${near && key !== 'compare' ? ` (did you mean ${near}?)` : ''} (commands: ${choices.join(', ')}; or plan: a plan file)`);
    }
    const table = { ...COMMON_OPTIONS, ...(key === 'run' ? {} : STRATEGY_OPTIONS[key]) };
    for (const [name, value] of Object.entries(run.options)) {
      const where = whereOf(sweep, name);
      if (MANAGED.includes(name)) throw new UserError(`${source}: ${where}: set by the sweep itself (each run's folder is under the sweep's --out)`);
      if (!(name in table)) {
        const near = nearestName(name, Object.keys(table));
        throw new UserError(`${source}: ${where}: unknown option of ${run.command}${near ? ` (did you mean ${near}?)` : ''}`);
      }
      if ('kind' in table[name as keyof typeof table]) {
        try {
          readNumber({ [name]: value }, name, table);
        } catch (e) {
          throw new UserError(`${source}: ${where}: ${(e as Error).message.replace(`--${name}`, '').replace(/^[:\s]+/, '')}`);
        }
      } else if (typeof value === 'boolean' && (table[name as keyof typeof table] as { type?: string }).type !== 'boolean') {
        throw new UserError(`${source}: ${where}: --${name} takes a value, not ${value}`);
      }
    }
    for (const path of Object.keys(run.planFields)) {
      if (!sweep.plan) throw new UserError(`${source}: ${whereOf(sweep, PLAN_PREFIX + path)}: plan fields need a plan: file`);
      planFieldParent(sweep.plan.document, path, `${source}: ${whereOf(sweep, PLAN_PREFIX + path)}`);
    }
  }
}

/** The object holding a plan field, and the field's key in it; the path must name a field the plan has. */
export function planFieldParent(document: Record<string, unknown>, path: string, where: string): { parent: Record<string, unknown> | unknown[]; key: string } {
  const parts = path.split('.');
  let node: unknown = document;
  for (const [i, part] of parts.entries()) {
    const last = i === parts.length - 1;
    if (Array.isArray(node)) {
      const index = Number(part);
      if (!Number.isInteger(index) || index < 0 || index >= node.length) throw new UserError(`${where}: the plan's ${parts.slice(0, i).join('.')} has no item ${part} (items 0 to ${node.length - 1})`);
      if (last) return { parent: node, key: part };
      node = node[index];
    } else if (typeof node === 'object' && node !== null) {
      const record = node as Record<string, unknown>;
      if (!(part in record) && !last) {
        const near = nearestName(part, Object.keys(record));
        throw new UserError(`${where}: the plan has no ${parts.slice(0, i + 1).join('.')}${near ? ` (did you mean ${near}?)` : ''}`);
      }
      if (last) return { parent: record, key: part };
      node = record[part];
    } else {
      throw new UserError(`${where}: the plan's ${parts.slice(0, i).join('.')} is a value, not a mapping or list`);
    }
  }
  throw new UserError(`${where}: empty plan field path`);
}
