// Parquet files through hyparquet, one row group at a time (a file larger than memory streams through the
// typed stores). Two layouts, as pandas and pyarrow write them: a column per feature (one-input models, like a
// CSV file: every column but the label), or a column per model input named after it, each cell a list of the
// example's values (row-major) or a number. Snappy is hyparquet's own; gzip, zstd, brotli and LZ4 come from
// hyparquet-compressors.
import { closeSync } from 'node:fs';
import { parquetMetadata, parquetSchema } from 'hyparquet/src/metadata.js';
import { readColumn } from 'hyparquet/src/column.js';
import { DEFAULT_PARSERS } from 'hyparquet/src/convert.js';
import type { ColumnDecoder, FileMetaData, SchemaTree } from 'hyparquet/src/types.js';
import { compressors } from 'hyparquet-compressors';
import { excerpt, UserError } from '../errors.js';
import { openRegularFile, readRange } from '../runtime/files.js';
import type { Dataset, InputType } from './dataset.js';
import { castInto, ExampleShapes, type JsonlInput } from './jsonl.js';
import { float32Store, float64Store, inputStore, type InputStore } from './store.js';

export interface ParquetOptions {
  /** The model's data inputs, as for JSONL. */
  inputs: JsonlInput[];
  /** Label column; default 'y', else the last column. */
  label?: string;
  /** Shape of one example for a column-per-feature file; default [features]. */
  featureShape?: number[];
  /** false: the file need not have a label column (predict); one named `label` (default 'y'), if there, is left out. Labels are then NaN. */
  labels?: boolean;
}

const NUMERIC = new Set(['FLOAT', 'DOUBLE', 'INT32', 'INT64', 'BOOLEAN']);

interface Column {
  name: string;
  tree: SchemaTree;
  /** A list column: one array per row. */
  list: boolean;
}

export function readParquetDataset(path: string, options: ParquetOptions): Dataset {
  const { fd, size } = openRegularFile(path, 'Parquet file');
  try {
    const metadata = readMetadata(fd, size, path);
    const root = parquetSchema(metadata);
    const columns = root.children.map((tree) => describeColumn(tree, path));
    const names = columns.map((c) => c.name);
    const labelled = options.labels !== false;
    const label = options.label ?? (names.includes('y') || !labelled ? 'y' : names[names.length - 1]);
    const labelColumn = columns.find((c) => c.name === label);
    if (!labelColumn && !labelled) {
      const reader = new GroupReader(fd, size, path, metadata);
      const perInput = options.inputs.every((i) => names.includes(i.name));
      return perInput ? readPerInput(reader, columns, undefined, options) : readPerFeature(reader, columns, undefined, options);
    }
    if (!labelColumn) throw new UserError(`${path}: no label column ${excerpt(label)} (columns: ${names.join(', ')})`);
    if (labelColumn.list) throw new UserError(`${path}: label column '${label}' holds lists; give one number per row`);
    const perInput = options.inputs.every((i) => names.includes(i.name)) && !options.inputs.some((i) => i.name === label);
    const reader = new GroupReader(fd, size, path, metadata);
    return perInput ? readPerInput(reader, columns, labelColumn, options) : readPerFeature(reader, columns, labelColumn, options);
  } finally {
    closeSync(fd);
  }
}

function readMetadata(fd: number, size: number, path: string): FileMetaData {
  if (size < 12) throw new UserError(`${path}: not a Parquet file (${size} bytes)`);
  const tail = readRange(fd, path, 'Parquet file', size - 8, 8);
  const length = new DataView(tail.buffer).getUint32(0, true);
  if (length + 8 > size - 4) throw new UserError(`${path}: not a valid Parquet file (its footer declares ${length} bytes of metadata)`);
  try {
    return parquetMetadata(readRange(fd, path, 'Parquet file', size - 8 - length, length + 8));
  } catch (e) {
    throw new UserError(`${path}: not a valid Parquet file (${(e as Error).message})`);
  }
}

