// The command line's options, named as issue 3 fixes them, and their validation. Numbers are read here rather
// than by yargs's `number` type, which turns 'abc' into NaN and a bare `--lr` into the default: every bad value
// becomes one UserError that names the option and the value given.
import type { Options } from 'yargs';
import { UserError } from '../errors.js';
import { parseDecimal } from '../decimal.js';
import { NOTEBOOK_DEFAULTS, DEFAULT_HEAD } from '../train/strategies.js';
import { LORA_DEFAULTS } from '../lora/lora.js';
import { DEFAULT_TRAIN_CONFIG } from '../train/trainer.js';
import { DEVICES, type Device } from '../runtime/session.js';
import { OPTIMIZERS, type OptimizerKind } from '../optim/optimizer.js';
import { LOSSES, type LossName } from '../losses/index.js';
import { BATCH_NORM_MODES, type BatchNormMode } from '../artifacts/batch-norm-mode.js';
import { KEEP, MONITOR_NAMES, type Keep, type Monitor } from '../train/early-stopping.js';
import type { ScheduleSpec } from '../optim/schedule-spec.js';
import type { RecipeOptions } from '../train/stage-recipe.js';
import { RNG_KINDS, type RngKind } from '../train/rng.js';

const LOSS_NAMES = Object.keys(LOSSES) as LossName[];
const NONFINITE = ['stop', 'skip-batch'] as const;

/** What a number option accepts. */
type NumberKind = 'rate' | 'count' | 'nonnegative' | 'seed' | 'fraction' | 'open-fraction';

interface NumberOption extends Options {
  kind: NumberKind;
}

const string = (describe: string, extra: Options = {}): Options => ({ type: 'string', requiresArg: true, describe, ...extra });
// yargs leaves numbers as typed (parse-numbers off in main.ts): readNumber decides what is a number.
const number = (kind: NumberKind, describe: string, defaultValue?: number): NumberOption => ({ kind, requiresArg: true, describe, default: defaultValue });

