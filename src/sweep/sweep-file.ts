// A sweep file (YAML or JSON), read and checked before any run starts: every error is one line naming the
// file and the field, `sweep.yaml: grid.lrr: unknown option of full-finetune (did you mean lr?)`.
//
//   command: full-finetune        # a built-in strategy, a list of them, or `plan: file.yaml` (the run command)
//   options: { epochs: 8 }        # the same for every run: any option of the command, without its --
//   grid: { lr: [0.01, 0.1], seed: [1, 2] }      # every combination
//   random: { runs: 4, seed: 0, options: { lr: { log_uniform: [1e-4, 1e-1] } } }   # drawn, for each grid point
//
// A plan file's fields are swept as `plan.<path>` (plan.stages.1.groups.0.lr), as options are.
import { dirname, isAbsolute, resolve } from 'node:path';
import { UserError } from '../errors.js';
import { readTextFile } from '../runtime/files.js';
import { parseDocument } from '../plan/document.js';
import { nearestName } from '../plan/near-miss.js';

const MAX_SWEEP_BYTES = 1 << 20;

export type Scalar = string | number | boolean;

/** How a random search draws one option's values. */
export type Distribution =
  | { kind: 'uniform'; low: number; high: number }
  | { kind: 'log_uniform'; low: number; high: number }
  | { kind: 'int'; low: number; high: number }
  | { kind: 'choice'; values: Scalar[] };

export interface SweepFile {
  path: string;
  /** The folder relative paths in the file (model, data, plan) are read from. */
  base: string;
  /** The plan file's text, when the sweep trains by one. */
  plan?: { path: string; document: Record<string, unknown> };
  /** Fixed settings, including `command` (a CLI command name). */
  fixed: Record<string, Scalar>;
  grid: Record<string, Scalar[]>;
  random?: { runs: number; seed: number; options: Record<string, Distribution> };
}

export const TOP_FIELDS = ['command', 'plan', 'options', 'grid', 'random'] as const;
const RANDOM_FIELDS = ['runs', 'seed', 'options'];
const DISTRIBUTIONS = ['uniform', 'log_uniform', 'int', 'choice'] as const;

export function readSweepFile(path: string): SweepFile {
  const text = readTextFile(path, 'sweep file', { limit: MAX_SWEEP_BYTES });
  return parseSweep(parseDocument(text, path), path);
}


const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isScalar = (v: unknown): v is Scalar => typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));

function unknownField(source: string, where: string, name: string, known: readonly string[]): UserError {
  const near = nearestName(name, known);
  return new UserError(`${source}: ${where}${name}: unknown field${near ? ` (did you mean ${near}?)` : ` (fields: ${known.join(', ')})`}`);
}