/** A top-level column: a number per row, or a list (three-level LIST, or a bare repeated field) of numbers. */
function describeColumn(tree: SchemaTree, path: string): Column {
  const name = tree.element.name;
  let leaf = tree;
  let list = tree.element.repetition_type === 'REPEATED';
  while (leaf.children.length === 1) {
    leaf = leaf.children[0];
    if (leaf.element.repetition_type === 'REPEATED') list = true;
  }
  const type = leaf.element.type;
  if (leaf.children.length > 0 || !type || !NUMERIC.has(type) || leaf.element.converted_type === 'DECIMAL' || leaf.element.logical_type?.type === 'DECIMAL') {
    const detail = leaf.children.length > 0 ? 'a struct' : `${type}${leaf.element.logical_type ? ` (${leaf.element.logical_type.type})` : leaf.element.converted_type ? ` (${leaf.element.converted_type})` : ''}`;
    throw new UserError(`${path}: column ${excerpt(name)} is ${list ? 'a list of ' : ''}${detail}, not numbers (FLOAT, DOUBLE, INT32, INT64 or BOOLEAN${list ? ' elements' : ''})`);
  }
  return { name, tree, list };
}

/** Row groups one after the other, each column chunk read and decoded on its own. */
class GroupReader {
  readonly schema: SchemaTree;

  constructor(private readonly fd: number, private readonly size: number, readonly path: string, readonly metadata: FileMetaData) {
    this.schema = parquetSchema(metadata);
  }

  get groups(): number {
    return this.metadata.row_groups.length;
  }

  rows(group: number): number {
    return Number(this.metadata.row_groups[group].num_rows);
  }

  /** One column of one row group: a value (or a list) per row. */
  column(group: number, column: Column): ArrayLike<unknown> {
    const rowGroup = this.metadata.row_groups[group];
    const chunk = rowGroup.columns.find((c) => c.meta_data?.path_in_schema[0] === column.name);
    const meta = chunk?.meta_data;
    if (!meta) throw new UserError(`${this.path}: row group ${group} has no data for column '${column.name}'`);
    const start = Number(meta.dictionary_page_offset || meta.data_page_offset);
    const length = Number(meta.total_compressed_size);
    if (start < 0 || start + length > this.size) throw new UserError(`${this.path}: column '${column.name}' in row group ${group} lies outside the file`);
    const bytes = readRange(this.fd, this.path, 'Parquet file', start, length);
    const schemaPath = [this.schema];
    for (let t: SchemaTree = column.tree; ; t = t.children[0]) {
      schemaPath.push(t);
      if (t.children.length === 0) break;
    }
    const decoder: ColumnDecoder = {
      ...meta, pathInSchema: meta.path_in_schema, element: schemaPath[schemaPath.length - 1].element, schemaPath, parsers: DEFAULT_PARSERS, compressors,
    };
    const rows = this.rows(group);
    let chunks: ArrayLike<unknown>[];
    try {
      chunks = readColumn({ view: new DataView(bytes.buffer, 0, length), offset: 0 }, { groupStart: 0, selectStart: 0, selectEnd: rows, groupRows: rows }, decoder).data;
    } catch (e) {
      throw new UserError(`${this.path}: column '${column.name}' in row group ${group} cannot be decoded (${(e as Error).message})`);
    }
    const values = chunks.length === 1 ? chunks[0] : chunks.flatMap((c) => Array.from(c));
    if (values.length !== rows) throw new UserError(`${this.path}: column '${column.name}' in row group ${group} has ${values.length} values for ${rows} rows`);
    return values;
  }
}

/** A cell as a number: bigints and booleans converted, nulls refused. */
function numberAt(values: ArrayLike<unknown>, r: number, at: () => string): number {
  const v = values[r];
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') {
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) throw new UserError(`${at()}: ${v} is beyond the integers a double holds exactly, ±(2^53 - 1)`);
    return Number(v);
  }
  if (typeof v === 'boolean') return v ? 1 : 0;
  throw new UserError(`${at()}: ${v === null || v === undefined ? 'null' : typeof v}, not a number`);
}

/** A group's labels into `labels`; without a label column (predict on new data), NaN for each row. */
function readLabels(reader: GroupReader, group: number, column: Column | undefined, labels: ReturnType<typeof float64Store>, rowBase: number, path: string): void {
  if (!column) {
    for (let r = 0; r < reader.rows(group); r++) labels.push(NaN);
    return;
  }
  const values = reader.column(group, column);
  for (let r = 0; r < values.length; r++) {
    const y = numberAt(values, r, () => `${path}: row ${rowBase + r + 1}, column '${column.name}'`);
    if (!Number.isFinite(y)) throw new UserError(`${path}: row ${rowBase + r + 1}, column '${column.name}': label ${y}, not a finite number`);
    labels.push(y);
  }
}