export const COMMON_OPTIONS = {
  model: string('ONNX model to fine-tune (backbone + head), e.g. from torch.onnx.export [default: the built-in seed backbone with a fresh Linear(16,1) head]'),
  backbone: string('ONNX backbone without a head (its output is the feature vector): a fresh Linear(features, --classes) head named head.* is attached'),
  classes: number('count', 'outputs of the head attached to --backbone (1: binary, BCE; more: classes, cross-entropy)'),
  train: string('training data: CSV with a header (one-input models); .jsonl, one object per line with a key per model input; .npz (an array per input, plus y); .parquet; .npy with --train-labels [default: the built-in synthetic task]'),
  test: string('test data, same columns or keys [default: the built-in synthetic task]'),
  label: string('label column, JSONL key or .npz array [default: y; in a CSV or Parquet file without y, the last column]'),
  // Data formats: .npy features take their labels from a second .npy file.
  'train-labels': string('labels of .npy --train features: an .npy array of shape (n,)'),
  'test-labels': string('labels of .npy --test features: an .npy array of shape (n,)'),
  features: string('CSV: the feature columns, comma-separated, in the order the model takes them [default: every column but the label and --ignore]'),
  ignore: string('CSV: columns that are neither features nor the label, comma-separated (an id, a date)'),
  tokenizer: string("Hugging Face tokenizer.json: --train and --test hold text (a CSV column or JSONL key, see --text-column), tokenized into the model's input_ids, attention_mask and token_type_ids"),
  'text-column': string('with --tokenizer: the CSV column or JSONL key holding the text [default: text]'),
  'max-length': number('count', "with --tokenizer: tokens per example, truncated or padded [default: the model's sequence length if fixed, else the tokenizer's truncation length, else the longest training example, at most 512]"),
  head: string("glob over parameter names selecting the head's parameters", { default: DEFAULT_HEAD }),
  'batch-size': number('count', 'training batch size', DEFAULT_TRAIN_CONFIG.batchSize),
  shuffle: { type: 'boolean', default: DEFAULT_TRAIN_CONFIG.shuffle, describe: 'shuffle the training rows every epoch (--no-shuffle: file order)' } as Options,
  seed: number('seed', 'seed for shuffling, the fresh head and the built-in data', DEFAULT_TRAIN_CONFIG.seed),
  optimizer: string(`optimizer [choices: ${OPTIMIZERS.join(', ')}]`, { default: DEFAULT_TRAIN_CONFIG.optimizer }),
  loss: string(`loss [choices: ${LOSS_NAMES.join(', ')}; default: bce for one logit, ce for several]`),
  'weight-decay': number('nonnegative', 'weight decay: L2 for adam and sgd, decoupled for adamw [default: 0, for adamw 0.01 as in PyTorch]'),
  device: string(`execution provider [choices: ${DEVICES.join(', ')}]`, { default: DEFAULT_TRAIN_CONFIG.device }),
  threads: number('count', 'ONNX Runtime intra-op threads [default: 1; every core for a model of 2^20 parameters or more]'),
  out: string('output folder [default: runs/<strategy>-<timestamp>, runs/compare-<timestamp> for compare]'),
  'checkpoint-every': string("when to write a checkpoint: every N steps (500), after a time of training (30s, 5m, 1h) and at the end of each stage, or 'epoch' (the end of each) [default: 1m]"),
  'keep-checkpoints': number('count', 'checkpoints to keep per strategy (older ones are deleted)', 2),
  resume: string('continue the interrupted run whose output folder is DIR, from its newest checkpoints (same command and options)'),
  overwrite: { type: 'boolean', default: false, describe: "let --out replace an earlier run's results and checkpoints in that folder" } as Options,
  batchnorm: string(`BatchNorm statistics: frozen (running, PyTorch eval()), train (batch, running ones updated, PyTorch train()), auto (train where the layer's scale or bias trains in the stage) [choices: ${BATCH_NORM_MODES.join(', ')}]`, { default: 'auto' }),
  'on-nonfinite': string(`what a NaN/infinite loss or gradient does [choices: ${NONFINITE.join(', ')}]`, { default: 'stop' }),
  'max-skipped': number('fraction', 'with --on-nonfinite skip-batch, the largest share of batches a run may skip and still succeed', 0.1),
  json: { type: 'boolean', default: false, describe: 'print one JSON object on stdout instead of the summary; no progress bar' } as Options,
  // Validation (issue 13, item 5)
  val: string('validation data, same columns or keys as --train: evaluated after every epoch'),
  'val-split': number('open-fraction', 'hold out this share of --train as validation data, evaluated after every epoch (seeded by --seed; stratified by class unless --loss mse)'),
  // Image folders (--train DIR --test DIR, one subfolder per class).
  'image-size': string("image folders: the H or HxW images are resized (shorter side) and center-cropped to [default: the model input's H and W]"),
  mean: string('image folders: per-channel (R,G,B) mean subtracted from values in [0, 1] [default: 0.485,0.456,0.406, ImageNet\'s]'),
  std: string('image folders: per-channel (R,G,B) standard deviation divided by [default: 0.229,0.224,0.225, ImageNet\'s]'),
  augment: string('image folders, training only, comma-separated: flip (horizontal, p=0.5), crop (random HxW crop of the image resized to 8/7 of the size); drawn from --seed, epoch and image'),
  // Early stopping and the model kept (issue 15, item 4): judged on the validation set (--val, --val-split).
  'early-stop': number('count', 'stop the run once --monitor has not improved for this many epochs (needs --val or --val-split)'),
  monitor: string(`the validation metric --early-stop and --keep best judge [choices: ${MONITOR_NAMES.join(', ')}; default: val_loss]`),
  keep: string(`the weights exported: the last epoch's, or the best epoch's by --monitor (needs --val or --val-split) [choices: ${KEEP.join(', ')}]`, { default: 'last' }),
  ...recipeOptions(),
  // The generator (issue 20)
  rng: string(`random generator behind --seed [choices: ${RNG_KINDS.join(', ')}]: torch draws as PyTorch's CPU generator after torch.manual_seed(--seed) (DataLoader(shuffle=True) epochs, nn.Linear heads, the built-in data and backbone), bit for bit [default: torch for the built-in job, else mulberry32]`),
} satisfies Record<string, Options>;

