// CSV files with a header: every column but the label is a feature. Parsing is csv-parse's (quoting,
// line endings, BOM); this module checks that every cell is a finite number and names the first that is not.
import { readTextFile } from '../runtime/files.js';
import type { parse as Parse } from 'csv-parse/sync';
import { requirePackage } from '../require.js';
import { excerpt, UserError } from '../errors.js';
import { parseDecimal } from '../decimal.js';
import { singleInputDataset, TEXT_DATA_LIMITS, type Dataset } from './dataset.js';

export interface CsvOptions {
  /** Label column; default 'y', else the last column. */
  label?: string;
  /** Shape of one example; default [features]. */
  featureShape?: number[];
  /** The model input the feature columns feed; default 'x' (a one-input model takes them whatever its input's name). */
  input?: string;
  /** false: the file need not have a label column (predict); one named `label` (default 'y'), if there, is left out. Labels are then NaN. */
  labels?: boolean;
}

export function readCsvDataset(path: string, options: CsvOptions = {}): Dataset {
  const text = readTextFile(path, 'CSV file', { limit: TEXT_DATA_LIMITS.fileBytes });
  const parse: typeof Parse = requirePackage('csv-parse/sync').parse; // its CommonJS build: one file, loaded when needed
  let rows: string[][];
  let lines: number[];
  try {
    const records = parse(text, {
      bom: true, skip_empty_lines: true, trim: true, relax_column_count: true, record_delimiter: ['\r\n', '\n', '\r'], info: true, max_record_size: TEXT_DATA_LIMITS.lineChars,
    }) as unknown as { record: string[]; info: { lines: number } }[];
    rows = records.map((r) => r.record);
    lines = records.map((r) => r.info.lines); // the file's own line numbers, blank lines counted
  } catch (e) {
    throw new UserError(`${path}: not a valid CSV file (${(e as Error).message})`);
  }
  if (rows.length === 0) throw new UserError(`${path}: empty CSV file (no header)`);
  const header = rows[0];
  if (rows.length === 1) throw new UserError(`${path}: no data rows after the header`);
  const labelIndex = options.labels === false ? header.indexOf(options.label ?? 'y') : labelColumn(header, options.label, path);
  const featureCount = header.length - (labelIndex >= 0 ? 1 : 0);
  if (featureCount < 1) throw new UserError(`${path}: needs at least one feature column besides the label ${excerpt(header[labelIndex])}`);
  const featureShape = options.featureShape ?? [featureCount];
  const perRow = featureShape.reduce((a, b) => a * b, 1);
  if (perRow !== featureCount) {
    throw new UserError(`${path}: ${featureCount} feature columns, but the model's input takes ${perRow} values per example (shape [${featureShape}])`);
  }
  const count = rows.length - 1;
  const features = new Float32Array(count * featureCount);
  const labels = new Float64Array(count).fill(labelIndex >= 0 ? 0 : NaN);
  for (let r = 1; r < rows.length; r++) {
    const row = rows[r];
    const line = lines[r];
    if (row.length !== header.length) throw new UserError(`${path}: line ${line} has ${row.length} columns, the header has ${header.length}`);
    let f = (r - 1) * featureCount;
    for (let c = 0; c < row.length; c++) {
      const value = parseCell(row[c], path, line, header[c]);
      if (c === labelIndex) labels[r - 1] = value;
      else features[f++] = value;
    }
  }
  return { ...singleInputDataset(path, options.input ?? 'x', featureShape, features, labels), lines: Int32Array.from(lines.slice(1)), columns: header };
}

function labelColumn(header: string[], label: string | undefined, path: string): number {
  if (label !== undefined) {
    const index = header.indexOf(label);
    if (index < 0) throw new UserError(`${path}: no label column ${excerpt(label)} (columns: ${columnList(header)})`);
    return index;
  }
  const y = header.indexOf('y');
  return y >= 0 ? y : header.length - 1;
}

/** A decimal number that float32 can hold: features are fed as float32. */
function parseCell(cell: string, path: string, line: number, column: string): number {
  const value = parseDecimal(cell);
  if (!Number.isFinite(Math.fround(value))) {
    const what = cell === '' ? 'an empty cell'
      : /^[+-]?(nan|inf(inity)?)$/i.test(cell) ? `${excerpt(cell)} (not finite)`
      : Number.isFinite(value) ? `${excerpt(cell)} (beyond float32's range)` : `${excerpt(cell)} (not a number)`;
    throw new UserError(`${path}: line ${line}, column ${excerpt(column)}: ${what}`);
  }
  return value;
}

/** The header's names for a message: each shortened, and at most the first 20. */
function columnList(header: string[]): string {
  const shown = header.slice(0, 20).map((c) => excerpt(c, 20)).join(', ');
  return header.length > 20 ? `${shown}, … (${header.length} in all)` : shown;
}
