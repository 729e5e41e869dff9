// A small builder mirroring onnx's helper.py: makeNode, makeTensor, makeValueInfo, makeGraph, makeModel.
import { DataType, onnx, type AttributeProto, type GraphProto, type ModelProto, type NodeProto, type TensorProto, type ValueInfoProto } from './proto.js';
import { rawBytes, typedArrayFor, type TypedArray } from './tensor.js';

export const OPSET = 17;
export const IR_VERSION = 8;

export type AttrValue = number | string | number[] | string[] | TensorProto;
export type Dim = number | string | null;

// JavaScript has one number type, so float-valued attributes are known by name (as in the ONNX operator specs).
const FLOAT_ATTRIBUTES = new Set(['alpha', 'beta', 'epsilon', 'momentum', 'gamma', 'lambd', 'bias', 'ratio', 'value_float', 'value_floats', 'scale', 'spatial_scale']);

export function makeAttribute(name: string, value: AttrValue): AttributeProto {
  return makeAttributeProto(name, value) as unknown as AttributeProto;
}

function makeAttributeProto(name: string, value: AttrValue) {
  const A = onnx.AttributeProto.AttributeType;
  const isFloat = FLOAT_ATTRIBUTES.has(name);
  if (typeof value === 'number') {
    return isFloat ? onnx.AttributeProto.create({ name, type: A.FLOAT, f: value }) : onnx.AttributeProto.create({ name, type: A.INT, i: value });
  }
  if (typeof value === 'string') return onnx.AttributeProto.create({ name, type: A.STRING, s: new TextEncoder().encode(value) });
  if (Array.isArray(value)) {
    if (value.every((v) => typeof v === 'string')) {
      return onnx.AttributeProto.create({ name, type: A.STRINGS, strings: (value as string[]).map((v) => new TextEncoder().encode(v)) });
    }
    return isFloat ? onnx.AttributeProto.create({ name, type: A.FLOATS, floats: value as number[] }) : onnx.AttributeProto.create({ name, type: A.INTS, ints: value as number[] });
  }
  return onnx.AttributeProto.create({ name, type: A.TENSOR, t: value as never });
}

export function makeNode(opType: string, inputs: string[], outputs: string[], attrs: Record<string, AttrValue | undefined> = {}, name = ''): NodeProto {
  const attribute = Object.entries(attrs)
    .filter((entry): entry is [string, AttrValue] => entry[1] !== undefined)
    .map(([key, value]) => makeAttribute(key, value));
  return onnx.NodeProto.create({ opType, input: inputs, output: outputs, name, attribute }) as unknown as NodeProto;
}

/** A tensor with its values stored as raw_data. */
export function makeTensor(name: string, dataType: DataType, dims: readonly number[], values: ArrayLike<number> | TypedArray): TensorProto {
  const typed = typedArrayFor(dataType, values);
  return onnx.TensorProto.create({ name, dataType, dims: [...dims], rawData: rawBytes(typed) });
}

export function makeValueInfo(name: string, elemType: DataType, shape: readonly Dim[] | null): ValueInfoProto {
  const tensorType: { elemType: number; shape?: { dim: object[] } } = { elemType };
  if (shape) {
    tensorType.shape = { dim: shape.map((d) => (typeof d === 'number' ? { dimValue: d } : typeof d === 'string' ? { dimParam: d } : {})) };
  }
  return onnx.ValueInfoProto.create({ name, type: { tensorType } as never });
}

export function makeGraph(nodes: NodeProto[], name: string, inputs: ValueInfoProto[], outputs: ValueInfoProto[], initializer: TensorProto[] = []): GraphProto {
  return onnx.GraphProto.create({ node: nodes, name, input: inputs, output: outputs, initializer, valueInfo: [] } as never) as unknown as GraphProto;
}

export function makeModel(graph: GraphProto, options: { opset?: number; irVersion?: number; producerName?: string } = {}): ModelProto {
  return onnx.ModelProto.create({
    irVersion: options.irVersion ?? IR_VERSION,
    opsetImport: [{ domain: '', version: options.opset ?? OPSET }],
    producerName: options.producerName ?? 'onnx-finetune',
    graph: graph as never,
  }) as unknown as ModelProto;
}

export { DataType };
