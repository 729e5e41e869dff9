// CSV files with a header: every column but the label is a feature. The file is scanned in one streaming pass
// (csv-scan.ts: quoting, line endings, BOM) straight into typed arrays; this module checks that every cell is
// a finite number and names the first that is not.
import { regularFileChunks } from '../runtime/files.js';
import { excerpt, nameList, UserError } from '../errors.js';
import { parseDecimal } from '../decimal.js';
import { singleInputDataset, TEXT_DATA_LIMITS, type Dataset } from './dataset.js';
import { CsvScanner, decimalFromBytes, type CsvSink } from './csv-scan.js';
import { float32Store, int32Store } from './store.js';
import { isClassName, LabelColumn } from './label-column.js';

export interface CsvOptions {
  /** Label column; default 'y', else the last column. */
  label?: string;
  /** Shape of one example; default [features]. */
  featureShape?: number[];
  /** The model input the feature columns feed; default 'x' (a one-input model takes them whatever its input's name). */
  input?: string;
  /** false: the file need not have a label column (predict); one named `label` (default 'y'), if there, is left out. Labels are then NaN. */
  labels?: boolean;
  /** The feature columns, in this order (--features); default: every column but the label and `ignore`. */
  features?: string[];
  /** Columns that are neither features nor the label, such as an id (--ignore). */
  ignore?: string[];
}

export function readCsvDataset(path: string, options: CsvOptions = {}): Dataset {
  const table = new NumericTable(path, options);
  const scanner = new CsvScanner(path, table, TEXT_DATA_LIMITS.lineChars);
  const file = regularFileChunks(path, 'CSV file');
  let first = true;
  for (const chunk of file.chunks) {
    scanner.feed(chunk);
    // After the first chunk, room for the whole file at its rows' width so far: no copy at the end.
    if (first) table.reserve(chunk.length, file.size);
    first = false;
  }
  scanner.end();
  return table.finish();
}

/** A CSV file's bytes already in memory (a browser's File): the same table as readCsvDataset; `source` names it in errors. */
export function parseCsvBytes(bytes: Uint8Array, source: string, options: CsvOptions = {}): Dataset {
  const table = new NumericTable(source, options);
  const scanner = new CsvScanner(source, table, TEXT_DATA_LIMITS.lineChars);
  scanner.feed(bytes);
  scanner.end();
  return table.finish();
}

const utf8 = new TextDecoder();
const text = (bytes: Uint8Array, start: number, end: number) => utf8.decode(bytes.subarray(start, end));

/**
 * The records of a CSV file as they are scanned: the header's names, then each row's cells parsed straight
 * from the bytes into typed stores (features float32, labels float64, file lines), checked as they come.
 */
class NumericTable implements CsvSink {
  private header: string[] | undefined;
  private labelIndex = -1;
  /** The columns that feed the model, in the order they feed it. */
  private featureColumns: number[] = [];
  /** Columns read as neither feature nor label (--ignore, or not among --features). */
  private skipped = new Uint8Array(0);
  /** This row's label when the file names its classes ('dog'): kept apart from the numbers. */
  private labelName: string | undefined;
  private featureShape: number[] = [];
  private row = new Float64Array(0);
  private cells = 0;
  private line = 0;
  /** The first bad cell of the current row: reported after the row's column count, which comes first. */
  private problem: (() => never) | undefined;
  private readonly features = float32Store();
  private readonly labels = new LabelColumn();
  private readonly lines = int32Store();
  private readonly names: string[] = [];

  constructor(private readonly path: string, private readonly options: CsvOptions) {}

  beginRecord(line: number): void {
    this.cells = 0;
    this.line = line;
    this.problem = undefined;
    this.labelName = undefined;
  }

  cell(bytes: Uint8Array, start: number, end: number): void {
    if (!this.header) {
      this.names.push(text(bytes, start, end));
      return;
    }
    const c = this.cells++;
    if (c >= this.row.length || this.skipped[c]) return;
    const value = decimalFromBytes(bytes, start, end, c !== this.labelIndex);
    if (Number.isFinite(Math.fround(value))) this.row[c] = value;
    else this.notANumber(c, text(bytes, start, end));
  }

  quotedCell(text: string): void {
    if (!this.header) {
      this.names.push(text);
      return;
    }
    const c = this.cells++;
    if (c >= this.row.length || this.skipped[c]) return;
    const value = parseDecimal(text);
    if (Number.isFinite(Math.fround(value))) this.row[c] = value;
    else this.notANumber(c, text);
  }

