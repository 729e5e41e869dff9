// What the rest of the project needs to know about a model: its data input, its logits, its parameters.
import type { ModelProto } from '../onnx/proto.js';
import { elementCount, tensorDims } from '../onnx/tensor.js';
import { valueInfoShape, type Shape } from '../graph/shapes.js';
import { MIN_OPSET } from '../autodiff/emit.js';
import { UserError } from '../errors.js';
import { findParameters } from './parameter-roles.js';

export interface ModelSummary {
  opset: number;
  input: string;
  inputShape: Shape;
  /** The model's first output. */
  logits: string;
  logitsShape: Shape;
  /** Trainable-in-principle tensors (float initializers), in file order, with their dims: see findParameters. */
  parameters: { name: string; dims: number[] }[];
  /** The parameters whose names the exporter made up (`onnx::Conv_193`): PyTorch has no such keys. */
  exporterNamed: string[];
}

export function defaultOpset(model: ModelProto): number {
  const entry = model.opsetImport.find((o) => !o.domain || o.domain === 'ai.onnx');
  return entry ? Number(entry.version) : 0;
}

export function describeModel(model: ModelProto, source = 'model'): ModelSummary {
  const graph = model.graph;
  const opset = defaultOpset(model);
  if (opset < MIN_OPSET) throw new UserError(`${source}: opset ${opset} is older than ${MIN_OPSET}; re-export the model with opset_version >= ${MIN_OPSET}`);
  const initializerNames = new Set(graph.initializer.map((t) => t.name));
  const dataInputs = graph.input.filter((i) => !initializerNames.has(i.name));
  if (dataInputs.length !== 1) {
    throw new UserError(`${source}: expected exactly one data input, found ${dataInputs.length} (${dataInputs.map((i) => i.name).join(', ') || 'none'})`);
  }
  if (graph.output.length === 0) throw new UserError(`${source}: the graph has no outputs`);
  const { parameters, exporterNamed } = findParameters(graph);
  return {
    opset,
    input: dataInputs[0].name,
    inputShape: valueInfoShape(dataInputs[0])?.shape ?? null,
    logits: graph.output[0].name,
    logitsShape: valueInfoShape(graph.output[0])?.shape ?? null,
    parameters: parameters.map((t) => ({ name: t.name, dims: tensorDims(t) })),
    exporterNamed,
  };
}

/** How many values the parameters hold. */
export function parameterCount(parameters: ModelSummary['parameters']): number {
  return parameters.reduce((n, p) => n + elementCount(p.dims), 0);
}
