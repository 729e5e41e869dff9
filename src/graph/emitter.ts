// Deterministically named node and constant creation, shared by gradient rules and loss fragments.
import { DataType, makeNode, makeTensor, type AttrValue } from '../onnx/builder.js';
import type { NodeProto, TensorProto } from '../onnx/proto.js';

export interface Emitter {
  readonly opset: number;
  /** Float element type of the fragment: constants it makes must match it. */
  readonly dtype: number;
  /** `<prefix>/<suffix>` */
  tmp(suffix: string): string;
  /** A constant of the fragment's float type (a scalar when dims are omitted). */
  constant(suffix: string, values: number[], dims?: number[]): string;
  /** An int64 constant, for shapes and axes (1-D unless dims are given). */
  ints(suffix: string, values: number[], dims?: number[]): string;
  /** A node named `<prefix>/<opType>_<k>`. */
  make(opType: string, inputs: string[], outputs: string[], attrs?: Record<string, AttrValue | undefined>): NodeProto;
}

/** Constants go into `initializers`, shared between emitters so that each is stored once. */
export function createEmitter(prefix: string, dtype: number, opset: number, initializers: TensorProto[]): Emitter {
  const made = new Map<string, number>();
  const tmp = (suffix: string) => `${prefix}/${suffix}`;
  const addConstant = (name: string, type: DataType, dims: number[], values: number[]) => {
    if (!initializers.some((t) => t.name === name)) initializers.push(makeTensor(name, type, dims, values));
    return name;
  };
  return {
    opset, dtype, tmp,
    constant: (suffix, values, dims = []) => addConstant(tmp(suffix), dtype, dims, values),
    ints: (suffix, values, dims = [values.length]) => addConstant(tmp(suffix), DataType.INT64, dims, values),
    make: (opType, inputs, outputs, attrs = {}) => {
      const k = made.get(opType) ?? 0;
      made.set(opType, k + 1);
      return makeNode(opType, inputs, outputs, attrs, tmp(`${opType}_${k}`));
    },
  };
}
