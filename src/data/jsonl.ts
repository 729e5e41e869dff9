// JSON Lines files: one object per line, one key per model input holding that example's values as a flat
// array, plus the label key. Each array is checked against the input's shape (without the batch dimension)
// and cast to its type; a dimension of unknown size takes its length from the data, the same on every line.
import type { Dim } from '../onnx/builder.js';
import { excerpt, UserError } from '../errors.js';
import { exampleSize, TEXT_DATA_LIMITS, type Dataset, type InputType } from './dataset.js';
import { forEachLine } from './lines.js';
import { inputStore, int32Store, type InputStore } from './store.js';
import { isClassName, LabelColumn } from './label-column.js';

export interface JsonlInput {
  name: string;
  type: InputType;
  /** Shape of one example (the model input's shape without its batch dimension); null: unknown rank, taken flat. */
  shape: Dim[] | null;
}

export interface JsonlOptions {
  /** The model's data inputs: one key each on every line. */
  inputs: JsonlInput[];
  /** Label key; default 'y'. */
  label?: string;
  /** false: lines need not have the label key (predict); where one has it, it is ignored. Labels are then NaN. */
  labels?: boolean;
}

const INT_RANGE: Record<InputType, { min: number; max: number; name: string } | undefined> = {
  float32: undefined,
  int32: { min: -(2 ** 31), max: 2 ** 31 - 1, name: "int32's range [-2147483648, 2147483647]" },
  // JSON numbers are read as doubles: beyond 2^53 an integer may already have been rounded.
  int64: { min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER, name: 'the integers a JSON number holds exactly, ±(2^53 - 1)' },
};

export function readJsonlDataset(path: string, options: JsonlOptions): Dataset {
  const label = options.label ?? 'y';
  const expected = new Set([...options.inputs.map((i) => i.name), label]);
  if (expected.size !== options.inputs.length + 1) throw new UserError(`${path}: the label key '${label}' is also the name of a model input; choose another with --label`);
  const shapes = new ExampleShapes(path, options.inputs);
  const columns = new Map<string, { input: JsonlInput; shape?: number[]; store: InputStore }>(options.inputs.map((input) => [input.name, { input, store: inputStore(input.type) }]));
  const labels = new LabelColumn();
  const labelled = options.labels !== false;
  const lines = int32Store();
  forEachLine(path, 'JSONL file', TEXT_DATA_LIMITS.lineChars, (text, line) => {
    if (text.trim() === '') return;
    const where = `${path}: line ${line}`;
    const record = parseJsonObject(text, where);
    for (const key of Object.keys(record)) {
      if (!expected.has(key)) throw new UserError(`${where}, key ${excerpt(key)}: not an input of the model (${options.inputs.map((i) => `'${i.name}'`).join(', ')}) nor the label '${label}'`);
    }
    for (const name of expected) {
      if (!Object.hasOwn(record, name) && (labelled || name !== label)) throw new UserError(`${where}: no key '${name}' (${name === label ? 'the label; choose another key with --label' : 'an input of the model'})`);
    }
    const y = labelled ? labelValue(record[label], `${where}, key '${label}'`) : NaN;
    for (const column of columns.values()) {
      const values = record[column.input.name];
      const at = `${where}, key '${column.input.name}'`;
      if (!Array.isArray(values)) throw new UserError(`${at}: ${describe(values)}, not an array of numbers`);
      if (values.some(Array.isArray)) throw new UserError(`${at}: nested arrays; give the example's values as one flat array, row-major`);
      column.shape = shapes.resolve(column.input, values.length, at);
      castInto(column.store, values, column.input.type, at);
    }
    if (typeof y === 'string') labels.pushName(y);
    else labels.pushNumber(y);
    lines.push(line);
  });
  if (lines.length === 0) throw new UserError(`${path}: no examples (the file is empty)`);
  const inputs = Object.fromEntries([...columns].map(([name, c]) => [name, { shape: c.shape!, values: c.store.finish() }]));
  const { labels: values, classNames } = labels.finish();
  return { source: path, count: lines.length, inputs, labels: values, lines: lines.finish(), ...(classNames ? { classNames } : {}) };
}

