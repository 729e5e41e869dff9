// What a command trains on: an imported model with CSV or JSONL files or image folders (--model, --train, --test), or, with none of
// them, the built-in default, the seed notebook's job: the synthetic task and the seed backbone with a fresh
// Linear(16,1) head. Everything is read and checked here, before any training starts.
import { statSync } from 'node:fs';
import { loadModel } from '../onnx/io.js';
import type { ModelProto } from '../onnx/proto.js';
import { checkInputTypes, describeModel, type ModelSummary } from '../model/describe.js';
import { attachLinearHead } from '../model/attach-head.js';
import { buildSeedBackbone, DEFAULT_BACKBONE_PATH } from '../model/seed-backbone.js';
import { readDataset, type DataOptions } from '../data/read.js';
import { alignClasses } from '../data/label-column.js';
import { checkDataInputs } from '../data/check-inputs.js';
import type { TextOptions, TextPreprocessing } from '../data/text.js';
import { readTextFile } from '../runtime/files.js';
import { parseImageOptions, type ImageOptions } from '../data/image-options.js';
import { imageInputSize, withImageSize } from '../data/image-folder.js';
import { notebookTask, streamSeed, STREAMS } from '../data/synthetic.js';
import type { Dataset } from '../data/dataset.js';
import { Rng, type RngKind } from '../train/rng.js';
import { TorchGenerator } from '../train/torch-rng.js';
import { NOTEBOOK_HEAD_WORDS, notebookHeadStart } from '../train/notebook-stream.js';
import { STRATEGIES, type BuiltInStrategy } from '../train/strategies.js';
import { UserError } from '../errors.js';
import { exampleSize, inputType, TEXT_DATA_LIMITS } from '../data/dataset.js';
import { checkDevice, createSession, ort, type Device } from '../runtime/session.js';
import { COMMON_OPTIONS, readNumber, readRng, readString, type Argv } from './options.js';

export interface Inputs {
  model: ModelProto;
  summary: ModelSummary;
  /** Number of logits: 1 is a binary head (BCE), more are classes (cross-entropy). */
  logitCount: number;
  /** validation: evaluated after every epoch (--val, --val-split: see validation-data.ts). */
  data: { train: Dataset; test: Dataset; validation?: Dataset };
  /** Where model and data came from, for the summary and the report. */
  sources: { model: string; train: string; test: string; validation?: string };
  /** The same, as the summary's opening lines. */
  description: string[];
  /** The built-in default: our own model and data, known to run. */
  builtIn?: boolean;
  /** How to read another file like the test file (--val): the same label, columns and tokenizer length. */
  readOptions?: DataOptions;
  /** The generator behind --seed (--rng): torch by default for the built-in job, else mulberry32. */
  rng: RngKind;
  /**
   * What a strategy starts from, where it is not `model`: with --rng torch, each strategy of the built-in job has
   * its own head (drawn where the notebook draws it), and training continues PyTorch's generator from `rngStart`
   * words after torch.manual_seed(seed).
   */
  start?: (strategy: string) => { model: ModelProto; rngStart: number };
}

const FILE_OPTIONS = ['model', 'train', 'test'] as const;

/** A comma-separated list option (--features a,b,c). */
export function readList(argv: Argv, name: string): string[] | undefined {
  const value = readString(argv, name);
  if (value === undefined) return undefined;
  const items = value.split(',').map((v) => v.trim());
  if (items.some((v) => v === '')) throw new UserError(`--${name}: '${value}' has an empty name; give column names separated by commas`);
  return items;
}
const TEXT_OPTIONS = ['text-column', 'max-length'] as const;

