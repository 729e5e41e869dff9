// LoRA as the rest of the engine sees it: an adapted model (the source model with adapters, see adapters.ts)
// and a plan that trains the adapters and the head (PEFT's modules_to_save) with everything else frozen.
// After training, the result folds back into the plain source model (merge.ts) or leaves as a PEFT adapter.
import type { ModelProto } from '../onnx/proto.js';
import { rawBytes, tensorDims } from '../onnx/tensor.js';
import { DataType } from '../onnx/builder.js';
import { cloneModel } from '../artifacts/build.js';
import { UserError } from '../errors.js';
import { matchParameters } from '../optim/groups.js';
import { findParameters } from '../model/parameter-roles.js';
import { Rng } from '../train/rng.js';
import type { NamedTensor } from '../export/safetensors.js';
import type { Plan } from '../train/strategies.js';
import { adapterDims, freshAdapter, loraNames, withAdapters, type AdapterWeights, type LoraSettings } from './adapters.js';
import { allLinearTargets, checkRank, findTargets, targetsOfModules, type LoraTarget } from './targets.js';
import { mergedModel } from './merge.js';
import { checkAdapterFits, peftAdapterFiles, type PeftAdapter } from './peft-format.js';

export interface LoraOptions {
  /** Glob over parameter names selecting the weights to adapt; 'all-linear' (PEFT's) for every MatMul/Gemm weight outside the head. */
  targets: string;
  rank: number;
  alpha: number;
  dropout: number;
  /** Learning rates of the adapters and of the head. */
  loraLr: number;
  headLr: number;
  epochs: number;
  /** Glob over parameter names: the head, trained in full beside the adapters. */
  head: string;
  /** Seeds A's initialization. */
  seed: number;
  /** Start from this adapter (its targets, settings, A, B and head) instead of a fresh one. */
  adapter?: { parsed: PeftAdapter; dir: string };
}

export interface LoraSetup {
  /** The source model with its adapters: what the plan trains. */
  model: ModelProto;
  plan: Plan;
  targets: LoraTarget[];
  settings: LoraSettings;
  /** The head's parameters (trained in full; PEFT's modules_to_save). */
  head: { name: string; dims: number[] }[];
  /** Parameters the plan trains: A and B of every target, and the head. */
  trainableCount: number;
  /** The plain source model with trained values merged in: what `<strategy>.onnx` holds. */
  merge(values: ReadonlyMap<string, Float32Array>): ModelProto;
  /** The PEFT adapter folder's files for trained values. */
  adapterFiles(values: ReadonlyMap<string, Float32Array>): { config: string; tensors: NamedTensor[] };
}

/**
 * The lora command's defaults: PEFT's LoraConfig (r 8, alpha 8, no dropout) on every Linear outside the head
 * (PEFT's 'all-linear'); learning rates as the notebook's linear probe, which suit the seed task.
 */
export const LORA_DEFAULTS = { targets: 'all-linear', rank: 8, alpha: 8, dropout: 0, loraLr: 1e-2, headLr: 1e-2, epochs: 10 } as const;

/** A seed apart from the shuffle's, so the adapters' draw does not depend on the data order's. */
const INIT_STREAM = 0x4c6f5241; // 'LoRA'

export function prepareLora(base: ModelProto, o: LoraOptions): LoraSetup {
  const parameters = findParameters(base.graph).parameters;
  const headNames = matchParameters(o.head, parameters.map((t) => t.name));
  const adapter = o.adapter;
  const targets = adapter ? targetsOfModules(base, adapter.parsed.modules, `--adapter ${adapter.dir}`)
    : o.targets === 'all-linear' ? allLinearTargets(base, o.head) : findTargets(base, o.targets);
  if (targets.length === 0) throw new UserError(`--targets all-linear: the model has no MatMul or Gemm weight outside the head ('${o.head}')`);
  const inHead = targets.find((t) => headNames.includes(t.weight));
  if (inHead) throw new UserError(`--targets selects '${inHead.weight}', which --head '${o.head}' trains in full; adapt the backbone, or change --head`);
  const settings: LoraSettings = adapter ? adapter.parsed.settings : { rank: o.rank, alpha: o.alpha, dropout: o.dropout };
  checkRank(targets, settings.rank, adapter ? `--adapter ${adapter.dir}: r` : '--rank');
  const dims = (t: LoraTarget) => adapterDims(t, settings.rank);

  let weights: Map<string, AdapterWeights>;
  let source = base;
  if (adapter) {
    checkAdapterFits(adapter.parsed, targets, dims, adapter.dir);
    weights = adapter.parsed.weights;
    source = withSavedModules(base, adapter.parsed.saved, adapter.dir);
  } else {
    const rng = new Rng((o.seed ^ INIT_STREAM) >>> 0);
    weights = new Map(targets.map((t) => [t.module, freshAdapter(t, settings.rank, rng)]));
  }
  const model = withAdapters(source, targets, settings, weights);
  const adapterNames = targets.flatMap((t) => Object.values(loraNames(t.module)));
  const head = parameters.filter((t) => headNames.includes(t.name)).map((t) => ({ name: t.name, dims: tensorDims(t) }));
  const count = (d: number[]) => d.reduce((a, b) => a * b, 1);
  const groups = [{ params: adapterNames, lr: o.loraLr }, ...(head.length > 0 ? [{ params: o.head, lr: o.headLr }] : [])];
  return {
    model,
    plan: { strategy: 'lora', stages: [{ name: 'lora', groups, epochs: o.epochs }] },
    targets, settings, head,
    trainableCount: targets.reduce((n, t) => n + count(dims(t).A) + count(dims(t).B), 0) + head.reduce((n, p) => n + count(p.dims), 0),
    merge: (values) => mergedModel(base, targets, settings, values),
    adapterFiles: (values) => peftAdapterFiles(targets, settings, head, values, dims),
  };
}

/** The source model with an adapter's modules_to_save values (its head) in place of its own. */
function withSavedModules(base: ModelProto, saved: ReadonlyMap<string, Float32Array>, dir: string): ModelProto {
  if (saved.size === 0) return base;
  const copy = cloneModel(base);
  const byName = new Map(copy.graph.initializer.map((t) => [t.name, t]));
  for (const [name, values] of saved) {
    const t = byName.get(name);
    if (!t) throw new UserError(`--adapter ${dir}: it saves '${name}' (modules_to_save), which the model does not have`);
    const dims = tensorDims(t);
    if (t.dataType !== DataType.FLOAT || dims.reduce((a, b) => a * b, 1) !== values.length) throw new UserError(`--adapter ${dir}: '${name}' has ${values.length} values; the model's is [${dims}]`);
    t.rawData = rawBytes(values);
    t.floatData = [];
  }
  return copy;
}
