// Everything a user needs before choosing a strategy, read off a model without training it: its parameters
// and what the --head and --unfreeze globs select of them, its inputs and outputs, its BatchNorm layers and
// which ops each strategy would have to differentiate through without a gradient rule.
import { onnx, toNumber, type GraphProto, type ModelProto, type NodeProto, type ValueInfoProto } from '../onnx/proto.js';
import { elementCount, tensorDims } from '../onnx/tensor.js';
import { valueInfoShape, type Shape } from '../graph/shapes.js';
import { indexGraph } from '../graph/graph-index.js';
import { matchParameters } from '../optim/groups.js';
import { fullFineTune, linearProbe, NOTEBOOK_DEFAULTS, partialUnfreeze, type Plan } from '../train/strategies.js';
import { UserError } from '../errors.js';
import { bufferNames, exporterNamesWarning, findParameters } from './parameter-roles.js';
import { checkInputTypes, defaultOpset, describeModel } from './describe.js';
import { gradientCoverage, type OpCoverage } from './gradient-coverage.js';

export interface TensorDescription {
  name: string;
  /** 'float32', 'int64', ...; 'sequence' and the like for what is not a tensor. */
  type: string;
  /** Dims are numbers, symbols ('batch') or null when unknown; null when even the rank is unknown. */
  shape: Shape;
}

export interface ParameterDescription {
  name: string;
  dims: number[];
  count: number;
  /** What the parameter is to the op that reads it: 'Conv weight', 'LayerNorm scale', 'embedding table', 'input of Add'. */
  role: string;
  head: boolean;
  unfreeze: boolean;
}

export interface Selection {
  glob: string;
  matched: string[];
  count: number;
}

export interface BatchNormDescription {
  node: string;
  channels: number | null;
  scale: string;
  bias: string;
  mean: string;
  variance: string;
  epsilon: number;
  /** ONNX's momentum: the running statistics keep this share of their value at each update (PyTorch's is 1 − it). */
  momentum: number;
  /** Whether the globs select its scale or bias (then --batchnorm auto trains it on batch statistics). */
  scaleSelected: { head: boolean; unfreeze: boolean };
}

export interface ModelInspection {
  producer: { name: string; version: string };
  irVersion: number;
  opsets: { domain: string; version: number }[];
  inputs: TensorDescription[];
  outputs: TensorDescription[];
  parameters: ParameterDescription[];
  /** BatchNorm running statistics: saved with the model, never trained. */
  buffers: { name: string; dims: number[]; count: number }[];
  head: Selection;
  unfreeze: Selection;
  /** Head parameters the unfreeze glob selects too: partial unfreeze refuses them. */
  overlap: string[];
  /** Every op type, the ones without a rule that some strategy needs first, then by node count. */
  ops: OpCoverage[];
  batchNorms: BatchNormDescription[];
  /** One line each: what training would refuse in the model or warn about, as training words it. */
  notes: string[];
}

// The slots whose role has a name; other parameters are named by the op that reads them.
const SLOT_ROLES: Record<string, string[]> = {
  Conv: ['Conv input', 'Conv weight', 'Conv bias'],
  ConvTranspose: ['ConvTranspose input', 'ConvTranspose weight', 'ConvTranspose bias'],
  Gemm: ['Gemm input', 'Gemm weight', 'Gemm bias'],
  MatMul: ['MatMul weight', 'MatMul weight'],
  LayerNormalization: ['LayerNorm input', 'LayerNorm scale', 'LayerNorm bias'],
  BatchNormalization: ['BatchNorm input', 'BatchNorm scale', 'BatchNorm bias'],
  Gather: ['embedding table'],
};

export function inspectModel(model: ModelProto, source: string, globs: { head: string; unfreeze: string }): ModelInspection {
  const graph = model.graph;
  const notes: string[] = [];
  try {
    checkInputTypes(describeModel(model, source), source);
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    notes.push(`training refuses this model: ${e.message}`);
  }
  const exporterNames = exporterNamesWarning(model, source);
  if (exporterNames) notes.push(exporterNames);

  const found = findParameters(graph).parameters;
  const names = found.map((t) => t.name);
  const headNames = new Set(matchParameters(globs.head, names));
  const unfreezeNames = new Set(matchParameters(globs.unfreeze, names));
  const roles = parameterRoles(graph, names);
  const parameters = found.map((t) => {
    const dims = tensorDims(t);
    return { name: t.name, dims, count: elementCount(dims), role: roles.get(t.name)!, head: headNames.has(t.name), unfreeze: unfreezeNames.has(t.name) };
  });
  const selection = (glob: string, selected: Set<string>): Selection => {
    const chosen = parameters.filter((p) => selected.has(p.name));
    return { glob, matched: chosen.map((p) => p.name), count: chosen.reduce((n, p) => n + p.count, 0) };
  };
  const head = selection(globs.head, headNames);
  const unfreeze = selection(globs.unfreeze, unfreezeNames);
  const bufferSet = new Set(bufferNames(graph));
  const buffers = graph.initializer.filter((t) => bufferSet.has(t.name)).map((t) => ({ name: t.name, dims: tensorDims(t), count: elementCount(tensorDims(t)) }));

  // What fails training first, then the most common ops.
  const ops = gradientCoverage(graph, defaultOpset(model), strategyPlans(globs).map((plan) => ({ key: plan.strategy, parameters: trainedBy(plan, names) })))
    .sort((a, b) => Number(b.blocks.length > 0) - Number(a.blocks.length > 0) || b.count - a.count);

  const initializerNames = new Set(graph.initializer.map((t) => t.name));
  return {
    producer: { name: model.producerName ?? '', version: model.producerVersion ?? '' },
    irVersion: toNumber(model.irVersion ?? 0),
    opsets: model.opsetImport.map((o) => ({ domain: o.domain ?? '', version: toNumber(o.version ?? 0) })),
    inputs: graph.input.filter((i) => !initializerNames.has(i.name)).map(describeValue),
    outputs: graph.output.map(describeValue),
    parameters,
    buffers,
    head,
    unfreeze,
    overlap: unfreeze.matched.filter((n) => headNames.has(n)),
    ops,
    batchNorms: batchNorms(graph, parameters),
    notes,
  };
}

