// Shapes computed at run time that are static but for one dimension (the batch) become constants.
// The emitted graphs reshape gradients back with Reshape(g, Shape(x)) and convolutions as GEMMs with
// Shape→Gather→Concat chains; ONNX Runtime pays a fixed cost per node and run (about a microsecond), so on
// a small model these chains cost as much as the arithmetic. A Reshape whose target shape inference knows
// (src/graph/shapes.ts: `symbols`) gets it as an initializer, with -1 for its one unknown dimension; the
// nodes that computed it are dropped once nothing reads them.
import { DataType, makeTensor } from '../onnx/builder.js';
import { onnx, type GraphProto, type NodeProto } from '../onnx/proto.js';
import { indexGraph } from './graph-index.js';
import { inferShapes } from './shapes.js';

/** Folds the graph's computed Reshape shapes into constants where they are known but for one dimension. */
export function foldStaticShapes(graph: GraphProto, opset: number): void {
  const infos = inferShapes(graph, indexGraph(graph), opset);
  const initializers = new Set(graph.initializer.map((t) => t.name));
  const made = new Map<string, string>();
  let folded = 0;
  graph.node = graph.node.map((node) => {
    const target = node.input[1];
    if (node.opType !== 'Reshape' || !target || initializers.has(target)) return node;
    const shape = constantShape(infos.get(target)?.symbols);
    if (!shape) return node;
    const key = shape.join(',');
    let name = made.get(key);
    if (!name) {
      name = uniqueName(graph, `static_shape_${made.size}`);
      graph.initializer.push(makeTensor(name, DataType.INT64, [shape.length], shape));
      initializers.add(name);
      made.set(key, name);
    }
    folded++;
    // A new node: the train and eval graphs share their forward nodes.
    return onnx.NodeProto.create({ ...node, input: [node.input[0], name] } as never) as unknown as NodeProto;
  });
  if (folded === 0) return;
  const readBefore = namesRead(graph.node, graph);
  graph.node = withoutUnread(graph);
  // Constants only the dropped nodes read go too (ONNX Runtime warns of unused initializers).
  const readAfter = namesRead(graph.node, graph);
  graph.initializer = graph.initializer.filter((t) => !readBefore.has(t.name) || readAfter.has(t.name));
}

function namesRead(nodes: NodeProto[], graph: GraphProto): Set<string> {
  const read = new Set(graph.output.map((o) => o.name));
  for (const node of nodes) readNames(node, read);
  return read;
}

/**
 * A Reshape target that means the same as the computed one: every dimension known and positive, or all
 * but one, which becomes -1 (Reshape infers it from the element count, which the run-time shape matched).
 */
function constantShape(symbols: (number | string | null)[] | undefined): number[] | undefined {
  if (!symbols || symbols.length === 0) return undefined;
  const unknown = symbols.filter((d) => typeof d !== 'number').length;
  if (unknown > 1 || symbols.some((d) => typeof d === 'number' && d <= 0)) return undefined;
  return symbols.map((d) => (typeof d === 'number' ? d : -1));
}

/** The nodes whose outputs something reads (a node, a subgraph, the graph's outputs), in their order. */
function withoutUnread(graph: GraphProto): NodeProto[] {
  let nodes = graph.node;
  for (;;) {
    const read = namesRead(nodes, graph);
    const kept = nodes.filter((n) => n.output.some((o) => o && read.has(o)));
    if (kept.length === nodes.length) return nodes;
    nodes = kept;
  }
}

function readNames(node: NodeProto, read: Set<string>): void {
  for (const name of node.input) if (name) read.add(name);
  for (const a of node.attribute) for (const g of [...(a.g ? [a.g] : []), ...(a.graphs ?? [])]) for (const inner of g.node ?? []) readNames(inner as NodeProto, read);
}

function uniqueName(graph: GraphProto, base: string): string {
  const taken = new Set([...graph.initializer.map((t) => t.name), ...graph.input.map((i) => i.name), ...graph.node.flatMap((n) => n.output)]);
  let name = base;
  while (taken.has(name)) name += '_';
  return name;
}