/** The predict command's own options; --model, --label, --out, --overwrite, --batch-size, --device, --threads and --json are the common ones. */
export const PREDICT_OPTIONS = {
  data: string('data to predict on: a file (or folder) in any format training reads'),
} satisfies Record<string, Options>;

const P = NOTEBOOK_DEFAULTS.partial_unfreeze;
const unfreeze = string('glob over parameter names selecting the backbone layers to unfreeze in the second stage', { default: P.unfreeze });

export const STRATEGY_OPTIONS = {
  linear_probe: {
    lr: number('rate', 'learning rate of the head', NOTEBOOK_DEFAULTS.linear_probe.lr),
    epochs: number('count', 'epochs', NOTEBOOK_DEFAULTS.linear_probe.epochs),
  },
  partial_unfreeze: {
    'head-lr': number('rate', 'learning rate of the head (both stages)', P.headLr),
    'head-epochs': number('count', 'epochs of the first stage, head only', P.headEpochs),
    unfreeze,
    'backbone-lr': number('rate', 'learning rate of the unfrozen layers', P.backboneLr),
    epochs: number('count', 'epochs of the second stage, head + unfrozen layers', P.epochs),
  },
  full_fine_tune: {
    lr: number('rate', 'learning rate of every parameter', NOTEBOOK_DEFAULTS.full_fine_tune.lr),
    epochs: number('count', 'epochs', NOTEBOOK_DEFAULTS.full_fine_tune.epochs),
  },
  // LoRA (issue 16): adapters beside the --targets weights, trained with the head; see src/lora/.
  lora: {
    targets: string("glob over parameter names selecting the weights to adapt (MatMul, Gemm and Conv weights; their biases may match and stay frozen), or 'all-linear': every MatMul/Gemm weight outside the head (PEFT's) [default: ${LORA_DEFAULTS.targets}]"),
    rank: number('count', `rank r of each adapter (A is r x in, B is out x r) [default: ${LORA_DEFAULTS.rank}]`),
    alpha: number('rate', `lora_alpha: the adapter output is scaled by alpha / rank [default: ${LORA_DEFAULTS.alpha}]`),
    'lora-dropout': number('fraction', `dropout on each adapter's input, training only [default: ${LORA_DEFAULTS.dropout}]`),
    'lora-lr': number('rate', 'learning rate of the adapters', LORA_DEFAULTS.loraLr),
    'head-lr': number('rate', "learning rate of the head (trained in full: PEFT's modules_to_save)", LORA_DEFAULTS.headLr),
    epochs: number('count', 'epochs', LORA_DEFAULTS.epochs),
    adapter: string('start from a PEFT adapter folder (adapter_config.json + adapter_model.safetensors): its targets, rank, alpha, dropout, A, B and saved head; so --targets, --rank, --alpha and --lora-dropout are not given'),
  },
  // compare runs the three strategies at their defaults, each adjustable with its prefix (--probe-lr, --full-epochs).
  compare: { unfreeze } as Record<string, Options | NumberOption>,
} satisfies Record<string, Record<string, Options>>;

// compare's LoRA row (when the model has targets): --lora-targets, --lora-rank, ... (--lora-dropout and --lora-lr as in lora).
export const COMPARE_LORA_NAMES: Record<string, string> = { targets: 'lora-targets', rank: 'lora-rank', alpha: 'lora-alpha', 'lora-dropout': 'lora-dropout', 'lora-lr': 'lora-lr', 'head-lr': 'lora-head-lr', epochs: 'lora-epochs' };
for (const [name, as] of Object.entries(COMPARE_LORA_NAMES)) {
  const option = STRATEGY_OPTIONS.lora[name as keyof typeof STRATEGY_OPTIONS.lora];
  STRATEGY_OPTIONS.compare[as] = { ...option, describe: `lora: ${option.describe}` };
}

STRATEGY_OPTIONS.compare.lora = { type: 'boolean', default: true, describe: "add LoRA as a fourth row where the model has targets (--no-lora: the notebook's three strategies only)" } as Options;

