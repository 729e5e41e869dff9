// onnx-finetune predict: a trained model on new data, one CSV row per example (its index, the predicted class
// by name where the model's metadata names its classes, and the class probabilities; or the value, for a
// regression model). The data is read as training reads it (readDataset), prepared as the model's metadata
// says; with --label, the metrics against the data's labels are printed too. Any ONNX model whose inputs
// the data fits will do: without onnx-finetune's metadata, classes are indices and the task follows from
// the logits (one: binary, several: classes).
import { statSync } from 'node:fs';
import { loadModel } from '../onnx/io.js';
import { checkInputTypes, describeModel, type ModelSummary } from '../model/describe.js';
import { readDataMetadata } from '../export/data-metadata.js';
import { dataOptionsFromPreprocessing, readDataset } from '../data/read.js';
import { BatchBuffers } from '../train/batches.js';
import { alignClasses } from '../data/label-column.js';
import { checkDataInputs } from '../data/check-inputs.js';
import { exampleLocation, type Dataset } from '../data/dataset.js';
import { createSession, ort, type Device } from '../runtime/session.js';
import { writeFileAtomic } from '../runtime/files.js';
import { classProbabilities, computeMetrics, predictedClass, type Metrics, type Task } from '../train/metrics.js';
import { UserError } from '../errors.js';
import { COMMON_OPTIONS, readDevice, readNumber, readString, type Argv } from './options.js';
import { ortMessage, readList } from './inputs.js';
import { shortMetrics } from './report.js';
import type { CommandIo } from './run.js';

/** Options of the training commands that mean nothing to predict: given, they are refused rather than ignored. */
const TRAINING_ONLY = ['train', 'test', 'backbone', 'classes', 'loss', 'weight-decay', 'checkpoint-every', 'resume', 'val', 'val-split', 'train-labels', 'test-labels', 'augment'];
/** How the training data was prepared: predict takes it from the model's metadata, so that new data is prepared alike. */
const FROM_METADATA = ['tokenizer', 'text-column', 'max-length', 'image-size', 'mean', 'std'];

export async function runPredict(argv: Argv, io: CommandIo): Promise<void> {
  const unused = TRAINING_ONLY.filter((name) => argv[name] !== undefined);
  if (unused.length > 0) throw new UserError(`predict takes --model and --data; ${unused.map((n) => `--${n}`).join(', ')} ${unused.length > 1 ? 'are' : 'is'} for the training commands`);
  const preparing = FROM_METADATA.filter((name) => argv[name] !== undefined);
  if (preparing.length > 0) throw new UserError(`predict prepares the data as the model's training did, from its metadata; ${preparing.map((n) => `--${n}`).join(', ')} cannot change that`);
  const modelPath = readString(argv, 'model');
  const dataPath = readString(argv, 'data');
  if (modelPath === undefined || dataPath === undefined) throw new UserError(`predict needs --model (a trained .onnx) and --data (the examples); missing ${[modelPath === undefined && '--model', dataPath === undefined && '--data'].filter(Boolean).join(' and ')}`);
  const out = readString(argv, 'out');
  if (out !== undefined) checkOut(out, argv.overwrite === true);
  const label = readString(argv, 'label');
  const json = argv.json === true;
  if (json && out === undefined) throw new UserError('--json prints the metrics as one JSON object on stdout; give --out FILE for the predictions');
  const batchSize = readNumber(argv, 'batch-size', COMMON_OPTIONS);
  const session = { device: readDevice(argv), threads: argv.threads === undefined ? 1 : readNumber(argv, 'threads', COMMON_OPTIONS) };

  const model = loadModel(modelPath);
  const summary = describeModel(model, modelPath);
  checkInputTypes(summary, modelPath);
  const meta = readDataMetadata(model);
  const columns = { features: readList(argv, 'features'), ignore: readList(argv, 'ignore') };
  const read = readDataset(dataPath, summary.inputs, { ...dataOptionsFromPreprocessing(meta.preprocessing), ...columns, label, labels: label !== undefined });
  // Labels given as class names are numbered as the model's classes are; numbers are class indices already.
  const data = read.classNames ? alignClasses({ source: modelPath, classNames: meta.classNames }, read) : read;
  checkDataInputs(data, summary.inputs);
  const { logits, classes } = await runModel(model, summary, data, { batchSize, ...session }, modelPath);
  const task: Task = meta.task ?? (classes === 1 ? 'binary' : 'multiclass');
  if (task === 'regression' && classes !== 1) throw new UserError(`${modelPath}: a regression model with ${classes} outputs per example; predict reads one value`);
  const classNames = meta.classNames?.length === (task === 'binary' ? 2 : classes) ? meta.classNames : undefined;

  const table = predictionsCsv(task, logits, data.count, classes, classNames);
  if (out !== undefined) writeFileAtomic(out, table);
  else io.stdout.write(table);

  let metrics: Metrics | undefined;
  if (label !== undefined) {
    checkLabels(data, task, classes);
    metrics = computeMetrics(task, logits, data.labels, { classes, classNames });
  }
  if (json) {
    io.stdout.write(JSON.stringify({ model: modelPath, data: dataPath, out, count: data.count, task, ...(metrics ? { metrics } : {}) }) + '\n');
    return;
  }
  // The predictions may be on stdout: the rest goes to stderr then.
  const report = out === undefined ? process.stderr : io.stdout;
  const lines = out === undefined ? [] : [`wrote ${data.count} predictions (${task}) to ${out}`];
  if (metrics) lines.push(`${dataPath}: ${shortMetrics(metrics)}`, ...confusionLines(metrics, classNames));
  if (lines.length > 0) report.write(lines.join('\n') + '\n');
}

