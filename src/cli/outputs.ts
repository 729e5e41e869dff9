// The output folder: `<strategy>.onnx` (the trained model, inference-ready), `<strategy>.safetensors` (its
// weights under their PyTorch names, for load_state_dict) and `<strategy>.json` (its report) for each strategy
// run. Files are written only after every strategy has trained, each one atomically; if any write fails, what
// this run wrote (and a folder it created) is removed again.
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { saveModel, writeFileAtomic } from '../onnx/io.js';
import type { ModelProto } from '../onnx/proto.js';
import type { StrategyKey } from '../train/strategies.js';
import { encodeSafetensors } from '../export/safetensors.js';
import { pytorchStateDict } from '../export/state-dict.js';
import { UserError } from '../errors.js';

export interface OutputFolder {
  dir: string;
  /** True when the user named it with --out. */
  given: boolean;
}

/** The folder to write to; an --out that exists but is not a folder is refused before any training. */
export function outputFolder(out: string | undefined, name: string, now = new Date()): OutputFolder {
  if (out !== undefined) {
    if (out === '') throw new UserError('--out: empty folder name');
    let stat;
    try {
      stat = statSync(out, { throwIfNoEntry: false });
    } catch (e) {
      throw new UserError(`${out}: cannot create the output folder (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    if (stat && !stat.isDirectory()) throw new UserError(`--out ${out}: exists and is not a folder`);
    return { dir: out, given: true };
  }
  const base = join('runs', `${name}-${timestamp(now)}`);
  let dir = base;
  for (let n = 2; statSync(dir, { throwIfNoEntry: false }); n++) dir = `${base}-${n}`;
  return { dir, given: false };
}

function timestamp(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

export const modelFile = (folder: OutputFolder, key: StrategyKey): string => join(folder.dir, `${key}.onnx`);
export const reportFile = (folder: OutputFolder, key: StrategyKey): string => join(folder.dir, `${key}.json`);
export const weightsFile = (folder: OutputFolder, key: StrategyKey): string => join(folder.dir, `${key}.safetensors`);

export interface Output {
  key: StrategyKey;
  model: ModelProto;
  report: object;
}

export function writeOutputs(folder: OutputFolder, outputs: Output[]): void {
  const written: string[] = [];
  let created: string | undefined;
  let current = folder.dir;
  try {
    created = mkdirSync(folder.dir, { recursive: true });
    for (const o of outputs) {
      current = modelFile(folder, o.key);
      written.push(current, `${current}.data`); // the data file exists only for models past 2 GiB
      saveModel(current, o.model);
      current = weightsFile(folder, o.key);
      written.push(current);
      const { tensors, leftOut } = pytorchStateDict(o.model);
      writeFileAtomic(current, ...encodeSafetensors(tensors, { format: 'pt' }));
      current = reportFile(folder, o.key);
      // The report says what the weights file holds, and which tensors PyTorch has no name for.
      const safetensors = { file: basename(weightsFile(folder, o.key)), tensors: tensors.length, left_out_exporter_named: leftOut };
      writeFileAtomic(current, JSON.stringify({ ...o.report, safetensors }, null, 2) + '\n');
      written.push(current);
    }
  } catch (e) {
    for (const file of written) rmSync(file, { force: true });
    if (created) rmSync(created, { recursive: true, force: true });
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(`${current}: cannot write (${code ?? (e as Error).message})`);
  }
}
