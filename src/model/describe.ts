// What the rest of the project needs to know about a model: its data inputs, its logits, its parameters.
import { DataType } from '../onnx/builder.js';
import type { ModelProto } from '../onnx/proto.js';
import { elementCount, tensorDims } from '../onnx/tensor.js';
import { valueInfoShape, type Shape } from '../graph/shapes.js';
import { MIN_OPSET } from '../autodiff/emit.js';
import { UserError } from '../errors.js';
import { INPUT_TYPES } from '../data/dataset.js';
import { findParameters } from './parameter-roles.js';
import { embeddingTable, type EmbeddingTable } from './embedding-tables.js';

/** A graph input that is not an initializer: what the data feeds. */
export interface DataInputInfo {
  name: string;
  /** ONNX element type (DataType). */
  elemType: number;
  shape: Shape;
  /** The embedding table an integer input indexes (token ids), where a Gather reads one: ids must be below its rows. */
  embedding?: EmbeddingTable;
}

export interface ModelSummary {
  opset: number;
  /** Every data input, in graph order. */
  inputs: DataInputInfo[];
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
  if (dataInputs.length === 0) throw new UserError(`${source}: the graph has no data input (every input is an initializer)`);
  if (graph.output.length === 0) throw new UserError(`${source}: the graph has no outputs`);
  const { parameters, exporterNamed } = findParameters(graph);
  return {
    opset,
    inputs: dataInputs.map((i) => {
      const elemType = i.type?.tensorType?.elemType ?? 0;
      const embedding = elemType === DataType.INT64 || elemType === DataType.INT32 ? embeddingTable(graph, i.name) : undefined;
      return { name: i.name, elemType, shape: valueInfoShape(i)?.shape ?? null, ...(embedding && { embedding }) };
    }),
    logits: graph.output[0].name,
    logitsShape: valueInfoShape(graph.output[0])?.shape ?? null,
    parameters: parameters.map((t) => ({ name: t.name, dims: tensorDims(t) })),
    exporterNamed,
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

/** How many values the parameters hold. */
export function parameterCount(parameters: ModelSummary['parameters']): number {
  return parameters.reduce((n, p) => n + elementCount(p.dims), 0);
}