/** The three strategies' plans with the given globs (hyperparameters do not change what they train). */
function strategyPlans(globs: { head: string; unfreeze: string }): Plan[] {
  return [
    linearProbe({ ...NOTEBOOK_DEFAULTS.linear_probe, head: globs.head }),
    partialUnfreeze({ ...NOTEBOOK_DEFAULTS.partial_unfreeze, head: globs.head, unfreeze: globs.unfreeze }),
    fullFineTune(NOTEBOOK_DEFAULTS.full_fine_tune),
  ];
}

/** Every parameter some stage of the plan trains. */
function trainedBy(plan: Plan, names: string[]): string[] {
  const globs = plan.stages.flatMap((s) => s.groups.flatMap((g) => (Array.isArray(g.params) ? g.params : [g.params])));
  const trained = new Set(globs.flatMap((glob) => matchParameters(glob, names)));
  return names.filter((name) => trained.has(name));
}

// Ops that pass a weight on unchanged but for its layout: the dynamo exporter writes Linear as Transpose + MatMul.
const LAYOUT_OPS = new Set(['Transpose', 'Reshape', 'Cast', 'Identity', 'Unsqueeze', 'Squeeze', 'Flatten']);

/**
 * Each parameter's role: the named slot it reaches, through layout ops, in its first reader that has one;
 * an Add after a MatMul is a Linear layer's bias; otherwise the op that first reads it past those layout ops.
 */
function parameterRoles(graph: GraphProto, parameters: string[]): Map<string, string> {
  const { consumers, producer } = indexGraph(graph);
  const after = (tensor: string, opType: string) => producer.get(tensor)?.opType === opType;
  const roleOf = (parameter: string): string => {
    let tensor = parameter;
    for (;;) {
      const readers = consumers.get(tensor) ?? [];
      for (const node of readers) {
        const slot = node.input.indexOf(tensor);
        const role = SLOT_ROLES[node.opType]?.[slot];
        if (role) return role;
        if (node.opType === 'Add' && after(node.input[1 - slot], 'MatMul')) return 'MatMul bias';
      }
      if (readers.length !== 1 || !LAYOUT_OPS.has(readers[0].opType) || readers[0].input[0] !== tensor) {
        return readers.length > 0 ? `input of ${readers[0].opType}` : 'unused';
      }
      tensor = readers[0].output[0];
    }
  };
  return new Map(parameters.map((name) => [name, roleOf(name)]));
}

function describeValue(v: ValueInfoProto): TensorDescription {
  const type = v.type;
  if (!type?.tensorType) {
    const kind = type?.sequenceType ? 'sequence' : type?.mapType ? 'map' : type?.optionalType ? 'optional' : type?.sparseTensorType ? 'sparse tensor' : 'unknown';
    return { name: v.name, type: kind, shape: null };
  }
  const info = valueInfoShape(v);
  return { name: v.name, type: elementTypeName(info?.dtype ?? 0), shape: info?.shape ?? null };
}

/** ONNX element types as numpy and onnxruntime name them: float32, int64, bool. */
export function elementTypeName(dataType: number): string {
  const name = onnx.TensorProto.DataType[dataType];
  if (!name || dataType === 0) return 'unknown';
  return name === 'FLOAT' ? 'float32' : name === 'DOUBLE' ? 'float64' : name.toLowerCase();
}

function batchNorms(graph: GraphProto, parameters: ParameterDescription[]): BatchNormDescription[] {
  const byName = new Map(parameters.map((p) => [p.name, p]));
  const selected = (node: NodeProto, key: 'head' | 'unfreeze') => [1, 2].some((slot) => byName.get(node.input[slot])?.[key] === true);
  const initializers = new Map(graph.initializer.map((t) => [t.name, t]));
  // Float attributes are float32: 1e-5 reads back as 9.99999974e-6, shown as written.
  const attr = (node: NodeProto, name: string, fallback: number) => {
    const value = node.attribute.find((a) => a.name === name)?.f;
    return value === undefined || value === null ? fallback : Number(value.toPrecision(6));
  };
  return graph.node.flatMap((node, i) => {
    if (node.opType !== 'BatchNormalization') return [];
    const scale = initializers.get(node.input[1]);
    return [{
      node: node.name || `BatchNormalization_${i}`,
      channels: scale ? tensorDims(scale)[0] ?? null : null,
      scale: node.input[1], bias: node.input[2], mean: node.input[3], variance: node.input[4],
      epsilon: attr(node, 'epsilon', 1e-5),
      momentum: attr(node, 'momentum', 0.9),
      scaleSelected: { head: selected(node, 'head'), unfreeze: selected(node, 'unfreeze') },
    }];
  });
}
