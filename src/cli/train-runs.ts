// Training a command's plans as a resumable run: checkpoints into the run's folder, resuming from the newest
// checkpoint of the same run (same plan, settings, model and data), and stopping cleanly on SIGINT/SIGTERM.
import { train, InterruptedError, NonFiniteError, type RunSnapshot, type TrainConfig, type TrainResult } from '../train/trainer.js';
import type { Plan } from '../train/strategies.js';
import { checkpointPieces, decodeCheckpoint, fingerprint, type RunIdentity } from '../checkpoint/checkpoint.js';
import { onnx, type ModelProto } from '../onnx/proto.js';
import { UserError } from '../errors.js';
import type { RunCheckpoints } from './checkpoint-files.js';
import type { RunLock } from './run-lock.js';
import { FileError } from '../runtime/files.js';
import { progressBar } from './progress.js';
import { fault, killNow } from './faults.js';
import type { Inputs } from './inputs.js';
import { selectionSettings } from './options.js';
import type { RunReportFiles } from './report-files.js';

/** Trains each plan in turn, checkpointing into `out.dir`; signals stop it after the current step. */
export async function trainRuns(runs: { plan: Plan; identity: RunIdentity; model: ModelProto; rngStart: number }[], resumes: (RunSnapshot | undefined)[], inputs: Inputs, config: TrainConfig,
  out: { dir: string; checkpoints: RunCheckpoints; lock: RunLock; keep: number; progress: boolean; report?: RunReportFiles }): Promise<TrainResult[]> {
  const stop = stopOnSignals();
  const results: TrainResult[] = [];
  try {
    for (const [i, { plan, identity, model, rngStart }] of runs.entries()) {
      const bar = progressBar(out.progress, plan, Math.ceil(inputs.data.train.count / config.batchSize));
      const last = () => out.checkpoints.newestWritten(plan.strategy);
      // A second signal exits at once (files are written whole), but not with a hidden cursor or a stale lock.
      stop.onSecondSignal = (signal) => {
        bar.stop();
        // The checkpoints already asked for land whole (a write takes milliseconds): no temporary file is left.
        out.checkpoints.settleSync();
        out.lock.release();
        process.stderr.write(`onnx-finetune: ${interrupted(signal, last(), out.dir).message} (stopped at once by a second ${signal})\n`);
      };
      // The snapshot is the training thread's own copy: its arrays move to the writer thread as they are.
      const onSnapshot = (snapshot: RunSnapshot) => {
        out.lock.check();
        // The report's files first, on the checkpoints' writer thread: the log on disk always reaches the newest checkpoint.
        for (const { path, text } of out.report?.files() ?? []) out.checkpoints.writeFile(path, text);
        out.checkpoints.write(plan.strategy, snapshot.steps, checkpointPieces(model, snapshot, identity), out.keep);
      };
      try {
        // The kill-and-resume tests kill the process after a step, once the checkpoints asked for are on disk.
        const onStep = (step: number) => fault('after-step', step) && (out.checkpoints.settleSync(), killNow());
        const result = await train(model, plan, inputs.data, { ...config, rngStart, resume: resumes[i], onSnapshot, onStep, signal: stop.signal, onProgress: bar.onProgress, onValidation: bar.onValidation, onEvent: out.report?.onEvent });
        await out.checkpoints.settle();
        results.push(result);
      } catch (thrown) {
        let e = thrown;
        if (e instanceof InterruptedError || e instanceof NonFiniteError || e instanceof FileError) {
          // What the report names must be on disk; a checkpoint that failed meanwhile is what to report.
          await out.checkpoints.settle().catch((failed: Error) => (e = e instanceof FileError ? e : failed));
        } else {
          await out.checkpoints.abandon();
        }
        if (e instanceof InterruptedError) throw interrupted(stop.received!, last(), out.dir);
        if (e instanceof NonFiniteError && last()) throw new UserError(`${e.message}; the last good checkpoint is ${last()}`);
        // A full disk or a folder gone read-only: the checkpoints written so far are intact.
        if (e instanceof FileError) throw new UserError(`${e.message}; ${last() ? `the last good checkpoint is ${last()}; resume with: ${resumeCommand(out.dir)}` : 'no checkpoint of this run was written'}`);
        throw e;
      } finally {
        bar.stop();
      }
    }
    return results;
  } finally {
    stop.dispose();
    await out.checkpoints.close();
  }
}

