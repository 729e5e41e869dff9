// The dynamo exporter splits attention's fused qkv projection with SplitToSequence and reads the chunks back
// with SequenceAt at constant positions: a Split in disguise. For the backward walk only, each such split
// becomes one node 'SplitToSequence' whose outputs are its chunks (the rule concatenates their gradients) and
// each SequenceAt an Identity of its chunk. The forward graph itself is left as it is; a split read any other
// way stays, and its SequenceAt meets "no gradient rule".
import { makeNode } from '../onnx/builder.js';
import { toNumber, type GraphProto, type NodeProto } from '../onnx/proto.js';
import { constantInts, type TensorInfo } from '../graph/shapes.js';

export function sequenceSplitsAsChunks(order: NodeProto[], graph: GraphProto, infos: Map<string, TensorInfo>): NodeProto[] {
  const replaced = new Map<NodeProto, NodeProto>();
  const intValues = (t: string) => constantInts(graph, t) ?? infos.get(t)?.values;
  for (const split of order.filter((n) => n.opType === 'SplitToSequence')) {
    const readers = order.filter((n) => n.input.includes(split.output[0]));
    if (readers.length === 0 || readers.some((n) => n.opType !== 'SequenceAt' || n.input[0] !== split.output[0])) continue;
    const count = chunkCount(split, infos, intValues);
    const positions = readers.map((n) => intValues(n.input[1])?.[0]);
    if (count === undefined || positions.some((p) => p === undefined || p < -count || p >= count)) continue;
    const chunk = (i: number) => `${split.output[0]}/chunk_${i}`;
    // The sequence's info describes its chunks (src/graph/shapes.ts); the rules read their type from it.
    const element = infos.get(split.output[0]);
    if (element) for (let i = 0; i < count; i++) infos.set(chunk(i), element);
    const attrs = Object.fromEntries(split.attribute.map((a) => [a.name, toNumber(a.i)]));
    replaced.set(split, makeNode('SplitToSequence', split.input, Array.from({ length: count }, (_, i) => chunk(i)),
      { ...attrs, sequence: split.output[0] }, split.name));
    readers.forEach((n, k) => replaced.set(n, makeNode('Identity', [chunk((positions[k]! + count) % count)], n.output, {}, n.name)));
  }
  return replaced.size === 0 ? order : order.map((n) => replaced.get(n) ?? n);
}

/** How many chunks a SplitToSequence makes: one per size given, or the axis cut in pieces of a scalar size (or 1). */
function chunkCount(split: NodeProto, infos: Map<string, TensorInfo>, intValues: (t: string) => number[] | undefined): number | undefined {
  const shape = infos.get(split.input[0])?.shape;
  const axisAttr = split.attribute.find((a) => a.name === 'axis');
  const axis = axisAttr ? toNumber(axisAttr.i) : 0;
  const size = shape ? shape[axis < 0 ? axis + shape.length : axis] : undefined;
  if (!split.input[1]) return typeof size === 'number' ? size : undefined;
  const sizes = intValues(split.input[1]);
  if (!sizes) return undefined;
  if (infos.get(split.input[1])?.shape?.length !== 0) return sizes.length;
  return typeof size === 'number' ? Math.ceil(size / sizes[0]) : undefined;
}
