// Text examples for a language model: a CSV column or JSONL key of text plus the label, tokenized with a Hugging
// Face tokenizer.json in one pass into the model's input_ids, attention_mask and token_type_ids (whichever it
// has), truncated and padded to one length. The texts' ids are kept in one flat array until that length is
// known; no per-row objects survive the pass.
import { extname } from 'node:path';
import type { DataInputInfo } from '../model/describe.js';
import { excerpt, nameList, UserError } from '../errors.js';
import { parseDecimal } from '../decimal.js';
import { readTextFile } from '../runtime/files.js';
import { requirePackage } from '../require.js';
import type { parse as Parse } from 'csv-parse/sync';
import { INPUT_TYPES, TEXT_DATA_LIMITS, type Dataset, type InputValues, type Preprocessing } from './dataset.js';
import { loadTokenizer, type TextTokenizer } from './tokenizer.js';
import { describe, parseJsonObject } from './jsonl.js';
import { isClassName, LabelColumn } from './label-column.js';

export interface TextOptions {
  /** The tokenizer.json file's text: kept whole in the exported model's metadata, so that predict needs nothing else. */
  tokenizerJson: string;
  /** Where the tokenizer came from, for error messages; default 'tokenizer.json'. */
  tokenizerSource?: string;
  /** CSV column or JSONL key holding the text; default 'text'. */
  column?: string;
  /** Tokens per example; default: the model's fixed sequence length, else the tokenizer's truncation length, else the longest training example, at most MAX_DEFAULT_LENGTH. */
  maxLength?: number;
}

/** What the exported model's metadata keeps: enough to tokenize new text exactly as the training data was. */
export interface TextPreprocessing extends Preprocessing {
  kind: 'text';
  column: string;
  maxLength: number;
  tokenizer: string;
}

/** The longest default length when neither the model nor the tokenizer fixes one (BERT's position table). */
export const MAX_DEFAULT_LENGTH = 512;

/** The model inputs a tokenizer fills. */
const ROLES = { input_ids: 'ids', attention_mask: 'mask', token_type_ids: 'types' } as const;
type Role = (typeof ROLES)[keyof typeof ROLES];

/** Which column or key holds the label: a name, undefined for the default ('y', else 'label'), null for none (new text to predict; labels are NaN). */
type LabelChoice = { label?: string | null };

/** A text file (.jsonl, else CSV) tokenized for the model's inputs. */
export function readTextDataset(path: string, inputs: readonly DataInputInfo[], options: TextOptions & LabelChoice): Dataset {
  const rows = extname(path).toLowerCase() === '.jsonl' ? readJsonlTexts(path, options) : readCsvTexts(path, options);
  return textDatasetFromRows(path, rows, inputs, options);
}

/** Texts, their labels and the file lines they came from, in file order. */
export interface TextRows {
  count: number;
  text(i: number): string;
  labels: Float64Array;
  /** The classes' names, where the labels named them (sorted; labels are their indices). */
  classNames?: string[];
  lines: Int32Array;
  /** The CSV header, if the rows came from one. */
  columns?: string[];
}