export function loadInputs(argv: Argv, seed: number): Inputs {
  const files = Object.fromEntries(FILE_OPTIONS.map((name) => [name, readString(argv, name)])) as Record<(typeof FILE_OPTIONS)[number], string | undefined>;
  const backbonePath = readString(argv, 'backbone');
  if (backbonePath !== undefined && files.model !== undefined) throw new UserError('--model (backbone + head) and --backbone (a head is attached) exclude each other');
  if ((argv.classes !== undefined) !== (backbonePath !== undefined)) throw new UserError('--backbone and --classes go together');
  files.model ??= backbonePath;
  const given = FILE_OPTIONS.filter((name) => files[name] !== undefined);
  if (given.length === 0) return builtInDefault(argv, seed, readRng(argv) ?? 'torch');
  const rng = readRng(argv) ?? 'mulberry32';
  if (given.length < FILE_OPTIONS.length) {
    const missing = FILE_OPTIONS.filter((name) => files[name] === undefined).map((n) => `--${n}`);
    throw new UserError(`--model (or --backbone), --train and --test go together (leave all three out for the built-in default); missing ${missing.join(' and ')}`);
  }
  const modelPath = files.model!;
  const classes = backbonePath === undefined ? undefined : readNumber(argv, 'classes', COMMON_OPTIONS);
  const loaded = loadModel(modelPath);
  // A backbone gets the head a PyTorch user would add: nn.Linear(features, classes), seeded like the built-in one
  // (with --rng torch, the first draw after torch.manual_seed(seed), and training continues from there).
  const headRng = rng === 'torch' ? new TorchGenerator(seed) : new Rng(streamSeed(seed, STREAMS.head));
  let model = classes === undefined ? loaded : attachLinearHead(loaded, classes, headRng, modelPath);
  const rngStart = headRng instanceof TorchGenerator ? headRng.drawn : 0;
  let summary = describeModel(model, modelPath);
  checkInputTypes(summary, modelPath);
  const logitCount = countLogits(summary, modelPath);
  const label = readString(argv, 'label');
  const image = imageOptions(argv, files.train!, files.test!, seed);
  if (image) {
    // A model for any image size is trained at --image-size: its input is fixed to that size.
    const { name, size } = imageInputSize(files.train!, summary.inputs, image.size);
    const shape = summary.inputs[0].shape!;
    if (shape[2] !== size[0] || shape[3] !== size[1]) summary = describeModel((model = withImageSize(model, name, size)), modelPath);
    image.size = size;
  }
  const text = readTextOptions(argv);
  const columns = { features: readList(argv, 'features'), ignore: readList(argv, 'ignore') };
  const train = readDataset(files.train!, summary.inputs, { label, text, image, ...columns, labelsFile: readString(argv, 'train-labels') });
  // Other files are read as the test file is: tokenized to the training file's length (which may have come
  // from its longest text), images never augmented.
  const readOptions: DataOptions = {
    label, ...columns, image: image && { ...image, augment: [] },
    text: text && { ...text, maxLength: (train.preprocessing as TextPreprocessing).maxLength },
  };
  const unaligned = readDataset(files.test!, summary.inputs, { ...readOptions, labelsFile: readString(argv, 'test-labels') });
  if (image) checkImageClasses(train, unaligned, logitCount);
  const test = alignClasses(train, unaligned);
  const data = { train, test };
  // Before the model first runs on them (checkModelRuns): a token id past the embedding table is named here, not by ONNX Runtime.
  for (const d of [data.train, data.test]) checkDataInputs(d, summary.inputs);
  if (data.train.columns && data.test.columns && data.train.columns.join(',') !== data.test.columns.join(',')) {
    throw new UserError(`${files.test}: columns (${data.test.columns!.join(', ')}) differ from ${files.train}'s (${data.train.columns!.join(', ')})`);
  }
  const count = (d: Dataset) => (image ? `${d.count} images` : `${d.count} rows`);
  return {
    model, summary, logitCount, data, readOptions, rng,
    start: () => ({ model, rngStart }),
    sources: { model: modelPath, train: files.train!, test: files.test! },
    description: [`model: ${modelPath}`, `data:  ${files.train} (${count(data.train)}) for training, ${files.test} (${count(data.test)}) for testing`,
      ...(image ? [`classes: ${data.train.classNames!.map((c, i) => `${i} ${c}`).join(', ')}`] : [])],
  };
}