/** compare's prefix for each strategy's own options: --probe-lr, --partial-head-epochs, --full-epochs, ... */
export const COMPARE_PREFIXES = { linear_probe: 'probe', partial_unfreeze: 'partial', full_fine_tune: 'full' } as const;
for (const [key, prefix] of Object.entries(COMPARE_PREFIXES) as [keyof typeof COMPARE_PREFIXES, string][]) {
  for (const [name, option] of Object.entries(STRATEGY_OPTIONS[key])) {
    if ('kind' in option) STRATEGY_OPTIONS.compare[`${prefix}-${name}`] = { ...option, describe: `${key}: ${option.describe}` };
  }
}

/** yargs's Options without our `kind` (yargs would reject an unknown key in strict typing only). */
export function yargsOptions(options: Record<string, Options | NumberOption>): Record<string, Options> {
  return Object.fromEntries(Object.entries(options).map(([name, o]) => {
    const { kind: _kind, ...rest } = o as NumberOption;
    return [name, rest];
  }));
}

export type Argv = Record<string, unknown>;

const KIND_RULES: Record<NumberKind, { ok(v: number): boolean; want: string }> = {
  rate: { ok: (v) => v > 0 && Number.isFinite(v), want: 'a positive number' },
  count: { ok: (v) => Number.isSafeInteger(v) && v >= 1, want: 'a positive whole number' },
  nonnegative: { ok: (v) => v >= 0 && Number.isFinite(v), want: 'a number >= 0' },
  seed: { ok: (v) => Number.isInteger(v) && v >= 0 && v <= 0xffffffff, want: 'a whole number from 0 to 4294967295' },
  fraction: { ok: (v) => v >= 0 && v <= 1, want: 'a number from 0 to 1' },
  'open-fraction': { ok: (v) => v > 0 && v < 1, want: 'a fraction between 0 and 1 (exclusive)' },
};

/** The value of a number option, checked: `--lr: 'abc' is not a number`, `--epochs must be a positive whole number, got 0`. */
export function readNumber(argv: Argv, name: string, options: Record<string, Options | NumberOption>): number {
  const kind = (options[name] as NumberOption | undefined)?.kind;
  if (!kind) throw new Error(`'${name}' is not a number option`);
  const raw = argv[name];
  const value = typeof raw === 'number' ? raw : typeof raw === 'string' ? parseDecimal(raw.trim()) : NaN;
  if (Number.isNaN(value)) throw new UserError(`--${name}: '${String(raw)}' is not a number`);
  const rule = KIND_RULES[kind];
  if (!rule.ok(value)) throw new UserError(`--${name} must be ${rule.want}, got ${String(raw)}`);
  return value;
}

export function readString(argv: Argv, name: string): string | undefined {
  const raw = argv[name];
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string') throw new UserError(`--${name}: expected a value, got ${JSON.stringify(raw)}`);
  return raw;
}

function readChoice<T extends string>(argv: Argv, name: string, choices: readonly T[]): T {
  const value = readString(argv, name) as T;
  if (!choices.includes(value)) throw new UserError(`--${name}: unknown ${name} '${value}' (choices: ${choices.join(', ')})`);
  return value;
}

export const readDevice = (argv: Argv): Device => readChoice(argv, 'device', DEVICES);
export const readOnNonFinite = (argv: Argv) => readChoice(argv, 'on-nonfinite', NONFINITE);
export const readLoss = (argv: Argv): LossName | undefined => (argv.loss === undefined ? undefined : readChoice(argv, 'loss', LOSS_NAMES));
export const readOptimizer = (argv: Argv): OptimizerKind => readChoice(argv, 'optimizer', OPTIMIZERS);
export const readBatchNorm = (argv: Argv): BatchNormMode => readChoice(argv, 'batchnorm', BATCH_NORM_MODES);
/** --rng, undefined where not given (the default depends on the model: see loadInputs). */
export const readRng = (argv: Argv): RngKind | undefined => (argv.rng === undefined ? undefined : readChoice(argv, 'rng', RNG_KINDS));