export function parseSweep(value: unknown, source: string): SweepFile {
  if (!isRecord(value)) throw new UserError(`${source}: a sweep file is a mapping of ${TOP_FIELDS.join(', ')}`);
  for (const key of Object.keys(value)) if (!(TOP_FIELDS as readonly string[]).includes(key)) throw unknownField(source, '', key, TOP_FIELDS);
  const base = dirname(resolve(source));
  const fixed: Record<string, Scalar> = {};
  const grid: Record<string, Scalar[]> = {};
  let plan: SweepFile['plan'];
  if (value.plan !== undefined) {
    if (typeof value.plan !== 'string' || value.plan === '') throw new UserError(`${source}: plan: must be the path of a plan file`);
    if (value.command !== undefined && value.command !== 'run') throw new UserError(`${source}: command: a sweep by a plan file runs the run command; leave command out`);
    const path = isAbsolute(value.plan) ? value.plan : resolve(base, value.plan);
    const document = parseDocument(readTextFile(path, 'plan file', { limit: MAX_SWEEP_BYTES }), path);
    if (!isRecord(document)) throw new UserError(`${path}: not a plan (a mapping with stages)`);
    plan = { path, document };
    fixed.command = 'run';
  } else if (Array.isArray(value.command)) {
    grid.command = values(value.command, source, 'command');
  } else if (value.command !== undefined) {
    if (typeof value.command !== 'string') throw new UserError(`${source}: command: must be a command name or a list of them`);
    fixed.command = value.command;
  } else {
    throw new UserError(`${source}: command: missing (a strategy such as full-finetune, or plan: a plan file)`);
  }
  if (value.options !== undefined) {
    if (!isRecord(value.options)) throw new UserError(`${source}: options: must be a mapping of option names to values`);
    for (const [name, v] of Object.entries(value.options)) {
      if (!isScalar(v)) throw new UserError(`${source}: options.${name}: must be one value (a list of values goes under grid)`);
      fixed[name] = v;
    }
  }
  if (value.grid !== undefined) {
    if (!isRecord(value.grid)) throw new UserError(`${source}: grid: must be a mapping of option names to lists of values`);
    for (const [name, v] of Object.entries(value.grid)) {
      if (name in fixed) throw new UserError(`${source}: grid.${name}: also set under options; give it in one place`);
      grid[name] = values(v, source, `grid.${name}`);
    }
  }
  let random: SweepFile['random'];
  if (value.random !== undefined) {
    const r = value.random;
    if (!isRecord(r)) throw new UserError(`${source}: random: must be a mapping with runs, seed and options`);
    for (const key of Object.keys(r)) if (!RANDOM_FIELDS.includes(key)) throw unknownField(source, 'random.', key, RANDOM_FIELDS);
    const runs = r.runs, seed = r.seed ?? 0;
    if (typeof runs !== 'number' || !Number.isSafeInteger(runs) || runs < 1) throw new UserError(`${source}: random.runs: must be a positive whole number, got ${JSON.stringify(runs)}`);
    if (typeof seed !== 'number' || !Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new UserError(`${source}: random.seed: must be a whole number from 0 to 4294967295`);
    if (!isRecord(r.options) || Object.keys(r.options).length === 0) throw new UserError(`${source}: random.options: empty; name the options to draw (lr: { log_uniform: [1e-4, 1e-1] })`);
    const options: Record<string, Distribution> = {};
    for (const [name, spec] of Object.entries(r.options)) {
      if (name in fixed || name in grid) throw new UserError(`${source}: random.options.${name}: also set under ${name in fixed ? 'options' : 'grid'}; give it in one place`);
      options[name] = distribution(spec, source, `random.options.${name}`);
    }
    random = { runs, seed, options };
  }
  return { path: source, base, plan, fixed, grid, random };
}

function values(v: unknown, source: string, where: string): Scalar[] {
  if (!Array.isArray(v)) throw new UserError(`${source}: ${where}: must be a list of values`);
  if (v.length === 0) throw new UserError(`${source}: ${where}: empty list; a grid axis needs at least one value`);
  for (const item of v) if (!isScalar(item)) throw new UserError(`${source}: ${where}: ${JSON.stringify(item)} is not a single value (a string, number or true/false)`);
  return v as Scalar[];
}

function distribution(spec: unknown, source: string, where: string): Distribution {
  if (!isRecord(spec) || Object.keys(spec).length !== 1) throw new UserError(`${source}: ${where}: must be one of ${DISTRIBUTIONS.map((d) => `{ ${d}: [...] }`).join(', ')}`);
  const [kind, args] = Object.entries(spec)[0];
  if (!(DISTRIBUTIONS as readonly string[]).includes(kind)) throw unknownField(source, `${where}.`, kind, DISTRIBUTIONS);
  if (kind === 'choice') return { kind, values: values(args, source, `${where}.choice`) };
  const range = Array.isArray(args) && args.length === 2 && args.every((x) => typeof x === 'number' && Number.isFinite(x)) ? (args as number[]) : undefined;
  if (!range || !(range[0] < range[1])) throw new UserError(`${source}: ${where}.${kind}: must be [low, high] with low < high`);
  if (kind === 'log_uniform' && range[0] <= 0) throw new UserError(`${source}: ${where}.log_uniform: both ends must be positive`);
  if (kind === 'int' && !range.every(Number.isSafeInteger)) throw new UserError(`${source}: ${where}.int: both ends must be whole numbers`);
  return { kind: kind as 'uniform' | 'log_uniform' | 'int', low: range[0], high: range[1] };
}
