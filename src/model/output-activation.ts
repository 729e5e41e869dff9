// A model whose output is already a probability (it ends in Sigmoid or Softmax) trains under BCE or
// cross-entropy on those probabilities, as if they were logits: it learns next to nothing, silently. PyTorch's
// losses take logits for the same reason. The run says so once; the fix is in the export.
import type { ModelProto } from '../onnx/proto.js';

const PROBABILITY_OPS = new Set(['Sigmoid', 'Softmax', 'LogSoftmax']);
/** Ops that pass a probability through unchanged in meaning. */
const PASS_THROUGH = new Set(['Identity', 'Reshape', 'Flatten', 'Squeeze', 'Unsqueeze']);

/** One warning line when the model's output comes from Sigmoid/Softmax/LogSoftmax, or undefined. */
export function probabilityOutputWarning(model: ModelProto, source: string): string | undefined {
  const producer = new Map(model.graph.node.flatMap((n) => n.output.map((o) => [o, n] as const)));
  const output = model.graph.output[0]?.name;
  let node = producer.get(output);
  while (node && PASS_THROUGH.has(node.opType)) node = producer.get(node.input[0]);
  if (!node || !PROBABILITY_OPS.has(node.opType)) return undefined;
  return `${source}: output '${output}' comes from a ${node.opType} node ('${node.name || node.output[0]}'), so the loss sees probabilities, not logits, and training stalls near chance; export the model without its final ${node.opType} (return the logits, as PyTorch's BCEWithLogitsLoss and CrossEntropyLoss expect)`;
}
