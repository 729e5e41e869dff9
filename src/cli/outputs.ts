// The output folder: `<strategy>.onnx` (the trained model, inference-ready), `<strategy>.safetensors` (its
// weights under their PyTorch names, for load_state_dict) and `<strategy>.json` (its report) for each strategy
// run. Files are written only after every strategy has trained, all of them or none.
import { lstatSync, mkdirSync, rmdirSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { adapterFolder } from './lora.js';
import { PEFT_CONFIG_FILE, PEFT_WEIGHTS_FILE } from '../lora/peft-format.js';

const PEFT_FILES = [PEFT_CONFIG_FILE, PEFT_WEIGHTS_FILE];
import { stageModel } from '../onnx/io.js';
import type { ModelProto } from '../onnx/proto.js';
import { RESULT_STRATEGIES } from '../train/strategies.js';
import { removeRegularFile, stageFile, type StagedFile } from '../runtime/files.js';
import type { RunLock } from './run-lock.js';
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

// `key`: the plan's name (a built-in strategy's key, or a plan file's name).
export const modelFile = (folder: OutputFolder, key: string): string => join(folder.dir, `${key}.onnx`);
export const reportFile = (folder: OutputFolder, key: string): string => join(folder.dir, `${key}.json`);
export const weightsFile = (folder: OutputFolder, key: string): string => join(folder.dir, `${key}.safetensors`);

export interface Output {
  key: string;
  model: ModelProto;
  report: object;
  /** Other files of the strategy's results (LoRA's adapter folder), written with the rest. */
  files?: { path: string; chunks: Uint8Array[] }[];
}

/** Every file a strategy's results may take: the .data file exists only for models past 2 GiB. */
const resultFiles = (folder: OutputFolder, key: string) => [modelFile(folder, key), `${modelFile(folder, key)}.data`, weightsFile(folder, key), reportFile(folder, key),
  ...(key === 'lora' ? PEFT_FILES.map((f) => join(adapterFolder(folder.dir, key), f)) : [])];

/** The results an earlier run left in the folder: the built-in strategies' (LoRA's too) and those of the plans named. */
export function earlierResults(folder: OutputFolder, plans: readonly string[] = []): string[] {
  return [...new Set([...RESULT_STRATEGIES, ...plans])].flatMap((key) => resultFiles(folder, key)).filter((path) => lstatSync(path, { throwIfNoEntry: false }));
}

/**
 * Writes every output in full under temporary names first; only when all are written (and the folder's lock
 * is still this run's) are they renamed into place. A write that fails leaves the folder as it was. `replaced`:
 * earlier results to remove once the new ones are in place (--overwrite), so that no old file stays mixed in.
 */
export function writeOutputs(folder: OutputFolder, outputs: Output[], options: { lock?: RunLock; replaced?: string[]; files?: { path: string; text: string }[] } = {}): void {
  const staged: StagedFile[] = [];
  try {
    for (const o of outputs) {
      staged.push(...stageModel(modelFile(folder, o.key), o.model));
      const { tensors, leftOut } = pytorchStateDict(o.model);
      staged.push(stageFile(weightsFile(folder, o.key), encodeSafetensors(tensors, { format: 'pt' })));
      // The report says what the weights file holds, and which tensors PyTorch has no name for.
      const safetensors = { file: basename(weightsFile(folder, o.key)), tensors: tensors.length, left_out_exporter_named: leftOut };
      staged.push(stageFile(reportFile(folder, o.key), [JSON.stringify({ ...o.report, safetensors }, null, 2) + '\n']));
      for (const file of o.files ?? []) {
        mkdirSync(dirname(file.path), { recursive: true });
        staged.push(stageFile(file.path, file.chunks));
      }
    }
    // The run's metrics log and report, written with the results they show.
    for (const { path, text } of options.files ?? []) staged.push(stageFile(path, [text]));
    // A rename onto a folder would fail halfway through the commits: refused before any.
    for (const { path } of staged) if (lstatSync(path, { throwIfNoEntry: false })?.isDirectory()) throw new UserError(`${path}: cannot write (it is a folder)`);
    options.lock?.check();
  } catch (e) {
    for (const file of staged) file.discard();
    throw e;
  }
  for (const file of staged) file.commit();
  const written = new Set(staged.map((f) => f.path));
  for (const path of options.replaced ?? []) if (!written.has(path)) removeRegularFile(path);
  // A replaced LoRA run's adapter folder goes too, once its files are gone.
  if ((options.replaced ?? []).length > 0 && !outputs.some((o) => o.key === 'lora')) removeEmptyFolder(adapterFolder(folder.dir, 'lora'));
}

function removeEmptyFolder(path: string): void {
  try {
    rmdirSync(path);
  } catch {
    // not there, or not empty (files of the user's own): left as it is
  }
}
