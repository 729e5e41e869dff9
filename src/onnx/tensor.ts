// Conversions between TensorProto and typed arrays. Everything the project writes stores data as raw_data.
import { DataType, onnx, toNumber, type TensorProto } from './proto.js';
import { UserError } from '../errors.js';

export type TypedArray = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array;

interface DTypeInfo { bytes: number; name: string; make(length: number): TypedArray }

const DTYPES: Partial<Record<number, DTypeInfo>> = {
  [DataType.FLOAT]: { bytes: 4, name: 'float32', make: (n) => new Float32Array(n) },
  [DataType.DOUBLE]: { bytes: 8, name: 'float64', make: (n) => new Float64Array(n) },
  [DataType.INT32]: { bytes: 4, name: 'int32', make: (n) => new Int32Array(n) },
  [DataType.INT64]: { bytes: 8, name: 'int64', make: (n) => new BigInt64Array(n) },
  [DataType.BOOL]: { bytes: 1, name: 'bool', make: (n) => new Uint8Array(n) },
  [DataType.UINT8]: { bytes: 1, name: 'uint8', make: (n) => new Uint8Array(n) },
};

export function dtypeInfo(dataType: number, what: string): DTypeInfo {
  const info = DTYPES[dataType];
  if (!info) throw new UserError(`${what}: unsupported tensor element type ${onnx.TensorProto.DataType[dataType] ?? dataType}`);
  return info;
}

export function tensorDims(t: TensorProto): number[] {
  return (t.dims ?? []).map((d) => toNumber(d));
}

export function elementCount(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/** The values of a tensor as a fresh typed array, checked against its declared shape. */
export function tensorValues(t: TensorProto): TypedArray {
  const { info, count } = checkTensorData(t);
  const out = info.make(count);
  if (t.rawData && t.rawData.length > 0) {
    // Copy: raw_data may not be aligned for a typed-array view.
    new Uint8Array(out.buffer).set(t.rawData);
    return out;
  }
  const typed = typedFieldValues(t);
  for (let i = 0; i < count; i++) {
    if (out instanceof BigInt64Array) out[i] = BigInt(toNumber(typed[i] as number));
    else out[i] = toNumber(typed[i] as number);
  }
  return out;
}

/**
 * Checks that a tensor holds exactly the data its dims declare, before anything is allocated for it: a file
 * can declare [1e6, 1e6] over a few bytes.
 */
export function checkTensorData(t: TensorProto): { info: DTypeInfo; count: number } {
  const dims = tensorDims(t);
  const info = dtypeInfo(t.dataType, `tensor '${t.name}'`);
  if (dims.some((d) => !Number.isSafeInteger(d) || d < 0)) throw new UserError(`tensor '${t.name}': invalid dims [${dims}]`);
  const count = elementCount(dims);
  const have = t.rawData && t.rawData.length > 0 ? t.rawData.length : typedFieldValues(t).length * info.bytes;
  if (have !== count * info.bytes) {
    throw new UserError(`tensor '${t.name}': ${have} bytes of data for shape [${dims}] (${count * info.bytes} expected)`);
  }
  return { info, count };
}

function typedFieldValues(t: TensorProto): ArrayLike<unknown> {
  switch (t.dataType) {
    case DataType.FLOAT: return t.floatData;
    case DataType.DOUBLE: return t.doubleData;
    case DataType.INT64: return t.int64Data;
    default: return t.int32Data;
  }
}

export function typedArrayFor(dataType: number, values: ArrayLike<number> | TypedArray): TypedArray {
  const info = dtypeInfo(dataType, 'tensor');
  if (values instanceof BigInt64Array) return values;
  const out = info.make(values.length);
  for (let i = 0; i < values.length; i++) {
    if (out instanceof BigInt64Array) out[i] = BigInt(values[i] as number);
    else out[i] = values[i] as number;
  }
  return out;
}

export function rawBytes(values: TypedArray): Uint8Array {
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength).slice();
}
