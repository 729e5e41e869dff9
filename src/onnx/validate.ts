// Checks a decoded model before anything uses it, so that a broken or hostile file gets one clear error
// naming the tensor or node at fault instead of a crash, a hang or a huge allocation later on.
import type { ModelProto } from './proto.js';
import { checkTensorData } from './tensor.js';
import { indexGraph } from '../graph/graph-index.js';
import { UserError } from '../errors.js';

/** No tensor dimension a model can really need: the project's arrays and ONNX Runtime's stay below 2^31. */
const MAX_DIM = 2 ** 31 - 1;

export function validateModel(model: ModelProto, source: string): void {
  const graph = model.graph;
  const fail = (what: string) => new UserError(`${source}: ${what}`);
  if (model.opsetImport.length === 0) throw fail('no opset_import: not a usable ONNX model');
  const defined = new Set<string>(['']);
  for (const t of graph.initializer) {
    // Two initializers of one name: which one a node reads (and which one trains) would be a guess.
    if (t.name && defined.has(t.name)) throw fail(`initializer '${t.name}' is defined twice; every initializer needs a name of its own`);
    try {
      checkTensorData(t);
    } catch (e) {
      throw fail((e as Error).message);
    }
    defined.add(t.name);
  }
  for (const v of [...graph.input, ...graph.output, ...graph.valueInfo]) {
    const dims = v.type?.tensorType?.shape?.dim ?? [];
    for (const d of dims) {
      const value = Number(d.dimValue ?? 0);
      if (value < 0 || value > MAX_DIM) throw fail(`'${v.name}' declares an impossible dimension ${value}`);
    }
  }
  for (const i of graph.input) defined.add(i.name);
  for (const node of graph.node) {
    for (const a of node.attribute) {
      if (!a.t) continue;
      try {
        checkTensorData(a.t);
      } catch (e) {
        throw fail(`node '${node.name || node.opType}' (${node.opType}), attribute '${a.name}': ${(e as Error).message}`);
      }
    }
  }
  for (const node of graph.node) for (const o of node.output) defined.add(o);
  for (const node of graph.node) {
    // Nodes with subgraphs (If, Loop, Scan) may read names from the enclosing scope only inside them.
    for (const input of node.input) {
      if (!defined.has(input)) throw fail(`node '${node.name || node.opType}' (${node.opType}) reads '${input}', which no input, initializer or node defines`);
    }
  }
  for (const o of graph.output) if (!defined.has(o.name)) throw fail(`graph output '${o.name}' is not computed by any node`);
  try {
    indexGraph(graph);
  } catch (e) {
    throw fail((e as Error).message);
  }
}
