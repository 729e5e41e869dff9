// Which initializers are parameters, found by the slot they feed rather than by their name: an exporter may
// give a weight a made-up name (TorchScript's `onnx::Conv_193` when it folds BatchNorm into the convolution
// before it), and PyTorch would still train it.
import { DataType } from '../onnx/builder.js';
import type { GraphProto, ModelProto, TensorProto } from '../onnx/proto.js';

// Weight and bias slots: a float initializer here is a parameter whatever its name. MatMul counts either
// operand that is an initializer; Gather's data slot holds embedding tables.
const PARAMETER_INPUTS: Record<string, number[]> = {
  Conv: [1, 2], ConvTranspose: [1, 2], Gemm: [1, 2], MatMul: [0, 1], LayerNormalization: [1, 2], BatchNormalization: [1, 2], Gather: [0],
};

// Inputs of these ops are constants by nature, never parameters: bounds, pads, exponents, ratios and scales
// that shape an op rather than learn, and BatchNormalization's running statistics (buffers, see bufferNames).
const NON_PARAMETER_INPUTS: Record<string, number[]> = {
  BatchNormalization: [3, 4], Clip: [1, 2], Pad: [1, 2, 3], Pow: [1], Dropout: [1, 2], Resize: [1, 2, 3], Upsample: [1],
};

// Names PyTorch's exporters give the constants they lift into initializers (TorchScript: `onnx::Mul_12`;
// torch.export: `val_7`, `_tensor_constant0`, `scalar_tensor_default`). Parameters keep state_dict names.
export const EXPORTER_CONSTANT = /^(onnx::|val_\d|_val_\d|_tensor_constant|scalar_tensor)/;

/** The initializers that feed the given slots of the graph's nodes. */
function fedSlots(graph: GraphProto, slots: Record<string, number[]>): Set<string> {
  const names = new Set<string>();
  for (const node of graph.node) for (const slot of slots[node.opType] ?? []) if (node.input[slot]) names.add(node.input[slot]);
  return names;
}

export function isFloatTensor(t: TensorProto): boolean {
  return t.dataType === DataType.FLOAT || t.dataType === DataType.DOUBLE;
}

/**
 * The parameters in file order: float initializers in a weight or bias slot, and the other float initializers
 * not named like exporter constants (`cls_token`, a layer scale `gamma`), never those in a constant slot.
 * `exporterNamed` lists the parameters whose names are exporter-made: PyTorch has no such keys.
 */
export function findParameters(graph: GraphProto): { parameters: TensorProto[]; exporterNamed: string[] } {
  const weights = fedSlots(graph, PARAMETER_INPUTS);
  const constants = fedSlots(graph, NON_PARAMETER_INPUTS);
  const parameters = graph.initializer.filter((t) => isFloatTensor(t) && !constants.has(t.name) && (weights.has(t.name) || !EXPORTER_CONSTANT.test(t.name)));
  return { parameters, exporterNamed: parameters.map((t) => t.name).filter((name) => EXPORTER_CONSTANT.test(name)) };
}

/** BatchNormalization's running statistics: not trained, but part of the state PyTorch saves. */
export function bufferNames(graph: GraphProto): string[] {
  const stats = fedSlots(graph, { BatchNormalization: [3, 4] });
  return graph.initializer.filter((t) => isFloatTensor(t) && stats.has(t.name)).map((t) => t.name);
}

/**
 * One line for the run to print when parameters have exporter-made names, or undefined. Weights of Conv
 * nodes in a model without BatchNormalization are BatchNorm folded at export: they train, but not as PyTorch's.
 */
export function exporterNamesWarning(model: ModelProto, source: string): string | undefined {
  const { exporterNamed } = findParameters(model.graph);
  if (exporterNamed.length === 0) return undefined;
  const shown = exporterNamed.slice(0, 3).join(', ') + (exporterNamed.length > 3 ? ', ...' : '');
  const what = `${source}: ${exporterNamed.length} parameter${exporterNamed.length === 1 ? ' has an exporter-made name' : 's have exporter-made names'} (${shown})`;
  const graph = model.graph;
  const convSlots = fedSlots(graph, { Conv: [1, 2], ConvTranspose: [1, 2] });
  const foldedBatchNorm = exporterNamed.every((name) => convSlots.has(name)) && !graph.node.some((n) => n.opType === 'BatchNormalization');
  // TorchScript names its constants `onnx::...`; torch.export (dynamo=True) folds and renames unless told not to optimize.
  const reexport = exporterNamed.every((name) => name.startsWith('onnx::')) ? 'torch.onnx.export(..., do_constant_folding=False)' : 'torch.onnx.export(..., dynamo=True, optimize=False)';
  if (foldedBatchNorm) {
    return `${what}: BatchNorm was folded into the convolutions at export, so they train, but results cannot match PyTorch; re-export with ${reexport} for exact parity`;
  }
  return `${what}: they train, but PyTorch knows them by other names, so the .safetensors file leaves them out; re-export with ${reexport} to keep PyTorch's names`;
}
