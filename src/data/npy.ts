// NumPy's .npy format (versions 1 to 3): a short header (dtype, C or Fortran order, shape), then the values,
// row-major. Little-endian float32/float64/int64/int32, uint8 and bool are read; the values are cast to the
// model input's element type, checked as CSV and JSONL values are (finite floats, whole integers in range).
import { closeSync } from 'node:fs';
import { UserError } from '../errors.js';
import { openRegularFile, readRange } from '../runtime/files.js';
import type { InputType, InputValues } from './dataset.js';

const DTYPES = {
  '<f4': { size: 4, name: 'float32', float: true },
  '<f8': { size: 8, name: 'float64', float: true },
  '<i8': { size: 8, name: 'int64', float: false },
  '<i4': { size: 4, name: 'int32', float: false },
  '|u1': { size: 1, name: 'uint8', float: false },
  '|b1': { size: 1, name: 'bool', float: false },
} as const;
type Dtype = keyof typeof DTYPES;
const ALIASES: Record<string, Dtype> = { '<u1': '|u1', '|i1': '|u1', '<b1': '|b1' };

export interface NpyArray {
  source: string;
  dtype: Dtype;
  shape: number[];
  /** The values' bytes, aligned to the element size. */
  data: Uint8Array;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const MAX_BYTES = 2 ** 32 - 1;

/** The header: where the values start, their dtype and shape; `available` is the byte count that follows the header. */
function parseHeader(bytes: Uint8Array, source: string): { dtype: Dtype; shape: number[]; offset: number; dataBytes: number } {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) throw new UserError(`${source}: not an .npy file (no \\x93NUMPY magic at its start)`);
  const major = bytes[6];
  if (major < 1 || major > 3) throw new UserError(`${source}: .npy format version ${major}.${bytes[7]}, not 1, 2 or 3`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const start = major === 1 ? 10 : 12;
  if (bytes.length < start) throw new UserError(`${source}: truncated .npy file (it ends inside the header)`);
  const length = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  if (bytes.length < start + length) throw new UserError(`${source}: truncated .npy file (it ends inside the header)`);
  const header = Buffer.from(bytes.buffer, bytes.byteOffset + start, length).toString(major === 3 ? 'utf8' : 'latin1');
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) throw new UserError(`${source}: .npy header without descr, fortran_order and shape: ${JSON.stringify(header.slice(0, 80))}`);
  if (fortran === 'True') throw new UserError(`${source}: Fortran-order (column-major) array; save it in C order: np.save(path, np.ascontiguousarray(a))`);
  const dtype = (ALIASES[descr] ?? descr) as Dtype;
  if (!Object.hasOwn(DTYPES, dtype)) {
    const hint = descr.startsWith('>') ? '; it is big-endian: save a.astype(a.dtype.newbyteorder("<"))' : '';
    throw new UserError(`${source}: dtype '${descr}' is not supported (little-endian float32, float64, int64, int32, uint8 or bool)${hint}`);
  }
  const shape = shapeText.split(',').map((d) => d.trim()).filter((d) => d !== '').map(Number);
  if (shape.some((d) => !Number.isSafeInteger(d) || d < 0)) throw new UserError(`${source}: shape (${shapeText}) is not a list of sizes`);
  const dataBytes = shape.reduce((a, b) => a * b, 1) * DTYPES[dtype].size;
  if (dataBytes > MAX_BYTES) throw new UserError(`${source}: shape (${shape.join(', ')}) of ${DTYPES[dtype].name} takes ${dataBytes} bytes, more than the 4 GiB an array may have here`);
  return { dtype, shape, offset: start + length, dataBytes };
}

function truncated(source: string, shape: number[], dtype: Dtype, needed: number, has: number): UserError {
  return new UserError(`${source}: truncated .npy data: shape (${shape.join(', ')}) of ${DTYPES[dtype].name} needs ${needed} bytes, the file has ${has}`);
}

/** An .npy array already in memory (an .npz member). */
export function parseNpy(bytes: Uint8Array, source: string): NpyArray {
  const { dtype, shape, offset, dataBytes } = parseHeader(bytes, source);
  const has = bytes.length - offset;
  if (has < dataBytes) throw truncated(source, shape, dtype, dataBytes, has);
  let data = bytes.subarray(offset, offset + dataBytes);
  if (data.byteOffset % DTYPES[dtype].size !== 0) data = data.slice();
  return { source, dtype, shape, data };
}