/** One line's JSON object, or one line saying why it is not one. */
export function parseJsonObject(text: string, where: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new UserError(`${where}: not valid JSON (${(e as Error).message})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new UserError(`${where}: ${describe(value)}, not a JSON object`);
  return value as Record<string, unknown>;
}

/** A number, or a class's name ('dog'). */
function labelValue(value: unknown, at: string): number | string {
  if (typeof value === 'number' || (typeof value === 'string' && isClassName(value))) return value;
  throw new UserError(`${at}: label ${describe(value)}, not a number or a class name`);
}

/** Every element a number of the input's type: float32 within its range, integers whole and within theirs. */
export function castInto(out: InputStore, values: unknown[], type: InputType, at: string): void {
  const range = INT_RANGE[type];
  for (let k = 0; k < values.length; k++) {
    const v = values[k];
    if (typeof v !== 'number') throw new UserError(`${at}: element ${k} is ${describe(v)}, not a number`);
    if (range) {
      if (!Number.isInteger(v)) throw new UserError(`${at}: element ${k} is ${v}, not an integer (the input is ${type})`);
      if (v < range.min || v > range.max) throw new UserError(`${at}: element ${k} is ${v}, outside ${range.name}`);
    } else if (!Number.isFinite(Math.fround(v))) {
      throw new UserError(`${at}: element ${k} is ${v}, beyond float32's range`);
    }
  }
  for (let k = 0; k < values.length; k++) out.push(values[k] as number);
}

/** A JSON value in a few characters, for messages. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  const text = JSON.stringify(value);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

/**
 * Example shapes with the unknown dimensions filled in from the data. A named dimension ('sequence') has one
 * size in the whole file, across inputs, as in ONNX; an unnamed one, one size per input.
 */
export class ExampleShapes {
  private readonly sizes = new Map<string, { size: number; from: string }>();
  private readonly resolved = new Map<string, number[]>();

  constructor(private readonly path: string, inputs: JsonlInput[]) {
    for (const input of inputs) {
      const unknown = (input.shape ?? []).filter((d) => typeof d !== 'number');
      if (unknown.length > 1) {
        throw new UserError(`${path}: input '${input.name}' has ${unknown.length} dimensions of unknown size (example shape [${input.shape!.map((d) => d ?? '?')}]); a flat array fixes only one`);
      }
    }
  }

  resolve(input: JsonlInput, length: number, at: string): number[] {
    const done = this.resolved.get(input.name);
    if (done) {
      if (exampleSize({ shape: done }) !== length) throw new UserError(`${at}: ${length} values, but the input takes ${exampleSize({ shape: done })} per example (shape [${done}]${this.origin(input)})`);
      return done;
    }
    const shape = this.fill(input, length, at);
    this.resolved.set(input.name, shape);
    return shape;
  }

  private fill(input: JsonlInput, length: number, at: string): number[] {
    if (input.shape === null) return [length];
    const known = input.shape.reduce<number>((p, d) => p * (typeof d === 'number' ? d : 1), 1);
    const unknown = input.shape.findIndex((d) => typeof d !== 'number');
    if (unknown < 0) {
      if (known !== length) throw new UserError(`${at}: ${length} values, but the input takes ${known} per example (shape [${input.shape}])`);
      return input.shape as number[];
    }
    const symbol = input.shape[unknown];
    const named = typeof symbol === 'string' ? this.sizes.get(symbol) : undefined;
    const size = named ? named.size : length / known;
    if (!Number.isInteger(size) || size < 1 || size * known !== length) {
      const shape = input.shape.map((d, i) => (i === unknown ? (named ? size : (d ?? '?')) : d));
      throw new UserError(`${at}: ${length} values do not fill the example shape [${shape}]${named ? ` ('${symbol}' is ${size} in this file, from ${named.from})` : ''}`);
    }
    if (typeof symbol === 'string' && !named) this.sizes.set(symbol, { size, from: at.slice(this.path.length + 2) });
    return input.shape.map((d) => (typeof d === 'number' ? d : size));
  }

  private origin(input: JsonlInput): string {
    const symbol = input.shape?.find((d) => typeof d !== 'number');
    if (symbol === undefined) return '';
    const named = typeof symbol === 'string' ? this.sizes.get(symbol) : undefined;
    return named ? `, '${symbol}' fixed at ${named.size} by ${named.from}` : ', its length fixed by the file\'s first example';
  }
}
