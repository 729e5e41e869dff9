// Which embedding table an integer data input indexes: the Gather (axis 0) whose indices are the input's values,
// perhaps reshaped or cast on the way (GPT-2's exporters flatten input_ids first), and whose data is an
// initializer. Its first dimension is how many token ids the model knows: an id at or past it has no row.
import type { GraphProto } from '../onnx/proto.js';
import { toNumber } from '../onnx/proto.js';
import { tensorDims } from '../onnx/tensor.js';

export interface EmbeddingTable {
  /** The initializer the Gather reads rows from. */
  table: string;
  rows: number;
}

/** Ops that pass their first input's values through unchanged (only rearranged or retyped). */
const VALUE_PRESERVING = new Set(['Identity', 'Cast', 'Reshape', 'Flatten', 'Squeeze', 'Unsqueeze', 'Expand', 'Transpose']);

/** The smallest table a Gather looks up with the input's values, if any does. */
export function embeddingTable(graph: GraphProto, input: string): EmbeddingTable | undefined {
  const initializers = new Map(graph.initializer.map((t) => [t.name, t]));
  const consumers = new Map<string, typeof graph.node>();
  for (const node of graph.node) {
    for (const name of node.input) {
      if (!consumers.has(name)) consumers.set(name, []);
      consumers.get(name)!.push(node);
    }
  }
  // An initializer may reach the Gather through Identity (a tied or aliased weight).
  const identitySource = new Map(graph.node.filter((n) => n.opType === 'Identity').map((n) => [n.output[0], n.input[0]]));
  const tableOf = (name: string) => {
    for (let hops = 0; hops < 8 && !initializers.has(name) && identitySource.has(name); hops++) name = identitySource.get(name)!;
    return initializers.get(name);
  };
  let found: EmbeddingTable | undefined;
  const seen = new Set<string>();
  const pending = [input];
  while (pending.length > 0) {
    const value = pending.pop()!;
    if (seen.has(value)) continue;
    seen.add(value);
    for (const node of consumers.get(value) ?? []) {
      if (VALUE_PRESERVING.has(node.opType) && node.input[0] === value) pending.push(node.output[0]);
      if (node.opType !== 'Gather' || node.input[1] !== value) continue;
      const axis = node.attribute.find((a) => a.name === 'axis');
      if (axis && toNumber(axis.i) !== 0) continue;
      const table = tableOf(node.input[0]);
      const rows = table ? tensorDims(table)[0] : undefined;
      if (table && rows !== undefined && (!found || rows < found.rows)) found = { table: table.name, rows };
    }
  }
  return found;
}
