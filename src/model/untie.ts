// PyTorch's TorchScript exporter stores equal initializers once (equal zero biases, say) and reads the copy
// through Identity nodes whose outputs carry the PyTorch names: `features.3.expand1x1.bias = Identity(onnx::Conv_200)`.
// PyTorch has those as independent parameters, so on load each such Identity becomes an initializer of its own.
// A tensor that several nodes read directly (tied embeddings) stays one parameter.
import { onnx, type GraphProto, type ModelProto, type TensorProto } from '../onnx/proto.js';
import { indexGraph } from '../graph/graph-index.js';
import { EXPORTER_CONSTANT, isFloatTensor } from './parameter-roles.js';

/**
 * Rewrites the model in place: every Identity that reads a shared float initializer and writes a PyTorch-style
 * name (not an exporter constant's, not a node output's `/scope/...`) is replaced by an initializer of that name
 * holding a copy of the value. Shared: read by more than one node, or named by the exporter; an Identity that
 * merely aliases a tensor under another name (torch.export's `alias`) changes nothing. A copy follows its source
 * in the initializer list; the source stays only while something still reads it. Returns the new names.
 */
export function untieSharedInitializers(model: ModelProto): string[] {
  const graph = model.graph;
  const initializers = new Map(graph.initializer.map((t) => [t.name, t]));
  const graphOutputs = new Set(graph.output.map((o) => o.name));
  const { order, consumers } = indexGraph(graph);
  const shared = (name: string) => EXPORTER_CONSTANT.test(name) || (consumers.get(name)?.length ?? 0) + (graphOutputs.has(name) ? 1 : 0) > 1;
  const root = new Map<string, string>(); // copy's name -> the original initializer it came from
  const copies = new Map<string, TensorProto[]>(); // original's name -> its copies, in node order
  const removed = new Set<unknown>();
  // In topological order, so that Identity(Identity(w)) copies the copy.
  for (const node of order) {
    const [source, name] = [initializers.get(node.input[0]), node.output[0]];
    if (node.opType !== 'Identity' || (node.domain && node.domain !== 'ai.onnx') || !source || !isFloatTensor(source)) continue;
    if (!name || !pytorchStyleName(name) || initializers.has(name) || graphOutputs.has(name) || !consumers.has(name)) continue;
    const origin = root.get(source.name) ?? source.name;
    if (!shared(origin)) continue;
    initializers.set(name, copyTensor(source, name));
    root.set(name, origin);
    copies.set(origin, [...(copies.get(origin) ?? []), initializers.get(name)!]);
    removed.add(node);
  }
  if (removed.size === 0) return [];
  graph.node = graph.node.filter((n) => !removed.has(n));
  const read = namesRead(graph);
  // An original all of whose readers were Identities is gone; so is a copy only a removed Identity read.
  const keep = (t: TensorProto) => !(copies.has(t.name) || root.has(t.name)) || read.has(t.name);
  graph.initializer = graph.initializer.flatMap((t) => [t, ...(copies.get(t.name) ?? [])]).filter(keep);
  // Before IR 4 initializers were listed as graph inputs too: a dropped one goes from there as well.
  const dropped = new Set([...copies.keys()].filter((name) => !read.has(name)));
  graph.input = graph.input.filter((i) => !dropped.has(i.name));
  return [...root.keys()].filter((name) => read.has(name));
}

/** Exporters name node outputs `/scope/Op_output_0` and constants `onnx::...`, `val_N`; PyTorch names are neither. */
function pytorchStyleName(name: string): boolean {
  return !name.startsWith('/') && !EXPORTER_CONSTANT.test(name);
}

function copyTensor(t: TensorProto, name: string): TensorProto {
  const copy = onnx.TensorProto.decode(onnx.TensorProto.encode(t as never).finish()) as unknown as TensorProto;
  copy.name = name;
  return copy;
}

/** Every name read by a node (subgraphs included: they may read the enclosing graph's tensors) or a graph output. */
function namesRead(graph: GraphProto): Set<string> {
  const read = new Set(graph.output.map((o) => o.name));
  const visit = (g: GraphProto) => {
    for (const node of g.node) {
      for (const input of node.input) read.add(input);
      for (const a of node.attribute) for (const sub of [a.g, ...(a.graphs ?? [])]) if (sub) visit(sub as GraphProto);
    }
  };
  visit(graph);
  return read;
}
