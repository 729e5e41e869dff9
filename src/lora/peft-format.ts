// PEFT's adapter folder, both ways: adapter_config.json (LoraConfig's fields) and adapter_model.safetensors,
// whose keys are `base_model.model.<module>.lora_A.weight` / `.lora_B.weight`, plus the modules_to_save
// parameters under `base_model.model.<name>`. Pure: the caller reads and writes the files.
import { UserError } from '../errors.js';
import { decodeSafetensors, type NamedTensor } from '../export/safetensors.js';
import type { AdapterWeights, LoraSettings } from './adapters.js';
import { loraNames } from './adapters.js';
import type { LoraTarget } from './targets.js';

export const PEFT_CONFIG_FILE = 'adapter_config.json';
export const PEFT_WEIGHTS_FILE = 'adapter_model.safetensors';
const PREFIX = 'base_model.model.';

export interface PeftAdapter {
  settings: LoraSettings;
  /** The adapted modules, in the file's order. */
  modules: string[];
  weights: Map<string, AdapterWeights & { dimsA: number[]; dimsB: number[] }>;
  /** modules_to_save parameters (the head) by their PyTorch name. */
  saved: Map<string, Float32Array>;
}

/** An adapter folder's two files, checked: a LoRA adapter PEFT could load, in a form this tool trains. */
export function parsePeftAdapter(configText: string, weightBytes: Uint8Array, dir: string): PeftAdapter {
  const configPath = `${dir}/${PEFT_CONFIG_FILE}`;
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(configText);
  } catch {
    throw new UserError(`${configPath}: not JSON`);
  }
  if (typeof config !== 'object' || config === null || Array.isArray(config)) throw new UserError(`${configPath}: not a JSON object`);
  const field = (name: string) => config[name];
  if (field('peft_type') !== 'LORA') throw new UserError(`${configPath}: peft_type is ${JSON.stringify(field('peft_type'))}, not "LORA"`);
  const rank = field('r');
  if (!Number.isSafeInteger(rank) || (rank as number) < 1) throw new UserError(`${configPath}: r must be a positive whole number, got ${JSON.stringify(rank)}`);
  const alpha = field('lora_alpha') ?? 8;
  if (typeof alpha !== 'number' || !Number.isFinite(alpha)) throw new UserError(`${configPath}: lora_alpha must be a number, got ${JSON.stringify(alpha)}`);
  const dropout = field('lora_dropout') ?? 0;
  if (typeof dropout !== 'number' || !(dropout >= 0 && dropout < 1)) throw new UserError(`${configPath}: lora_dropout must be a number in [0, 1), got ${JSON.stringify(dropout)}`);
  // What this tool does not train: say so rather than train something else.
  const unsupported: [string, boolean][] = [
    ['use_dora', field('use_dora') === true],
    ['bias', field('bias') !== undefined && field('bias') !== 'none'],
    ['lora_bias', field('lora_bias') === true],
    ['rank_pattern', isNonEmpty(field('rank_pattern'))],
    ['alpha_pattern', isNonEmpty(field('alpha_pattern'))],
  ];
  const found = unsupported.find(([, is]) => is);
  if (found) throw new UserError(`${configPath}: ${found[0]} ${JSON.stringify(field(found[0]))} is not supported (LoRA with one rank and alpha, bias "none")`);

  const weightsPath = `${dir}/${PEFT_WEIGHTS_FILE}`;
  const { tensors } = decodeSafetensors(weightBytes, weightsPath);
  const weights = new Map<string, AdapterWeights & { dimsA: number[]; dimsB: number[] }>();
  const halves = new Map<string, { A?: NamedTensor; B?: NamedTensor }>();
  const saved = new Map<string, Float32Array>();
  for (const t of tensors) {
    if (!t.name.startsWith(PREFIX)) throw new UserError(`${weightsPath}: key '${t.name}' does not start with '${PREFIX}' (PEFT's adapter keys do)`);
    const rest = t.name.slice(PREFIX.length);
    const lora = /^(.+)\.lora_([AB])\.weight$/.exec(rest);
    if (lora) {
      const entry = halves.get(lora[1]) ?? {};
      entry[lora[2] as 'A' | 'B'] = t;
      halves.set(lora[1], entry);
    } else if (/\.lora_[\w]+(\.|$)/.test(rest)) {
      throw new UserError(`${weightsPath}: key '${t.name}' is not a LoRA A or B weight this tool reads (embedding adapters and DoRA are not supported)`);
    } else saved.set(rest, t.values);
  }
  if (halves.size === 0) throw new UserError(`${weightsPath}: no LoRA weights (keys '${PREFIX}<module>.lora_A.weight')`);
  for (const [module, { A, B }] of halves) {
    if (!A || !B) throw new UserError(`${weightsPath}: module '${module}' has lora_${A ? 'A' : 'B'} but no lora_${A ? 'B' : 'A'}`);
    if (A.dims[0] !== rank || B.dims[1] !== rank) throw new UserError(`${weightsPath}: module '${module}': lora_A [${A.dims}] and lora_B [${B.dims}] do not have rank r = ${rank} (${configPath})`);
    weights.set(module, { A: A.values, B: B.values, dimsA: A.dims, dimsB: B.dims });
  }
  return { settings: { rank: rank as number, alpha, dropout, rslora: field('use_rslora') === true }, modules: [...halves.keys()], weights, saved };
}

