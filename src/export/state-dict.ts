// A trained model's weights as PyTorch's state_dict has them: every parameter (trained or frozen) and every
// BatchNorm running statistic, under its initializer name, which is the PyTorch name. Exporter-made names
// (`onnx::Conv_193`) have no PyTorch key and are left out, by name, for the report.
import type { ModelProto } from '../onnx/proto.js';
import { tensorDims, tensorValues } from '../onnx/tensor.js';
import { bufferNames, EXPORTER_CONSTANT, findParameters } from '../model/parameter-roles.js';
import type { NamedTensor } from './safetensors.js';

export function pytorchStateDict(model: ModelProto): { tensors: NamedTensor[]; leftOut: string[] } {
  const graph = model.graph;
  const names = new Set([...findParameters(graph).parameters.map((t) => t.name), ...bufferNames(graph)]);
  const wanted = graph.initializer.filter((t) => names.has(t.name));
  return {
    tensors: wanted.filter((t) => !EXPORTER_CONSTANT.test(t.name)).map((t) => {
      const values = tensorValues(t);
      return { name: t.name, dims: tensorDims(t), values: values instanceof Float32Array ? values : Float32Array.from(values as Float64Array) };
    }),
    leftOut: wanted.filter((t) => EXPORTER_CONSTANT.test(t.name)).map((t) => t.name),
  };
}