/** --early-stop, --monitor and --keep as a Selection; undefined when the run neither stops early nor keeps the best. */
export function readSelection(argv: Argv): { monitor: Monitor; patience?: number; keep: Keep } | undefined {
  const patience = argv['early-stop'] === undefined ? undefined : readNumber(argv, 'early-stop', COMMON_OPTIONS);
  const keep = readChoice(argv, 'keep', KEEP);
  const monitor = argv.monitor === undefined ? undefined : readChoice(argv, 'monitor', MONITOR_NAMES);
  if (patience === undefined && keep === 'last') {
    if (monitor !== undefined) throw new UserError(`--monitor ${monitor} judges the run for --early-stop or --keep best: give one of them`);
    return undefined;
  }
  return { monitor: monitor ?? 'val_loss', ...(patience === undefined ? {} : { patience }), keep };
}

/** --early-stop, --monitor, --keep as settings (report, checkpoint identity); nothing when not given, as before them. */
export function selectionSettings(config: { selection?: { monitor: Monitor; patience?: number; keep: Keep } }) {
  const s = config.selection;
  return s ? { early_stop: s.patience ?? null, monitor: s.monitor, keep: s.keep } : {};
}

/** --checkpoint-every: N steps, a duration of training (s, m, h), or 'epoch' (undefined: the trainer's default). */
export function readCheckpointEvery(argv: Argv): number | { seconds: number } | undefined {
  const text = (readString(argv, 'checkpoint-every') ?? '1m').trim();
  if (text === 'epoch') return undefined;
  const steps = /^\d+$/.test(text) ? Number(text) : NaN;
  if (Number.isSafeInteger(steps) && steps >= 1) return steps;
  const time = /^(\d+(?:\.\d+)?)\s*(s|m|h)$/.exec(text);
  const seconds = time ? Number(time[1]) * { s: 1, m: 60, h: 3600 }[time[2] as 's' | 'm' | 'h'] : NaN;
  if (seconds > 0) return { seconds };
  throw new UserError(`--checkpoint-every: '${text}' is not a number of steps (500), a time (30s, 5m, 1h) or 'epoch'`);
}

// Recipes (issue 15, part A): learning-rate schedules, discriminative rates, clipping, accumulation and label
// smoothing, the same for every stage of the command's plan (a plan file sets them per stage).
const CLI_SCHEDULES = ['constant', 'linear', 'cosine', 'onecycle'] as const;

// A function (hoisted): COMMON_OPTIONS above spreads these in.
function recipeOptions() {
  return {
    schedule: string(`learning rate over each stage's optimizer updates, per group: constant; linear (decay to 0, Hugging Face's); cosine (CosineAnnealingLR to 0); onecycle (OneCycleLR, the group's lr as max_lr, beta1 cycled) [choices: constant, linear, cosine, onecycle; default: constant]`),
    warmup: string("warmup before the --schedule: N optimizer updates, or a fraction of the stage's updates (0.1); from 0 for linear and cosine (Hugging Face's), from lr/3 for constant (LinearLR)"),
    'lr-decay': number('rate', 'layer-wise learning-rate decay: the head keeps its lr, the layer below it lr × D, the next lr × D², … (layers: parameter-name prefixes, see README)'),
    'no-decay': string("comma-separated globs of parameters without weight decay, matched against the full name or its last part, e.g. 'bias,*norm*'"),
    'clip-norm': number('rate', "clip the gradients' total L2 norm to this before each update (PyTorch's clip_grad_norm_)"),
    accumulate: number('count', 'batches per optimizer update (gradient accumulation: each loss scaled by 1/N, gradients summed; a shorter last group updates too)'),
    'label-smoothing': number('fraction', "cross-entropy's label smoothing (PyTorch's label_smoothing)"),
  } satisfies Record<string, Options | NumberOption>;
}

/** The recipe options as a RecipeOptions and a label smoothing; `head` is the --head glob (depth 0 for --lr-decay). */
export function readRecipe(argv: Argv, head: string): { recipe: RecipeOptions; labelSmoothing?: number } {
  const options = recipeOptions();
  const num = (name: string) => (argv[name] === undefined ? undefined : readNumber(argv, name, options));
  const noDecay = readString(argv, 'no-decay')?.split(',').map((g) => g.trim()).filter((g) => g !== '');
  if (noDecay?.length === 0) throw new UserError('--no-decay: no globs given (e.g. \'bias,*norm*\')');
  const decay = num('lr-decay');
  return {
    recipe: { schedule: readSchedule(argv), clipNorm: num('clip-norm'), accumulate: num('accumulate'), lrDecay: decay === undefined ? undefined : { decay, head }, noDecay },
    labelSmoothing: num('label-smoothing'),
  };
}