/** --out names a file to write: not a folder, and not an existing file unless --overwrite. */
function checkOut(out: string, overwrite: boolean): void {
  if (out === '') throw new UserError('--out: empty file name');
  const stat = statSync(out, { throwIfNoEntry: false });
  if (stat?.isDirectory()) throw new UserError(`--out ${out}: is a folder; predict writes one CSV file`);
  if (stat && !overwrite) throw new UserError(`--out ${out}: exists; replace it with --overwrite`);
}

/** The model's first output on every example, in batches; one that ONNX Runtime cannot run on the data is the user's to fix. */
async function runModel(model: Parameters<typeof createSession>[0], summary: ModelSummary, data: Dataset, options: { batchSize: number; device: Device; threads: number }, source: string) {
  // The training batches' gatherer: in-memory inputs, and images decoded per batch with read-ahead.
  const batches = new BatchBuffers(data, summary.inputs.map((i) => i.name), ['batch'], 'float');
  const order = Int32Array.from({ length: data.count }, (_, i) => i);
  const session = await createSession(model, options).catch((e) => {
    throw e instanceof UserError ? e : new UserError(`${source}: ONNX Runtime cannot load this model: ${ortMessage(e as Error)}`);
  });
  let logits: Float32Array | undefined, classes = 1;
  try {
    for (let start = 0; start < data.count; start += options.batchSize) {
      const rows = Math.min(options.batchSize, data.count - start);
      const { feeds } = await batches.gather(order, start, start + rows);
      let output: ort.Tensor;
      try {
        output = (await session.run(feeds, [summary.logits]))[summary.logits];
      } catch (e) {
        throw new UserError(`${source}: ONNX Runtime cannot run this model on ${data.source} (rows ${start + 1}-${start + rows}): ${ortMessage(e as Error)}`);
      }
      const perExample = output.size / rows;
      if (output.type !== 'float32' || output.dims[0] !== rows || !Number.isInteger(perExample) || perExample < 1) {
        throw new UserError(`${source}: output '${summary.logits}' is ${output.type} [${output.dims}] for ${rows} examples; predict reads float32 logits of shape [batch, classes]`);
      }
      if (logits === undefined) {
        classes = perExample;
        logits = new Float32Array(data.count * classes);
      } else if (perExample !== classes) {
        throw new UserError(`${source}: output '${summary.logits}' has ${perExample} values per example on rows ${start + 1}-${start + rows}, ${classes} before`);
      }
      logits.set(output.data as Float32Array, start * classes);
    }
  } finally {
    await session.release();
  }
  return { logits: logits ?? new Float32Array(0), classes };
}

/** Labels the metrics can score: 0 or 1 for a binary model, a class index for several classes. */
function checkLabels(data: Dataset, task: Task, classes: number): void {
  for (let i = 0; i < data.count; i++) {
    const y = data.labels[i];
    const ok = task === 'regression' || (task === 'binary' ? y === 0 || y === 1 : Number.isInteger(y) && y >= 0 && y < classes);
    if (!ok) throw new UserError(`${data.source}: ${exampleLocation(data, i)}: label ${y} is not ${task === 'binary' ? '0 or 1 (the model has one logit)' : `a class index in [0, ${classes})`}`);
  }
}

/** index,predicted,p_<class>... (probabilities) for classification; index,value for regression. */
export function predictionsCsv(task: Task, logits: Float32Array, count: number, classes: number, classNames?: readonly string[]): string {
  const lines: string[] = [];
  if (task === 'regression') {
    lines.push('index,value');
    for (let i = 0; i < count; i++) lines.push(`${i},${float32Text(logits[i])}`);
    return lines.join('\n') + '\n';
  }
  const k = classes === 1 ? 2 : classes;
  const name = (c: number) => classNames?.[c] ?? String(c);
  lines.push(['index', 'predicted', ...Array.from({ length: k }, (_, c) => `p_${name(c)}`)].map(csvField).join(','));
  for (let i = 0; i < count; i++) {
    const probabilities = classProbabilities(logits, i, classes).map((p) => float32Text(Math.fround(p)));
    lines.push([String(i), csvField(name(predictedClass(logits, i, classes))), ...probabilities].join(','));
  }
  return lines.join('\n') + '\n';
}

/** A float32 value in the fewest digits that read back to it. */
export function float32Text(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  for (let digits = 1; digits < 9; digits++) {
    const text = Number(x.toPrecision(digits));
    if (Math.fround(text) === x) return String(text);
  }
  return String(Number(x.toPrecision(9)));
}

/** A CSV field, quoted where it holds a comma, a quote or a line break (class names may). */
function csvField(text: string): string {
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** The confusion matrix as text, rows the true classes; regression has none. */
function confusionLines(m: Metrics, classNames?: readonly string[]): string[] {
  if (!('confusion_matrix' in m)) return [];
  const names = m.confusion_matrix.map((_, c) => classNames?.[c] ?? String(c));
  const width = Math.max(4, ...names.map((n) => n.length), ...m.confusion_matrix.flat().map((n) => String(n).length));
  return [
    'confusion matrix (rows: true class, columns: predicted):',
    [''.padEnd(width), ...names.map((n) => n.padStart(width))].join(' '),
    ...m.confusion_matrix.map((row, c) => [names[c].padEnd(width), ...row.map((n) => String(n).padStart(width))].join(' ')),
  ];
}