/** Rows of text tokenized into a Dataset for the model's inputs (predict calls this on new text too). */
export function textDatasetFromRows(source: string, rows: TextRows, inputs: readonly DataInputInfo[], options: TextOptions): Dataset {
  const tokenizer = loadTokenizer(options.tokenizerJson, options.tokenizerSource ?? 'tokenizer.json');
  const roles = inputRoles(source, inputs);
  checkVocabulary(tokenizer, inputs, roles);
  if (rows.count === 0) throw new UserError(`${source}: no examples`);
  // Pass 1, the only tokenization: every text's ids end to end, with where each starts.
  const starts = new Int32Array(rows.count + 1);
  let ids: Int32Array<ArrayBuffer> = new Int32Array(Math.max(1024, rows.count * 16));
  let longest = 0;
  for (let i = 0; i < rows.count; i++) {
    const textIds = encodeRow(tokenizer, rows.text(i), `${source}: line ${rows.lines[i]}`);
    if (starts[i] + textIds.length > ids.length) ids = grow(ids, starts[i] + textIds.length);
    ids.set(textIds, starts[i]);
    starts[i + 1] = starts[i] + textIds.length;
    longest = Math.max(longest, textIds.length);
  }
  const specials = tokenizer.prefix.ids.length + tokenizer.suffix.ids.length;
  const maxLength = sequenceLength(source, inputs, tokenizer, options.maxLength, longest + specials);
  if (maxLength <= specials) throw new UserError(`--max-length ${maxLength} leaves no room for text: ${tokenizer.source} adds ${specials} special tokens to each example`);
  // Pass 2: each example laid out in the model's arrays.
  const out = new Map<Role, InputValues>(inputs.map((input) => [roles.get(input.name)!, INPUT_TYPES[input.elemType]!.make(rows.count * maxLength)]));
  const sequence = new Int32Array(maxLength), typeIds = new Int32Array(maxLength), mask = new Uint8Array(maxLength);
  for (let i = 0; i < rows.count; i++) {
    layOut(tokenizer, ids.subarray(starts[i], starts[i + 1]), { sequence, typeIds, mask });
    for (const [role, values] of out) write(values, i * maxLength, role === 'ids' ? sequence : role === 'types' ? typeIds : mask);
  }
  const preprocessing: TextPreprocessing = { kind: 'text', column: options.column ?? 'text', maxLength, tokenizer: options.tokenizerJson };
  return {
    source, count: rows.count, labels: rows.labels, lines: rows.lines, ...(rows.classNames && { classNames: rows.classNames }),
    inputs: Object.fromEntries(inputs.map((input) => [input.name, { shape: [maxLength], values: out.get(roles.get(input.name)!)! }])),
    ...(rows.columns && { columns: rows.columns }),
    preprocessing,
  };
}

/** Which of ids, mask and types each model input takes: by name, or the ids for a model with one input. */
function inputRoles(source: string, inputs: readonly DataInputInfo[]): Map<string, Role> {
  if (inputs.length === 1) return new Map([[inputs[0].name, 'ids']]);
  const roles = new Map<string, Role>();
  for (const input of inputs) {
    const role = Object.hasOwn(ROLES, input.name) ? ROLES[input.name as keyof typeof ROLES] : undefined;
    if (!role) throw new UserError(`${source}: the model's input '${input.name}' is none that a tokenizer fills (${Object.keys(ROLES).join(', ')})`);
    roles.set(input.name, role);
  }
  if (![...roles.values()].includes('ids')) throw new UserError(`${source}: the model has no input 'input_ids' for the token ids (its inputs: ${inputs.map((i) => i.name).join(', ')})`);
  for (const input of inputs) {
    const rank = input.shape?.length;
    if (rank !== undefined && rank !== 2) throw new UserError(`${source}: the model's input '${input.name}' has shape [${input.shape!.map((d) => d ?? '?')}]; token inputs are [batch, sequence]`);
  }
  return roles;
}

/** The tokenizer may give any id it knows: the model's embedding table needs a row for each. */
function checkVocabulary(tokenizer: TextTokenizer, inputs: readonly DataInputInfo[], roles: Map<string, Role>): void {
  const idsInput = inputs.find((i) => roles.get(i.name) === 'ids')!;
  const table = idsInput.embedding;
  if (table && tokenizer.vocabularySize > table.rows) {
    throw new UserError(`${tokenizer.source}: the tokenizer's vocabulary has ids up to ${tokenizer.vocabularySize - 1}, but the model's embedding table '${table.table}' (read by input '${idsInput.name}') has ${table.rows} rows; use the tokenizer the model was trained with`);
  }
}

/** --max-length, else the model's fixed sequence length, else the tokenizer's truncation length, else the longest example (capped). */
function sequenceLength(source: string, inputs: readonly DataInputInfo[], tokenizer: TextTokenizer, given: number | undefined, longest: number): number {
  const fixed = inputs.map((i) => ({ name: i.name, size: i.shape?.[1] })).filter((f): f is { name: string; size: number } => typeof f.size === 'number');
  const [first] = fixed;
  const other = fixed.find((f) => f.size !== first.size);
  if (other) throw new UserError(`${source}: the model's inputs '${first.name}' and '${other.name}' take sequences of ${first.size} and ${other.size} tokens; a tokenizer gives one length`);
  if (given !== undefined && first && given !== first.size) throw new UserError(`--max-length ${given}: the model's input '${first.name}' takes exactly ${first.size} tokens per example`);
  return given ?? first?.size ?? tokenizer.maxLength ?? Math.min(Math.max(longest, 1), MAX_DEFAULT_LENGTH);
}

