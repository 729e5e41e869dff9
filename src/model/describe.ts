// What the rest of the project needs to know about a model: its data inputs, its logits, its parameters.
import { DataType } from '../onnx/builder.js';
import type { ModelProto, TensorProto } from '../onnx/proto.js';
import { elementCount, tensorDims } from '../onnx/tensor.js';
import { valueInfoShape, type Shape } from '../graph/shapes.js';
import { MIN_OPSET } from '../autodiff/emit.js';
import { UserError } from '../errors.js';
import { INPUT_TYPES } from '../data/dataset.js';

/** A graph input that is not an initializer: what the data feeds. */
export interface DataInputInfo {
  name: string;
  /** ONNX element type (DataType). */
  elemType: number;
  shape: Shape;
}

export interface ModelSummary {
  opset: number;
  /** Every data input, in graph order. */
  inputs: DataInputInfo[];
  /** The model's first output. */
  logits: string;
  logitsShape: Shape;
  /** Trainable-in-principle tensors (float initializers), in file order, with their dims. */
  parameters: { name: string; dims: number[] }[];
}

// Inputs of these ops are constants by nature, never parameters: BatchNormalization's running statistics,
// bounds, pads, exponents, ratios and scales that shape an op rather than learn.
const NON_PARAMETER_INPUTS: Record<string, number[]> = {
  BatchNormalization: [3, 4], Clip: [1, 2], Pad: [1, 2, 3], Pow: [1], Dropout: [1, 2], Resize: [1, 2, 3], Upsample: [1],
};

// Names PyTorch's exporters give the constants they lift into initializers (TorchScript: `onnx::Mul_12`;
// torch.export: `val_7`, `_tensor_constant0`, `scalar_tensor_default`). Parameters keep state_dict names.
const EXPORTER_CONSTANT = /^(onnx::|val_\d|_val_\d|_tensor_constant|scalar_tensor)/;

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
  if (dataInputs.length === 0) throw new UserError(`${source}: the graph has no data input (every input is an initializer)`);
  if (graph.output.length === 0) throw new UserError(`${source}: the graph has no outputs`);
  const constants = new Set<string>();
  for (const node of graph.node) for (const slot of NON_PARAMETER_INPUTS[node.opType] ?? []) if (node.input[slot]) constants.add(node.input[slot]);
  const parameters = graph.initializer
    .filter((t) => isFloat(t) && !constants.has(t.name) && !EXPORTER_CONSTANT.test(t.name))
    .map((t) => ({ name: t.name, dims: tensorDims(t) }));
  return {
    opset,
    inputs: dataInputs.map((i) => ({ name: i.name, elemType: i.type?.tensorType?.elemType ?? 0, shape: valueInfoShape(i)?.shape ?? null })),
    logits: graph.output[0].name,
    logitsShape: valueInfoShape(graph.output[0])?.shape ?? null,
    parameters,
  };
}

/** Data inputs must be float32, int64 or int32: what the data readers produce and the trainer feeds. */
export function checkInputTypes(summary: Pick<ModelSummary, 'inputs'>, source = 'model'): void {
  for (const input of summary.inputs) {
    if (!INPUT_TYPES[input.elemType]) {
      throw new UserError(`${source}: input '${input.name}' is ${DataType[input.elemType] ?? input.elemType}; onnx-finetune feeds float32, int64 or int32 inputs`);
    }
  }
}

function isFloat(t: TensorProto): boolean {
  return t.dataType === DataType.FLOAT || t.dataType === DataType.DOUBLE;
}

/** How many values the parameters hold. */
export function parameterCount(parameters: ModelSummary['parameters']): number {
  return parameters.reduce((n, p) => n + elementCount(p.dims), 0);
}