/** --tokenizer's file read (whole: it goes into the exported model's metadata), with --text-column and --max-length. */
function readTextOptions(argv: Argv): TextOptions | undefined {
  const path = readString(argv, 'tokenizer');
  if (path === undefined) {
    const stray = TEXT_OPTIONS.find((name) => argv[name] !== undefined);
    if (stray) throw new UserError(`--${stray} goes with --tokenizer (the text's tokenizer.json)`);
    return undefined;
  }
  const tokenizerJson = readTextFile(path, 'tokenizer file', { limit: TEXT_DATA_LIMITS.fileBytes });
  const maxLength = argv['max-length'] === undefined ? undefined : readNumber(argv, 'max-length', COMMON_OPTIONS);
  return { tokenizerJson, tokenizerSource: path, column: readString(argv, 'text-column'), maxLength };
}

const IMAGE_OPTIONS = ['image-size', 'mean', 'std', 'augment'] as const;

/** The image-folder options where --train and --test are folders; refused with files, and a folder with a file. */
function imageOptions(argv: Argv, train: string, test: string, seed: number): ImageOptions | undefined {
  const folders = [train, test].map((p) => statSync(p, { throwIfNoEntry: false })?.isDirectory() === true);
  const given = IMAGE_OPTIONS.filter((name) => argv[name] !== undefined);
  if (!folders[0] && !folders[1]) {
    if (given.length > 0) throw new UserError(`--${given[0]} applies to image folders (--train DIR --test DIR, one subfolder per class); ${train} is a file`);
    return undefined;
  }
  if (!folders[0] || !folders[1]) throw new UserError(`${folders[0] ? test : train}: an image folder (${folders[0] ? train : test}) trains and tests with image folders; give a folder here too`);
  return parseImageOptions(Object.fromEntries(IMAGE_OPTIONS.map((name) => [name, readString(argv, name)])), seed);
}

/** Train and test folders must name the same classes, as many as the head has outputs (two for a one-logit head). */
function checkImageClasses(train: Dataset, test: Dataset, logitCount: number): void {
  const [a, b] = [train.classNames!, test.classNames!];
  if (a.join('\0') !== b.join('\0')) {
    const missing = a.filter((c) => !b.includes(c)), extra = b.filter((c) => !a.includes(c));
    const what = [missing.length ? `lacks ${missing.map((c) => `'${c}'`).join(', ')}` : '', extra.length ? `has ${extra.map((c) => `'${c}'`).join(', ')} that ${train.source} lacks` : ''].filter(Boolean).join(' and ');
    throw new UserError(`${test.source}: class folders differ from ${train.source}'s: it ${what}`);
  }
  const outputs = logitCount === 1 ? 2 : logitCount;
  if (a.length !== outputs) {
    throw new UserError(`${train.source}: ${a.length} class folder${a.length === 1 ? '' : 's'} (${a.join(', ')}), but the model's head has ${logitCount} output${logitCount === 1 ? ' (binary: two classes)' : 's'}`);
  }
}

function builtInDefault(argv: Argv, seed: number, rng: RngKind): Inputs {
  if (argv.label !== undefined) throw new UserError('--label names a column of the --train/--test CSV files; the built-in default has none');
  if (argv.tokenizer !== undefined || TEXT_OPTIONS.some((n) => argv[n] !== undefined)) throw new UserError('--tokenizer (with --text-column, --max-length) tokenizes the text of --train and --test for --model; the built-in default has no text');
  if (rng === 'torch') return notebookJob(seed);
  const backbone = loadModel(DEFAULT_BACKBONE_PATH);
  // One head for every strategy, from the seed alone, so that a comparison starts all three from the same weights.
  const model = attachLinearHead(backbone, 1, new Rng(streamSeed(seed, STREAMS.head)), DEFAULT_BACKBONE_PATH);
  const summary = describeModel(model, DEFAULT_BACKBONE_PATH);
  const data = notebookTask(seed, rng);
  const source = `the built-in model (models/seed-backbone.onnx + a Linear(16,1) head, seed ${seed})`;
  return {
    model, summary, logitCount: 1, data, builtIn: true, rng,
    sources: { model: source, train: data.train.source, test: data.test.source },
    description: [`model: ${source}`, `data:  the notebook's synthetic task (seed ${seed}), ${data.train.count} rows for training, ${data.test.count} for testing`],
  };
}

/**
 * The seed notebook's job drawn from PyTorch's generator after torch.manual_seed(seed): its data and split, its
 * backbone (for seed 17, models/seed-backbone.onnx byte for byte), and for each strategy the head the notebook
 * draws for it; each strategy's shuffles continue from there (notebook-stream.ts).
 */