function encodeRow(tokenizer: TextTokenizer, text: string, where: string): number[] {
  try {
    return tokenizer.encode(text);
  } catch (e) {
    if (e instanceof UserError) throw new UserError(`${where}: ${e.message}`);
    throw new UserError(`${where}: ${tokenizer.source} cannot tokenize this text (${(e as Error).message.split('\n')[0].slice(0, 200)})`);
  }
}

/** One example as the Rust tokenizers lays it out: the text truncated to leave room for the special tokens, then padded. */
function layOut(tokenizer: TextTokenizer, textIds: Int32Array, into: { sequence: Int32Array; typeIds: Int32Array; mask: Uint8Array }): void {
  const { prefix, suffix, pad } = tokenizer;
  const length = into.sequence.length;
  const room = length - prefix.ids.length - suffix.ids.length;
  const kept = textIds.length <= room ? textIds : tokenizer.truncateLeft ? textIds.subarray(textIds.length - room) : textIds.subarray(0, room);
  const used = prefix.ids.length + kept.length + suffix.ids.length;
  let at = pad.left ? length - used : 0;
  const padFrom = pad.left ? 0 : used, padTo = pad.left ? length - used : length;
  into.sequence.fill(pad.id, padFrom, padTo);
  into.typeIds.fill(pad.typeId, padFrom, padTo);
  into.mask.fill(0, padFrom, padTo);
  into.mask.fill(1, at, at + used);
  into.sequence.set(prefix.ids, at);
  into.typeIds.set(prefix.typeIds, at);
  at += prefix.ids.length;
  into.sequence.set(kept, at);
  into.typeIds.fill(tokenizer.textTypeId, at, at + kept.length);
  at += kept.length;
  into.sequence.set(suffix.ids, at);
  into.typeIds.set(suffix.typeIds, at);
}

function write(out: InputValues, offset: number, values: Int32Array | Uint8Array): void {
  if (out instanceof BigInt64Array) for (let k = 0; k < values.length; k++) out[offset + k] = BigInt(values[k]);
  else out.set(values, offset);
}

function grow(ids: Int32Array<ArrayBuffer>, needed: number): Int32Array<ArrayBuffer> {
  const bigger = new Int32Array(Math.max(needed, ids.length * 2));
  bigger.set(ids);
  return bigger;
}

/** CSV with a header: the text column and the label column; other columns are ignored. */
function readCsvTexts(path: string, options: TextOptions & LabelChoice): TextRows {
  const text = readTextFile(path, 'CSV file', { limit: TEXT_DATA_LIMITS.fileBytes });
  const parse: typeof Parse = requirePackage('csv-parse/sync').parse;
  let records: { record: string[]; info: { lines: number } }[];
  try {
    records = parse(text, {
      bom: true, skip_empty_lines: true, relax_column_count: true, record_delimiter: ['\r\n', '\n', '\r'], info: true, max_record_size: TEXT_DATA_LIMITS.lineChars,
    }) as unknown as typeof records;
  } catch (e) {
    throw new UserError(`${path}: not a valid CSV file (${(e as Error).message})`);
  }
  if (records.length === 0) throw new UserError(`${path}: empty CSV file (no header)`);
  const header = records[0].record.map((c) => c.trim());
  const column = options.column ?? 'text';
  const textIndex = header.indexOf(column);
  if (textIndex < 0) throw new UserError(`${path}: no text column ${excerpt(column)} (columns: ${nameList(header, 10)}); choose one with --text-column`);
  const labelName = options.label === null ? null : labelKey(options.label, (k) => header.includes(k), path, `columns: ${nameList(header, 10)}`);
  const labelIndex = labelName === null ? -1 : header.indexOf(labelName);
  if (labelName !== null && labelIndex === textIndex) throw new UserError(`${path}: the label column ${excerpt(labelName)} is also the text column; choose another with --label or --text-column`);
  const count = records.length - 1;
  if (count === 0) throw new UserError(`${path}: no data rows after the header`);
  const labels = new LabelColumn(), lines = new Int32Array(count);
  const texts: string[] = new Array(count);
  for (let r = 0; r < count; r++) {
    const { record, info } = records[r + 1];
    lines[r] = info.lines;
    if (record.length !== header.length) throw new UserError(`${path}: line ${info.lines} has ${record.length} columns, the header has ${header.length}`);
    texts[r] = record[textIndex];
    if (labelIndex < 0) {
      labels.pushNumber(NaN);
      continue;
    }
    const cell = record[labelIndex].trim();
    const value = parseDecimal(cell);
    if (Number.isFinite(value)) labels.pushNumber(value);
    else if (isClassName(cell)) labels.pushName(cell);
    else throw new UserError(`${path}: line ${info.lines}, column ${excerpt(labelName!)}: label ${cell === '' ? 'empty' : excerpt(cell)}, not a number or a class name`);
  }
  return { count, text: (i) => texts[i], ...labels.finish(), lines, columns: header };
}

