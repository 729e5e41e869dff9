// Read-only views of a graph that several passes need: producers, consumers and a topological order.
import type { GraphProto, NodeProto } from '../onnx/proto.js';
import { UserError } from '../errors.js';

export interface GraphIndex {
  order: NodeProto[];
  producer: Map<string, NodeProto>;
  consumers: Map<string, NodeProto[]>;
}

/** Names every unnamed node deterministically, so gradient names derived from node names are stable. */
export function nameNodes(graph: GraphProto): void {
  const used = new Set(graph.node.map((n) => n.name).filter(Boolean));
  graph.node.forEach((node, i) => {
    if (node.name) return;
    let name = `${node.opType}_${i}`;
    while (used.has(name)) name += '_';
    used.add(name);
    node.name = name;
  });
}

export function indexGraph(graph: GraphProto): GraphIndex {
  const producer = new Map<string, NodeProto>();
  const consumers = new Map<string, NodeProto[]>();
  for (const node of graph.node) {
    for (const out of node.output) if (out) producer.set(out, node);
    for (const inp of node.input) {
      if (!inp) continue;
      const list = consumers.get(inp) ?? [];
      if (!list.includes(node)) list.push(node);
      consumers.set(inp, list);
    }
  }
  return { order: topologicalOrder(graph, producer), producer, consumers };
}

/** Kahn's algorithm, keeping the file's order among ready nodes; a cycle is an error naming a node on it. */
function topologicalOrder(graph: GraphProto, producer: Map<string, NodeProto>): NodeProto[] {
  const pending = new Map<NodeProto, number>();
  const dependents = new Map<NodeProto, NodeProto[]>();
  for (const node of graph.node) {
    const deps = new Set(node.input.filter((i) => i && producer.has(i)).map((i) => producer.get(i)!));
    pending.set(node, deps.size);
    for (const d of deps) dependents.set(d, [...(dependents.get(d) ?? []), node]);
  }
  const position = new Map(graph.node.map((n, i) => [n, i]));
  const ready = graph.node.filter((n) => pending.get(n) === 0);
  const order: NodeProto[] = [];
  while (ready.length > 0) {
    const node = ready.shift()!;
    order.push(node);
    for (const d of dependents.get(node) ?? []) {
      const left = pending.get(d)! - 1;
      pending.set(d, left);
      if (left === 0) {
        const at = ready.findIndex((r) => position.get(r)! > position.get(d)!);
        ready.splice(at < 0 ? ready.length : at, 0, d);
      }
    }
  }
  if (order.length !== graph.node.length) {
    const stuck = graph.node.find((n) => pending.get(n)! > 0)!;
    throw new UserError(`graph has a cycle through node '${stuck.name}' (${stuck.opType})`);
  }
  return order;
}