/** --schedule and --warmup as a ScheduleSpec (undefined: constant, the default). */
function readSchedule(argv: Argv): ScheduleSpec | undefined {
  const kind = argv.schedule === undefined ? undefined : readChoice(argv, 'schedule', CLI_SCHEDULES);
  const text = readString(argv, 'warmup')?.trim();
  let warmup: { warmupSteps: number } | { warmupRatio: number } | undefined;
  if (text !== undefined) {
    const value = parseDecimal(text);
    if (Number.isSafeInteger(value) && value >= 1) warmup = { warmupSteps: value };
    else if (value > 0 && value < 1) warmup = { warmupRatio: value };
    else throw new UserError(`--warmup must be a whole number of updates (>= 1) or a fraction between 0 and 1, got ${text}`);
  }
  switch (kind) {
    case undefined:
    case 'constant':
      return warmup ? { kind: 'warmup', ...warmup } : undefined;
    case 'linear':
      return { kind: 'warmup-linear', ...(warmup ?? { warmupSteps: 0 }) };
    case 'cosine':
      return warmup ? { kind: 'warmup-cosine', ...warmup } : { kind: 'cosine' };
    case 'onecycle':
      if (warmup) throw new UserError('--warmup does not apply to --schedule onecycle, which warms up over its first 30% (a plan file sets pctStart)');
      return { kind: 'onecycle' };
  }
}

/**
 * yargs reads `--no-decay GLOBS` as the negation of a `--decay` flag: the value is joined to the option
 * (`--no-decay=GLOBS`, which yargs reads as the no-decay option) before it parses. Without a value it is an error.
 */
export function joinNoDecay(args: string[]): string[] {
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] !== '--no-decay') joined.push(args[i]);
    else if (i + 1 < args.length && !args[i + 1].startsWith('--')) joined.push(`--no-decay=${args[++i]}`);
    else throw new UserError("--no-decay needs a value: comma-separated globs, e.g. 'bias,*norm*'");
  }
  return joined;
}

/** lr-find's own options; the model, data, optimizer and output options are the common ones. */
export const LR_FIND_OPTIONS = {
  'start-lr': number('rate', 'learning rate of the first step', 1e-7),
  'end-lr': number('rate', 'the rate the steps rise towards (exponentially; the last step stays below it)', 10),
  steps: number('count', 'steps (batches) at most; the run stops early once the smoothed loss passes 4x its best', 100),
  trainable: string('glob over parameter names: what the short run trains (as a stage would)', { default: '*' }),
} satisfies Record<string, Options | NumberOption>;

// serve (issue 17): the browser page's static server.
export const SERVE_OPTIONS = {
  port: string('TCP port to listen on (0: any free port) [default: 8080]'),
  host: string('address to bind; anything but 127.0.0.1 or localhost opens the page to your network [default: 127.0.0.1]'),
};

// Sweeps (issue 19): `sweep FILE` runs here or through a queue; `worker` takes runs from that queue.
export const SWEEP_OPTIONS = {
  workers: number('count', 'runs at a time on this machine, each a child process [default: the number of cores]; threads per run: cores / workers'),
  queue: string('put the runs on the BullMQ queue in this Redis (redis://host:port) and wait for `onnx-finetune worker` processes to run them; run folders must be on storage every worker reaches'),
  metric: string('the metric the leaderboard ranks by: accuracy, test_loss, macro_f1, roc_auc, mae, rmse, r2, or a validation one (val_loss, val_accuracy, …) [default: accuracy, test_loss for regression]'),
} satisfies Record<string, Options | NumberOption>;

export const WORKER_OPTIONS = {
  queue: string('the Redis holding the sweep queue (redis://host:port)'),
  concurrency: number('count', 'runs at a time in this worker, each a child process; threads per run: cores / concurrency', 1),
  'stalled-after': number('rate', "seconds without word from a run's worker after which the run counts as lost and goes to another worker (BullMQ's lock duration)", 30),
} satisfies Record<string, Options | NumberOption>;