function notebookJob(seed: number): Inputs {
  const backbone = buildSeedBackbone(seed);
  const heads = new Map(STRATEGIES.map((s) => [s, attachLinearHead(backbone, 1, TorchGenerator.at(seed, notebookHeadStart(s)), DEFAULT_BACKBONE_PATH)]));
  // LoRA and plans from a file start where the notebook's first strategy does (its head, its generator position).
  const start = (name: string) => {
    const strategy = STRATEGIES.includes(name as BuiltInStrategy) ? (name as BuiltInStrategy) : STRATEGIES[0];
    return { model: heads.get(strategy)!, rngStart: notebookHeadStart(strategy) + NOTEBOOK_HEAD_WORDS };
  };
  const model = heads.get('linear_probe')!;
  const data = notebookTask(seed, 'torch');
  const source = `the notebook's model (its backbone from torch.manual_seed(${seed}), as models/seed-backbone.onnx for seed 17, + each strategy's own Linear(16,1) head)`;
  return {
    model, summary: describeModel(model, DEFAULT_BACKBONE_PATH), logitCount: 1, data, builtIn: true, rng: 'torch', start,
    sources: { model: source, train: data.train.source, test: data.test.source },
    description: [`model: ${source}`, `data:  the notebook's synthetic task (torch.manual_seed(${seed})), ${data.train.count} rows for training, ${data.test.count} for testing`],
  };
}

/** Logits are [batch, classes] (or [batch] for one logit); the class count must be a fixed number. */
function countLogits(summary: ModelSummary, source: string): number {
  const shape = summary.logitsShape;
  if (shape?.length === 1) return 1;
  const classes = shape?.length === 2 ? shape[1] : undefined;
  if (typeof classes !== 'number' || classes < 1) {
    throw new UserError(`${source}: output '${summary.logits}' should have shape [batch, classes] with a fixed number of classes, got ${shape ? `[${shape}]` : 'no shape'}`);
  }
  return classes;
}

/**
 * The user's model must load and run in ONNX Runtime as it is, on batches of any size, before onnx-finetune
 * builds training graphs from it: a failure here is the model's, and says so in one line.
 */
export async function checkModelRuns(inputs: Inputs, device: Device): Promise<void> {
  if (inputs.builtIn) return checkDevice(device); // our own model (the tests run it): only the device is left to check
  const { summary, sources } = inputs;
  for (const input of summary.inputs) {
    const batch = input.shape?.[0];
    if (typeof batch === 'number') {
      throw new UserError(`${sources.model}: input '${input.name}' has a fixed batch size of ${batch}; export it with a dynamic batch axis (torch.onnx.export(..., dynamic_axes={'${input.name}': {0: 'batch'}}))`);
    }
  }
  const data = inputs.data.train;
  const rows = Math.min(2, data.count);
  const feeds = Object.fromEntries(await Promise.all(summary.inputs.map(async ({ name }) => {
    if (name === data.lazy?.inputName) {
      const values = new Float32Array(rows * exampleSize(data.lazy));
      await data.lazy.load(Int32Array.from({ length: rows }, (_, i) => i), values);
      return [name, new ort.Tensor('float32', values, [rows, ...data.lazy.shape])];
    }
    const { shape, values } = data.inputs[name];
    return [name, new ort.Tensor(inputType(values), values.slice(0, rows * exampleSize({ shape })), [rows, ...shape])];
  })));
  try {
    const session = await createSession(inputs.model, { device });
    await session.run(feeds);
    await session.release();
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`${sources.model}: ONNX Runtime cannot run this model on a batch of ${rows}: ${ortMessage(e as Error)}`);
  }
}

/** ONNX Runtime's message without its error-code prefix and C++ source locations. */
export function ortMessage(e: Error): string {
  return e.message
    .split('\n')[0]
    .replace(/\[ONNXRuntimeError\]\s*:\s*\d+\s*:\s*[A-Z_]+\s*:\s*/g, '')
    .replace(/\S*onnxruntime_src\S*\s*/g, '')
    .slice(0, 300);
}