const isNonEmpty = (v: unknown) => typeof v === 'object' && v !== null && Object.keys(v).length > 0;

/** The adapter's dims must be the ones its target needs: a PEFT adapter made for another model is refused. */
export function checkAdapterFits(adapter: PeftAdapter, targets: readonly LoraTarget[], dims: (t: LoraTarget) => { A: number[]; B: number[] }, dir: string): void {
  for (const t of targets) {
    const w = adapter.weights.get(t.module)!;
    const want = dims(t);
    if (String(w.dimsA) !== String(want.A) || String(w.dimsB) !== String(want.B)) {
      throw new UserError(`--adapter ${dir}: module '${t.module}' has lora_A [${w.dimsA}] and lora_B [${w.dimsB}]; its weight '${t.weight}' needs [${want.A}] and [${want.B}]`);
    }
  }
}

/** The modules that hold the given parameters (`classifier.weight` → `classifier`): PEFT's modules_to_save. */
export function modulesOf(parameters: readonly string[]): string[] {
  return [...new Set(parameters.map((p) => p.replace(/\.[^.]+$/, '')))];
}

/**
 * The adapter folder's files for trained values: A and B of every target, the head's parameters (PEFT's
 * modules_to_save), and a LoraConfig that PeftModel.from_pretrained reads.
 */
export function peftAdapterFiles(targets: readonly LoraTarget[], settings: LoraSettings, head: readonly { name: string; dims: number[] }[], values: ReadonlyMap<string, Float32Array>, dims: (t: LoraTarget) => { A: number[]; B: number[] }): { config: string; tensors: NamedTensor[] } {
  const tensors: NamedTensor[] = [];
  for (const t of targets) {
    const names = loraNames(t.module);
    const d = dims(t);
    tensors.push({ name: `${PREFIX}${names.A}`, dims: d.A, values: values.get(names.A)! }, { name: `${PREFIX}${names.B}`, dims: d.B, values: values.get(names.B)! });
  }
  for (const { name, dims: d } of head) tensors.push({ name: `${PREFIX}${name}`, dims: d, values: values.get(name)! });
  const config = {
    peft_type: 'LORA', task_type: null, base_model_name_or_path: null, inference_mode: true,
    r: settings.rank, lora_alpha: settings.alpha, lora_dropout: settings.dropout, use_rslora: settings.rslora === true,
    target_modules: targets.map((t) => t.module), modules_to_save: head.length > 0 ? modulesOf(head.map((p) => p.name)) : null,
    bias: 'none', fan_in_fan_out: false, init_lora_weights: true, use_dora: false, rank_pattern: {}, alpha_pattern: {},
  };
  return { config: JSON.stringify(config, null, 2) + '\n', tensors };
}