/** A column per feature, in the file's order, the label's left out: one float input, as from a CSV file. */
function readPerFeature(reader: GroupReader, columns: Column[], label: Column | undefined, options: ParquetOptions): Dataset {
  const { path } = reader;
  const [input] = options.inputs;
  if (options.inputs.length !== 1 || input.type !== 'float32') {
    const missing = options.inputs.filter((i) => !columns.some((c) => c.name === i.name)).map((i) => `'${i.name}'`);
    throw new UserError(`${path}: no column for the model's input${missing.length > 1 ? 's' : ''} ${missing.join(', ')} (columns: ${columns.map((c) => c.name).join(', ')}); a column per feature feeds one float input only`);
  }
  const features = columns.filter((c) => c !== label);
  const listed = features.find((c) => c.list);
  if (listed) throw new UserError(`${path}: column '${listed.name}' holds lists, but the model's input is '${input.name}'; name the list column after the input`);
  const featureShape = options.featureShape ?? [features.length];
  const perRow = featureShape.reduce((a, b) => a * b, 1);
  if (perRow !== features.length) throw new UserError(`${path}: ${features.length} feature columns, but the model's input takes ${perRow} values per example (shape [${featureShape}])`);
  const total = Number(reader.metadata.num_rows);
  const values = float32Store();
  values.reserve(total * features.length);
  const labels = float64Store();
  labels.reserve(total);
  let rowBase = 0;
  for (let g = 0; g < reader.groups; g++) {
    const data = features.map((c) => reader.column(g, c));
    const rows = reader.rows(g);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < data.length; c++) {
        const v = numberAt(data[c], r, () => `${path}: row ${rowBase + r + 1}, column '${features[c].name}'`);
        if (!Number.isFinite(Math.fround(v))) throw new UserError(`${path}: row ${rowBase + r + 1}, column '${features[c].name}': ${v} (${Number.isFinite(v) ? "beyond float32's range" : 'not finite'})`);
        values.push(v);
      }
    }
    readLabels(reader, g, label, labels, rowBase, path);
    rowBase += rows;
  }
  if (rowBase === 0) throw new UserError(`${path}: no rows`);
  return { source: path, count: rowBase, inputs: { [input.name]: { shape: featureShape, values: values.finish() } }, labels: labels.finish(), columns: columns.map((c) => c.name) };
}

/** A column per model input: each cell the example's values, a list (row-major) or one number. */
function readPerInput(reader: GroupReader, columns: Column[], label: Column | undefined, options: ParquetOptions): Dataset {
  const { path } = reader;
  const wanted = new Set([...options.inputs.map((i) => i.name), ...(label ? [label.name] : [])]);
  const extra = columns.find((c) => !wanted.has(c.name));
  if (extra) throw new UserError(`${path}: column ${excerpt(extra.name)} is not an input of the model (${options.inputs.map((i) => `'${i.name}'`).join(', ')})${label ? ` nor the label '${label.name}'` : ''}`);
  const shapes = new ExampleShapes(path, options.inputs);
  const stores = options.inputs.map((input) => ({ input, column: columns.find((c) => c.name === input.name)!, store: inputStore(input.type) as InputStore, shape: undefined as number[] | undefined }));
  const labels = float64Store();
  let rowBase = 0;
  for (let g = 0; g < reader.groups; g++) {
    const rows = reader.rows(g);
    for (const s of stores) {
      const values = reader.column(g, s.column);
      for (let r = 0; r < rows; r++) {
        const at = `${path}: row ${rowBase + r + 1}, column '${s.input.name}'`;
        const cell = s.column.list ? listAt(values, r, at) : [numberAt(values, r, () => at)];
        s.shape = shapes.resolve(s.input, cell.length, at);
        castInto(s.store, cell, s.input.type as InputType, at);
      }
    }
    readLabels(reader, g, label, labels, rowBase, path);
    rowBase += rows;
  }
  if (rowBase === 0) throw new UserError(`${path}: no rows`);
  const inputs = Object.fromEntries(stores.map((s) => [s.input.name, { shape: s.shape!, values: s.store.finish() }]));
  return { source: path, count: rowBase, inputs, labels: labels.finish() };
}

function listAt(values: ArrayLike<unknown>, r: number, at: string): number[] {
  const cell = values[r];
  if (cell === null || cell === undefined) throw new UserError(`${at}: null, not a list of numbers`);
  const list = Array.from(cell as ArrayLike<unknown>);
  return list.map((_, k) => numberAt(list, k, () => `${at}: element ${k}`));
}
