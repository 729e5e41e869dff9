// Where an exported model came from, for other runtimes and for people: onnx-finetune as its producer, and
// metadata_props saying which strategy and plan trained it and on which label. (Class names and
// preprocessing are data-metadata.ts's.)
import { onnx, type ModelProto } from '../onnx/proto.js';
import type { Plan } from '../train/strategies.js';

export interface Provenance {
  version: string;
  plan: Plan;
  /** The label column or key the model learned to predict. */
  label?: string;
}

export function withProvenance(model: ModelProto, p: Provenance): ModelProto {
  const entries: Record<string, string> = {
    'onnx_finetune.version': p.version,
    'onnx_finetune.strategy': p.plan.strategy,
    'onnx_finetune.plan': JSON.stringify(p.plan.stages),
    ...(p.label === undefined ? {} : { 'onnx_finetune.label': p.label }),
  };
  const kept = model.metadataProps.filter((e) => !Object.hasOwn(entries, e.key ?? ''));
  return {
    ...model,
    producerName: 'onnx-finetune',
    producerVersion: p.version,
    metadataProps: [...kept, ...Object.entries(entries).map(([key, value]) => onnx.StringStringEntryProto.create({ key, value }))],
  } as ModelProto;
}
