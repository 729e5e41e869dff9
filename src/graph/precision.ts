// Float64 copies of float32 models, for gradient checks: finite differences need double precision, and
// onnxruntime's CPU kernels for the ops we differentiate come in double too.
import { DataType, makeAttribute } from '../onnx/builder.js';
import { onnx, toNumber, type AttributeProto, type GraphProto, type ModelProto, type TensorProto, type ValueInfoProto } from '../onnx/proto.js';
import { rawBytes, tensorValues } from '../onnx/tensor.js';

/**
 * A copy of `model` with every float32 tensor made float64: FLOAT initializers (stored as raw_data), FLOAT
 * inputs, outputs and value_info, tensor attributes (Constant, ConstantOfShape), Constant's value_float(s),
 * and Cast to FLOAT. Subgraphs are converted too. The source model is not modified.
 */
export function toFloat64(model: ModelProto): ModelProto {
  const copy = onnx.ModelProto.decode(onnx.ModelProto.encode(model as never).finish()) as unknown as ModelProto;
  convertGraph(copy.graph);
  return copy;
}

function convertGraph(graph: GraphProto): void {
  graph.initializer.forEach(convertTensor);
  for (const v of [...graph.input, ...graph.output, ...graph.valueInfo]) convertValueInfo(v);
  for (const node of graph.node) {
    node.attribute = node.attribute.map((a) => {
      // Constant's float shorthands produce a float32 output: spell them as a double tensor instead.
      if (node.opType === 'Constant' && (a.name === 'value_float' || a.name === 'value_floats')) {
        const values = a.name === 'value_float' ? [a.f] : a.floats;
        const dims = a.name === 'value_float' ? [] : [values.length];
        const t = onnx.TensorProto.create({ dataType: DataType.DOUBLE, dims, rawData: rawBytes(Float64Array.from(values)) }) as TensorProto;
        return makeAttribute('value', t);
      }
      if (node.opType === 'Cast' && a.name === 'to' && toNumber(a.i) === DataType.FLOAT) a.i = DataType.DOUBLE;
      if (a.t) convertTensor(a.t);
      a.tensors?.forEach((t) => convertTensor(t as TensorProto));
      if (a.g) convertGraph(a.g);
      a.graphs?.forEach((g) => convertGraph(g as unknown as GraphProto));
      return a as AttributeProto;
    });
  }
}

function convertTensor(t: TensorProto): void {
  if (t.dataType !== DataType.FLOAT) return;
  const values = Float64Array.from(tensorValues(t) as Float32Array);
  t.dataType = DataType.DOUBLE;
  t.rawData = rawBytes(values);
  t.floatData = [];
}

function convertValueInfo(v: ValueInfoProto): void {
  const tensorType = v.type?.tensorType;
  if (tensorType && tensorType.elemType === DataType.FLOAT) tensorType.elemType = DataType.DOUBLE;
}
