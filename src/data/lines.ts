// The lines of a text file in one streaming pass: split at \r\n, \n or \r (a byte-order mark dropped), each
// decoded as UTF-8 and given with its line number. A line is held whole while it is read, so past `limit`
// characters it is refused; the rest of it is only counted, so that the message gives its length.
import { UserError } from '../errors.js';
import { regularFileChunks } from '../runtime/files.js';

const LF = 10, CR = 13;

export function forEachLine(path: string, what: string, limit: number, onLine: (text: string, line: number) => void): void {
  let line = 1;
  let parts: Uint8Array[] = [];
  let held = 0;
  /** Characters of a line past the limit, counted instead of kept; -1 while the line is within it. */
  let overlong = -1;
  let afterCR = false;
  let first = true;
  const emit = (chunk: Uint8Array, start: number, end: number) => {
    if (overlong >= 0) {
      overlong += countChars(chunk, start, end);
      throw new UserError(`${path}: line ${line}: ${overlong} characters, more than the ${limit} a line may have`);
    }
    let text: string;
    if (parts.length === 0) text = Buffer.from(chunk.buffer, chunk.byteOffset + start, end - start).toString('utf8');
    else {
      parts.push(chunk.subarray(start, end));
      text = Buffer.concat(parts).toString('utf8');
      parts = [];
      held = 0;
    }
    onLine(text, line);
  };
  for (let chunk of regularFileChunks(path, what).chunks) {
    if (first) {
      first = false;
      if (chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf) chunk = chunk.subarray(3);
    }
    let start = 0;
    if (afterCR && chunk[0] === LF) start = 1;
    afterCR = false;
    const n = chunk.length;
    for (let i = start; i < n; i++) {
      const c = chunk[i];
      if (c !== LF && c !== CR) continue;
      emit(chunk, start, i);
      line++;
      if (c === CR) {
        if (i + 1 === n) afterCR = true;
        else if (chunk[i + 1] === LF) i++;
      }
      start = i + 1;
    }
    if (start === n) continue;
    if (overlong >= 0) overlong += countChars(chunk, start, n);
    else {
      parts.push(chunk.slice(start)); // the chunk's buffer is reused
      held += n - start;
      if (held > limit) {
        overlong = parts.reduce((sum, p) => sum + countChars(p, 0, p.length), 0);
        parts = [];
      }
    }
  }
  if (parts.length > 0 || overlong >= 0) emit(new Uint8Array(0), 0, 0);
}

/** UTF-16 code units of UTF-8 bytes, as String.length counts them: one per sequence, two past U+FFFF. */
function countChars(b: Uint8Array, start: number, end: number): number {
  let count = 0;
  for (let i = start; i < end; i++) {
    const c = b[i];
    if (c < 0x80 || c >= 0xc0) count += c >= 0xf0 ? 2 : 1;
  }
  return count;
}
