// The lora command's options and files: reading an --adapter folder, and writing the trained adapter as a
// PEFT folder `<strategy>.adapter/` (adapter_config.json + adapter_model.safetensors) that
// PeftModel.from_pretrained and --adapter both read. The training itself is the engine's (src/lora/lora.ts).
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../errors.js';
import { LORA_DEFAULTS, type LoraOptions } from '../lora/lora.js';
import { parsePeftAdapter, PEFT_CONFIG_FILE, PEFT_WEIGHTS_FILE } from '../lora/peft-format.js';
import { encodeSafetensors, type NamedTensor } from '../export/safetensors.js';
import { readNumber, readString, STRATEGY_OPTIONS, type Argv } from './options.js';

/** LoRA's options from the command line; `name` maps lora's option names to the command's (compare: --lora-rank). */
export function readLoraOptions(argv: Argv, seed: number, name: (option: string) => string = (o) => o): LoraOptions {
  const options = Object.fromEntries(Object.keys(STRATEGY_OPTIONS.lora).map((o) => [name(o), STRATEGY_OPTIONS.lora[o as keyof typeof STRATEGY_OPTIONS.lora]]));
  const num = (o: string, fallback?: number) => (argv[name(o)] === undefined && fallback !== undefined ? fallback : readNumber(argv, name(o), options));
  const adapterDir = argv.adapter === undefined ? undefined : readString(argv, 'adapter');
  if (adapterDir !== undefined) {
    const given = ['targets', 'rank', 'alpha', 'lora-dropout'].find((o) => argv[name(o)] !== undefined);
    if (given) throw new UserError(`--${name(given)} and --adapter both set the adapter: --adapter ${adapterDir} brings its own (adapter_config.json)`);
  }
  const dropout = num('lora-dropout', LORA_DEFAULTS.dropout);
  if (dropout >= 1) throw new UserError(`--${name('lora-dropout')} must be below 1, got ${dropout}`);
  return {
    targets: readString(argv, name('targets')) ?? LORA_DEFAULTS.targets,
    rank: num('rank', LORA_DEFAULTS.rank),
    alpha: num('alpha', LORA_DEFAULTS.alpha),
    dropout,
    loraLr: num('lora-lr'),
    headLr: num('head-lr'),
    epochs: num('epochs'),
    head: readString(argv, 'head')!,
    seed,
    ...(adapterDir !== undefined && { adapter: { dir: adapterDir, parsed: readAdapterFolder(adapterDir) } }),
  };
}

/** A PEFT adapter folder, read and checked (see parsePeftAdapter); a missing file is named. */
export function readAdapterFolder(dir: string) {
  if (!statSync(dir, { throwIfNoEntry: false })?.isDirectory()) throw new UserError(`--adapter ${dir}: no such folder (a PEFT adapter folder holds ${PEFT_CONFIG_FILE} and ${PEFT_WEIGHTS_FILE})`);
  const read = (file: string) => {
    const path = join(dir, file);
    if (!statSync(path, { throwIfNoEntry: false })?.isFile()) throw new UserError(`--adapter ${dir}: no ${file} there (a PEFT adapter folder holds ${PEFT_CONFIG_FILE} and ${PEFT_WEIGHTS_FILE})`);
    return readFileSync(path);
  };
  const config = read(PEFT_CONFIG_FILE).toString('utf8');
  return parsePeftAdapter(config, new Uint8Array(read(PEFT_WEIGHTS_FILE)), dir);
}

/** The adapter folder of a strategy's results: `<dir>/<key>.adapter/`. */
export const adapterFolder = (dir: string, key: string) => join(dir, `${key}.adapter`);

/** The adapter folder's two files, as paths and bytes to stage with the run's other outputs. */
export function adapterFiles(dir: string, key: string, files: { config: string; tensors: NamedTensor[] }): { path: string; chunks: Uint8Array[] }[] {
  const folder = adapterFolder(dir, key);
  return [
    { path: join(folder, PEFT_CONFIG_FILE), chunks: [new TextEncoder().encode(files.config)] },
    { path: join(folder, PEFT_WEIGHTS_FILE), chunks: encodeSafetensors(files.tensors, { format: 'pt' }) },
  ];
}
