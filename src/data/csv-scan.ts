// A byte-level RFC 4180 CSV scanner for files larger than memory: chunks go in, records come out as byte
// ranges, one pass, no strings unless a cell is quoted or bad. Quoted cells may hold commas, doubled quotes
// and line breaks; records end at \r\n, \n or \r; spaces and tabs around a cell are trimmed; blank lines are
// skipped but counted, so that a record carries its file line. A record cut by the end of a chunk is scanned
// again whole with the next one (its cells are given to the sink again: the sink drops an unfinished record).
import { UserError } from '../errors.js';

const utf8 = new TextDecoder();
const COMMA = 44, QUOTE = 34, LF = 10, CR = 13;
const isTrimmable = (c: number) => c === 32 || c === 9 || c === 11 || c === 12;

export interface CsvSink {
  beginRecord(line: number): void;
  /** An unquoted cell, trimmed: bytes [start, end). */
  cell(bytes: Uint8Array, start: number, end: number): void;
  /** A quoted cell's text, doubled quotes undone. */
  quotedCell(text: string): void;
  endRecord(): void;
}

/** Why a scan stopped before the end of its bytes: the record at `from` needs the next chunk. */
const INCOMPLETE = -1;

export class CsvScanner {
  private pending: Uint8Array | undefined;
  private line = 1;
  private started = false;

  constructor(private readonly path: string, private readonly sink: CsvSink, private readonly recordLimit: number) {}

  feed(chunk: Uint8Array): void {
    let bytes = chunk;
    if (this.pending) {
      bytes = new Uint8Array(this.pending.length + chunk.length);
      bytes.set(this.pending);
      bytes.set(chunk, this.pending.length);
    }
    if (!this.started) {
      if (bytes.length < 3 && bytes.every((b, i) => b === [0xef, 0xbb, 0xbf][i])) {
        this.pending = bytes.slice();
        return;
      }
      this.started = true;
      if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) bytes = bytes.subarray(3); // byte-order mark
    }
    const stop = this.scan(bytes, false);
    this.pending = stop < bytes.length ? bytes.slice(stop) : undefined;
    if (this.pending && this.pending.length > this.recordLimit) {
      this.fail(`line ${this.line}: a record longer than the ${this.recordLimit} characters one may have`);
    }
  }

  end(): void {
    if (this.pending) this.scan(this.pending, true);
    this.pending = undefined;
  }

  /** Scans whole records from the start of `b`; returns where the first unfinished one starts. */
  private scan(b: Uint8Array, final: boolean): number {
    const n = b.length;
    let pos = 0;
    while (pos < n) {
      const recordStart = pos;
      const recordLine = this.line;
      const next = this.record(b, pos, final);
      if (next === INCOMPLETE) {
        this.line = recordLine;
        return recordStart;
      }
      pos = next;
    }
    return n;
  }

  /** One record (or a blank line) from `pos`: the position after its delimiter, or INCOMPLETE. */
  private record(b: Uint8Array, pos: number, final: boolean): number {
    const n = b.length;
    const sink = this.sink;
    let cells = 0;
    let blank = false;
    for (;;) {
      let s = pos;
      while (s < n && isTrimmable(b[s])) s++;
      if (s < n && b[s] === QUOTE) {
        const lineOfQuote = this.line;
        let p = s + 1;
        let escaped = false;
        for (;;) {
          if (p >= n) {
            if (!final) return INCOMPLETE;
            this.fail(`line ${lineOfQuote}: a quoted field is not closed before the end of the file`);
          }
          const c = b[p];
          if (c === QUOTE) {
            if (p + 1 >= n && !final) return INCOMPLETE;
            if (b[p + 1] !== QUOTE) break;
            escaped = true;
            p += 2;
            continue;
          }
          if (c === LF) this.line++;
          else if (c === CR) {
            if (p + 1 >= n && !final) return INCOMPLETE;
            if (b[p + 1] === LF) p++;
            this.line++;
          }
          p++;
        }
        const text = utf8.decode(b.subarray(s + 1, p));
        p++;
        while (p < n && isTrimmable(b[p])) p++;
        if (p >= n && !final) return INCOMPLETE;
        if (p < n && b[p] !== COMMA && b[p] !== LF && b[p] !== CR) this.fail(`line ${this.line}: characters after the closing quote of a field`);
        if (cells === 0) sink.beginRecord(lineOfQuote);
        sink.quotedCell(escaped ? text.replaceAll('""', '"') : text);
        pos = p;
      } else {
        let p = s;
        while (p < n) {
          const c = b[p];
          if (c === COMMA || c === LF || c === CR) break;
          if (c === QUOTE) this.fail(`line ${this.line}: a quote inside an unquoted field; quote the whole field and double the quotes in it`);
          p++;
        }
        if (p >= n && !final) return INCOMPLETE;
        let e = p;
        while (e > s && isTrimmable(b[e - 1])) e--;
        if (cells === 0 && s === e && (p >= n || b[p] !== COMMA)) blank = true; // nothing on the line
        else {
          if (cells === 0) sink.beginRecord(this.line);
          sink.cell(b, s, e);
        }
        pos = p;
      }
      cells++;
      if (pos >= n) break; // the end of the file
      const c = b[pos];
      if (c === COMMA) {
        pos++;
        continue;
      }
      if (c === CR) {
        if (pos + 1 >= n && !final) return INCOMPLETE;
        if (b[pos + 1] === LF) pos++;
      }
      pos++;
      this.line++;
      break;
    }
    if (!blank) sink.endRecord();
    return pos;
  }

  private fail(problem: string): never {
    throw new UserError(`${this.path}: not a valid CSV file (${problem})`);
  }
}