/** JSON Lines: one object per line with the text key (a string) and the label key (a number); other keys are ignored. */
function readJsonlTexts(path: string, options: TextOptions & LabelChoice): TextRows {
  const content = readTextFile(path, 'JSONL file', { limit: TEXT_DATA_LIMITS.fileBytes });
  const allLines = content.replace(/^\ufeff/, '').split(/\r\n|\n|\r/);
  const lineNumbers: number[] = [];
  allLines.forEach((l, i) => { if (l.trim() !== '') lineNumbers.push(i + 1); });
  const count = lineNumbers.length;
  if (count === 0) throw new UserError(`${path}: no examples (the file is empty)`);
  const column = options.column ?? 'text';
  const labels = new LabelColumn(), lines = Int32Array.from(lineNumbers);
  const texts: string[] = new Array(count);
  let label: string | null | undefined = options.label === null ? null : undefined;
  for (let r = 0; r < count; r++) {
    const where = `${path}: line ${lines[r]}`;
    const line = allLines[lines[r] - 1];
    if (line.length > TEXT_DATA_LIMITS.lineChars) throw new UserError(`${where}: ${line.length} characters, more than the ${TEXT_DATA_LIMITS.lineChars} a line may have`);
    const fields = parseJsonObject(line, where);
    if (label === undefined) label = labelKey(options.label ?? undefined, (k) => Object.hasOwn(fields, k), where, `keys: ${nameList(Object.keys(fields), 10)}`);
    if (!Object.hasOwn(fields, column)) throw new UserError(`${where}: no text key ${excerpt(column)} (keys: ${nameList(Object.keys(fields), 10)}); choose one with --text-column`);
    if (typeof fields[column] !== 'string') throw new UserError(`${where}, key ${excerpt(column)}: ${describe(fields[column])}, not a string of text`);
    texts[r] = fields[column] as string;
    if (label === null) {
      labels.pushNumber(NaN);
      continue;
    }
    if (!Object.hasOwn(fields, label)) throw new UserError(`${where}: no label key ${excerpt(label)}`);
    const value = fields[label];
    if (typeof value === 'number') labels.pushNumber(value);
    else if (typeof value === 'string' && isClassName(value)) labels.pushName(value);
    else throw new UserError(`${where}, key ${excerpt(label)}: label ${describe(value)}, not a number or a class name`);
  }
  return { count, text: (i) => texts[i], ...labels.finish(), lines };
}

/** --label, else 'y', else 'label' (the name Hugging Face datasets use). */
function labelKey(given: string | undefined, has: (key: string) => boolean, where: string, known: string): string {
  if (given !== undefined) {
    if (!has(given)) throw new UserError(`${where}: no label ${excerpt(given)} (${known})`);
    return given;
  }
  const found = ['y', 'label'].find(has);
  if (!found) throw new UserError(`${where}: no label 'y' or 'label' (${known}); choose one with --label`);
  return found;
}