/** What a checkpoint must match to be resumed by this command: the plan, the settings, the model and data. */
export function runIdentity(plan: Plan, config: TrainConfig, inputs: Inputs, model: ModelProto = inputs.model): RunIdentity {
  const { train } = inputs.data;
  return {
    strategy: plan.strategy,
    plan: plan.stages,
    settings: { loss: config.loss.name, optimizer: config.optimizer, weight_decay: config.weightDecay, batch_size: config.batchSize, shuffle: config.shuffle, seed: config.seed,
      batch_norm: config.batchNorm, rng: config.rng, ...selectionSettings(config), ...(config.loss.labelSmoothing !== undefined ? { label_smoothing: config.loss.labelSmoothing } : {}) },
    model: fingerprint(...modelBytes(model)),
    data: fingerprint(...inputs.summary.inputs.map((i) => (i.name === train.lazy?.inputName ? train.lazy.identity : bytesOf(train.inputs[i.name].values))), bytesOf(train.labels)),
  };
}

/** The model a strategy starts from and the words PyTorch's generator drew before it (inputs.start). */
export const strategyStart = (inputs: Inputs, plan: Plan) => inputs.start?.(plan.strategy) ?? { model: inputs.model, rngStart: 0 };

const bytesOf = (v: ArrayBufferView) => new Uint8Array(v.buffer, v.byteOffset, v.byteLength);

/** The model's structure and then each weight, without one buffer of it all (a model may pass 2 GiB). */
function modelBytes(model: ModelProto): Uint8Array[] {
  const structure = { ...model, graph: { ...model.graph, initializer: model.graph.initializer.map((t) => ({ ...t, rawData: new Uint8Array(0) })) } };
  return [onnx.ModelProto.encode(structure as never).finish(), ...model.graph.initializer.map((t) => t.rawData ?? new Uint8Array(0))];
}

/** The newest checkpoint of this run in the folder, checked against what this command would run. */
export function resumePoint(checkpoints: RunCheckpoints, identity: RunIdentity): RunSnapshot | undefined {
  const found = checkpoints.readNewest(identity.strategy);
  if (!found) return undefined;
  const newest = found.path;
  const checkpoint = decodeCheckpoint(found.bytes, newest);
  for (const key of ['model', 'data', 'settings', 'plan'] as const) {
    if (JSON.stringify(checkpoint.identity[key]) !== JSON.stringify(identity[key])) {
      const what = { model: 'another model', data: 'other training data', settings: `other settings (${JSON.stringify(checkpoint.identity.settings)})`, plan: 'another plan (strategy options)' }[key];
      throw new UserError(`--resume: ${newest} is from a run with ${what}; resume with the command and options that started it`);
    }
  }
  return checkpoint.snapshot;
}

/** SIGINT/SIGTERM: finish the step, checkpoint, stop. A second SIGINT exits at once (files are written atomically). */
function stopOnSignals() {
  const controller = new AbortController();
  const state: { received?: NodeJS.Signals; onSecondSignal?: (signal: NodeJS.Signals) => void } = {};
  const handler = (signal: NodeJS.Signals) => {
    if (state.received) {
      state.onSecondSignal?.(signal);
      process.exit(EXIT_ON[signal]);
    }
    state.received = signal;
    controller.abort();
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    signal: controller.signal,
    get received() { return state.received; },
    set onSecondSignal(f: (signal: NodeJS.Signals) => void) { state.onSecondSignal = f; },
    dispose() {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}

const EXIT_ON: Record<string, number> = { SIGINT: 130, SIGTERM: 143 };

function interrupted(signal: NodeJS.Signals, checkpoint: string | undefined, dir: string): UserError {
  return new UserError(`interrupted by ${signal}; checkpoint ${checkpoint ?? '(none written)'}; resume with: ${resumeCommand(dir)}`, EXIT_ON[signal]);
}

/** This command line again, continuing the run in `dir`. */
function resumeCommand(dir: string): string {
  return commandLine('--resume', dir);
}

/** This command line again, with `--resume dir` (continue the run) or `--out dir` (reproduce it there). */
export function commandLine(option: '--resume' | '--out', dir: string): string {
  const args = process.argv.slice(2).filter((a, i, all) => !['--resume', '--out'].includes(a) && !['--resume', '--out'].includes(all[i - 1]) && !/^--(resume|out)=/.test(a) && a !== '--overwrite');
  return ['onnx-finetune', ...args, option, dir].map((a) => (/^[\w./=:-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