  /** A label that is a word names a class; any other cell that is not a number is the row's problem. */
  private notANumber(c: number, text: string): void {
    if (c === this.labelIndex && isClassName(text)) this.labelName = text;
    else this.problem ??= () => parseCell(text, this.path, this.line, this.header![c]) as never;
  }

  endRecord(): void {
    if (!this.header) return this.takeHeader();
    const width = this.row.length;
    if (this.cells !== width) throw new UserError(`${this.path}: line ${this.line} has ${this.cells} columns, the header has ${width}`);
    this.problem?.();
    const row = this.row;
    for (const c of this.featureColumns) this.features.push(row[c]);
    if (this.labelName !== undefined) this.labels.pushName(this.labelName);
    else this.labels.pushNumber(this.labelIndex >= 0 ? row[this.labelIndex] : NaN);
    this.lines.push(this.line);
  }

  /** Room for the rows of `total` bytes, from the rows in the first `sample` bytes (and 3% more). */
  reserve(sample: number, total: number): void {
    const rows = this.labels.length;
    if (rows < 100 || total <= sample) return;
    const expected = Math.ceil((rows * total * 1.03) / sample);
    this.labels.reserve(expected);
    this.lines.reserve(expected);
    this.features.reserve(expected * this.featureColumns.length);
  }

  finish(): Dataset {
    const { path } = this;
    if (!this.header) throw new UserError(`${path}: empty CSV file (no header)`);
    if (this.labels.length === 0) throw new UserError(`${path}: no data rows after the header`);
    const { labels, classNames } = this.labels.finish();
    const dataset = singleInputDataset(path, this.options.input ?? 'x', this.featureShape, this.features.finish(), labels);
    return { ...dataset, lines: this.lines.finish(), columns: this.header, ...(classNames ? { classNames } : {}) };
  }

  private takeHeader(): void {
    const header = this.names.splice(0);
    const { path, options } = this;
    const labelIndex = options.labels === false ? header.indexOf(options.label ?? 'y') : labelColumn(header, options.label, path);
    const featureColumns = chooseFeatures(header, labelIndex, options, path);
    if (featureColumns.length < 1) throw new UserError(`${path}: needs at least one feature column besides the label ${excerpt(header[labelIndex])}`);
    const featureShape = options.featureShape ?? [featureColumns.length];
    const perRow = featureShape.reduce((a, b) => a * b, 1);
    if (perRow !== featureColumns.length) {
      const ignored = header.length - featureColumns.length - (labelIndex >= 0 ? 1 : 0);
      throw new UserError(`${path}: ${featureColumns.length} feature columns${ignored ? ` (${ignored} ignored)` : ''}, but the model's input takes ${perRow} values per example (shape [${featureShape}])${featureColumns.length > perRow && !ignored && !options.features ? '; leave out columns that are not features, such as an id, with --ignore COLS or --features COLS' : ''}`);
    }
    this.header = header;
    this.labelIndex = labelIndex;
    this.featureColumns = featureColumns;
    this.skipped = Uint8Array.from(header, (_, c) => (c === labelIndex || featureColumns.includes(c) ? 0 : 1));
    this.featureShape = featureShape;
    this.row = new Float64Array(header.length);
  }
}

/** The feature columns' indices: --features in its order, else every column but the label and --ignore. */
function chooseFeatures(header: string[], labelIndex: number, options: CsvOptions, path: string): number[] {
  const find = (name: string, option: string) => {
    const index = header.indexOf(name);
    if (index < 0) throw new UserError(`${path}: no column ${excerpt(name)} (${option}; columns: ${nameList(header, 20)})`);
    if (index === labelIndex) throw new UserError(`${path}: column ${excerpt(name)} is the label; it cannot be ${option === '--features' ? 'a feature' : 'ignored'}`);
    return index;
  };
  if (options.features) return options.features.map((name) => find(name, '--features'));
  const ignored = new Set((options.ignore ?? []).map((name) => find(name, '--ignore')));
  return header.map((_, c) => c).filter((c) => c !== labelIndex && !ignored.has(c));
}


function labelColumn(header: string[], label: string | undefined, path: string): number {
  if (label !== undefined) {
    const index = header.indexOf(label);
    if (index < 0) throw new UserError(`${path}: no label column ${excerpt(label)} (columns: ${nameList(header, 20)})`);
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