const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i);
const latin1 = new TextDecoder('latin1');

/**
 * parseDecimal of the bytes [s, e), without making a string: the same number, bit for bit. Up to 15 digits
 * and a power of ten up to 22 (most data) are one exact multiplication or division, correctly rounded
 * (Clinger's fast path); anything longer goes through Number(). NaN where parseDecimal gives NaN. With
 * `float32` (a feature, kept as float32), it may return Math.fround of that number instead, found without a
 * string for up to 19 digits (a double printed in full has 17): a number whose float32 is the same.
 */
export function decimalFromBytes(b: Uint8Array, s: number, e: number, float32 = false): number {
  let p = s;
  let negative = false;
  if (p < e && (b[p] === 43 || b[p] === 45)) {
    negative = b[p] === 45;
    p++;
  }
  let mantissa = 0, digits = 0, fraction = 0;
  while (p < e && b[p] >= 48 && b[p] <= 57) {
    mantissa = mantissa * 10 + (b[p++] - 48);
    digits++;
  }
  if (p < e && b[p] === 46) {
    p++;
    while (p < e && b[p] >= 48 && b[p] <= 57) {
      mantissa = mantissa * 10 + (b[p++] - 48);
      digits++;
      fraction++;
    }
  }
  if (digits === 0) return NaN;
  let exponent = 0;
  if (p < e && (b[p] === 101 || b[p] === 69)) {
    p++;
    let exponentNegative = false;
    if (p < e && (b[p] === 43 || b[p] === 45)) exponentNegative = b[p++] === 45;
    const first = p;
    while (p < e && b[p] >= 48 && b[p] <= 57) {
      if (exponent < 100000) exponent = exponent * 10 + (b[p] - 48);
      p++;
    }
    if (p === first) return NaN;
    if (exponentNegative) exponent = -exponent;
  }
  if (p !== e) return NaN;
  const power = exponent - fraction;
  if (digits <= 15 && power >= -22 && power <= 22) {
    const value = power >= 0 ? mantissa * POW10[power] : mantissa / POW10[-power];
    return negative ? -value : value;
  }
  if (float32 && digits <= 19 && power >= -22 && power <= 22) {
    // Too many digits for an exact double, but the cell is a float32 feature: the approximation (a few
    // double ulps off) rounds to the same float32 as the exact value unless it lies near a float32
    // rounding boundary, which is rare; only then is the text parsed exactly.
    const approximate = power >= 0 ? mantissa * POW10[power] : mantissa / POW10[-power];
    const rounded = float32UnlessNearBoundary(approximate);
    if (rounded !== undefined) return negative ? -rounded : rounded;
  }
  return Number(latin1.decode(b.subarray(s, e)));
}

const f32 = new Float32Array(1);
const f32Bits = new Uint32Array(f32.buffer);
/** float32 (normal, positive) of a positive double known to within a relative 2^-45; undefined where that is too close to call. */
function float32UnlessNearBoundary(x: number): number | undefined {
  const f = Math.fround(x);
  if (!(f >= 1.1754943508222875e-38 && f < 3.4028234663852886e38)) return undefined;
  f32[0] = f;
  const bits = f32Bits[0];
  f32Bits[0] = bits + 1;
  const up = f32[0];
  f32Bits[0] = bits - 1;
  const down = f32[0];
  const guard = x * 2 ** -45;
  const boundary = x >= f ? (f + up) / 2 - x : x - (f + down) / 2;
  return boundary > guard ? f : undefined;
}