/** An .npy file: the header first, then the values read straight into their own buffer. */
export function readNpyFile(path: string): NpyArray {
  const { fd, size } = openRegularFile(path, '.npy file');
  try {
    const head = readRange(fd, path, '.npy file', 0, Math.min(size, 12));
    const view = new DataView(head.buffer);
    const headerEnd = head.length < 12 ? head.length : head[6] === 1 ? view.getUint16(8, true) + 10 : view.getUint32(8, true) + 12;
    const header = readRange(fd, path, '.npy file', 0, Math.min(size, headerEnd));
    const { dtype, shape, offset, dataBytes } = parseHeader(header, path);
    if (size - offset < dataBytes) throw truncated(path, shape, dtype, dataBytes, size - offset);
    return { source: path, dtype, shape, data: readRange(fd, path, '.npy file', offset, dataBytes) };
  } finally {
    closeSync(fd);
  }
}

/** Examples: the first dimension; one value per example for a 1-D array. */
export const npyCount = (a: NpyArray) => a.shape[0] ?? 1;
export const npyExampleShape = (a: NpyArray) => (a.shape.length <= 1 ? [1] : a.shape.slice(1));

/** The values as doubles (int64 and bool included), for casting and for labels. */
function numbers(a: NpyArray): ArrayLike<number> & Iterable<number> {
  const { buffer, byteOffset, byteLength } = a.data;
  switch (a.dtype) {
    case '<f4': return new Float32Array(buffer, byteOffset, byteLength / 4);
    case '<f8': return new Float64Array(buffer, byteOffset, byteLength / 8);
    case '<i4': return new Int32Array(buffer, byteOffset, byteLength / 4);
    case '<i8': return Float64Array.from(new BigInt64Array(buffer, byteOffset, byteLength / 8), Number);
    default: return a.data;
  }
}

/** The array's values as the input's element type: float32 finite, integers whole and in range. */
export function npyValues(a: NpyArray, type: InputType, what: string): InputValues {
  const where = `${a.source}${what}`;
  const { buffer, byteOffset, byteLength } = a.data;
  if (type === 'float32') {
    if (a.dtype === '<f4') checkFinite(new Float32Array(buffer, byteOffset, byteLength / 4), where);
    const out = a.dtype === '<f4' ? new Float32Array(buffer, byteOffset, byteLength / 4) : Float32Array.from(numbers(a));
    if (a.dtype === '<f8') checkFinite(out, where);
    return out;
  }
  if (DTYPES[a.dtype].float) throw new UserError(`${where}: ${DTYPES[a.dtype].name} values for the ${type} input; save them as integers (a.astype(np.${type}))`);
  if (type === 'int64') return a.dtype === '<i8' ? new BigInt64Array(buffer, byteOffset, byteLength / 8) : BigInt64Array.from(numbers(a), BigInt);
  if (a.dtype === '<i4') return new Int32Array(buffer, byteOffset, byteLength / 4);
  const values = numbers(a);
  for (let i = 0; i < values.length; i++) {
    if (values[i] < -(2 ** 31) || values[i] > 2 ** 31 - 1) throw new UserError(`${where}: element ${i} is ${values[i]}, outside int32's range [-2147483648, 2147483647]`);
  }
  return Int32Array.from(values);
}

/** Labels: one number per example, from an array of shape (n,) or (n, 1). */
export function npyLabels(a: NpyArray, what: string): Float64Array {
  if (a.shape.length > 2 || (a.shape.length === 2 && a.shape[1] !== 1)) throw new UserError(`${a.source}${what}: labels of shape (${a.shape.join(', ')}); give one label per example, shape (n,)`);
  const labels = Float64Array.from(numbers(a));
  for (let i = 0; i < labels.length; i++) if (!Number.isFinite(labels[i])) throw new UserError(`${a.source}${what}: label ${i} is ${labels[i]}, not a finite number`);
  return labels;
}

function checkFinite(values: Float32Array, where: string): void {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) throw new UserError(`${where}: element ${i} is ${values[i]} (${Number.isNaN(values[i]) ? 'not finite' : "beyond float32's range"})`);
  }
}
