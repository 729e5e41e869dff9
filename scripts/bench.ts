// npm run bench: median time per training step for fixed workloads on generated data, and the whole compare
// process, each beside PyTorch's figure for the same workload measured right after it (scripts/bench-pytorch.py,
// see bench-pytorch-side.ts for which Python), then issue 14's target table. It measures and prints; it never
// passes or fails. `--json` prints one JSON line per measurement instead; `--rounds N` measures each row's pair
// N times and takes the medians; `--only TEXT` keeps the workloads whose name contains TEXT.
import { loadModel } from '../src/onnx/io.js';
import { LOSSES } from '../src/losses/index.js';
import { DEFAULT_TRAIN_CONFIG, initialParameters, type RunSnapshot, type TrainConfig } from '../src/train/trainer.js';
import { StageRunner } from '../src/train/stage-runner.js';
import { fullFineTune, linearProbe, partialUnfreeze, type Plan } from '../src/train/strategies.js';
import { Rng } from '../src/train/rng.js';
import type { Dataset } from '../src/data/dataset.js';
import type { ModelProto, NodeProto } from '../src/onnx/proto.js';
import { attachLinearHead } from '../src/model/attach-head.js';
import { buildMlpBackbone } from '../src/model/seed-backbone.js';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { readCsvDataset } from '../src/data/csv.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DataType, makeGraph, makeModel, makeNode, makeValueInfo } from '../src/onnx/builder.js';
import { createStepSession, ort } from '../src/runtime/session.js';
import { prepareLora } from '../src/lora/lora.js';
import { BERT_TINY, buildBert, buildEfficientNetB0, buildResNet18, EFFICIENTNET_B0, RESNET18, type BenchModel } from './bench-models.js';
import { findPython, PyTorchSide, timeNotebookProcess, type PyTorchResult } from './bench-pytorch-side.js';
import { COMPARE_ROW, extraPyTorchRows, NOTEBOOK_ROW, TARGET_NOTES, TARGETS, targetTable, type Measured } from './bench-targets.js';
import { benchImageFolder, measureImages, IMAGES_ROW } from './bench-images.js';
import { benchBrowser } from './bench-browser.js';

interface Workload {
  name: string;
  model: () => ModelProto;
  plan: Plan;
  /** Which stage of the plan to time (partial unfreeze: its second stage, head and unfrozen layers). */
  stage?: number;
  batch: number;
  /** One example's values for each model input (default: the model's one float input, N(0, 1) values). */
  inputs?: (rng: Rng, rows: number) => Record<string, GeneratedInput>;
  featureShape: number[];
  /** Labels are drawn from 0..classes-1 (default: 0..4, or 0..1 for BCE). */
  classes?: number;
  config: Omit<TrainConfig, 'batchSize'>;
  /** Floating-point operations of one step's forward and backward, where GFLOP/s means something. */
  flopsPerStep?: () => number;
}

interface Result {
  workload: string;
  error?: string;
  batch?: number;
  threads?: number;
  median_us?: number;
  min_us?: number;
  max_us?: number;
  samples_per_s?: number;
  gflops?: number;
  peak_rss_mb?: number;
  per_node_us?: number;
  /** How the step ran where that matters for the comparison (BatchNorm statistics). */
  note?: string;
  /** What samples_per_s counts (default: samples). */
  unit?: string;
  /** CPU time (user + system, all threads) per step, median: steadier than the wall clock on a shared machine. */
  cpu_us?: number;
}

interface GeneratedInput {
  shape: number[];
  values: Float32Array | BigInt64Array;
}

const json = process.argv.includes('--json');
const CSV_ROWS = 2_000_000;
const CSV_LOAD = `CSV load, ${CSV_ROWS.toLocaleString('en-US')} rows × 10 features (streamed)`;
const REPEATS = 15;
const COMPARE_REPEATS = 5;
const FLOOR = 'ONNX Runtime floor (a chain of Adds on [64, 32])';
/** Steps timed together in one repeat: enough for ~50 ms, so the clock's resolution does not matter. */
const TARGET_REPEAT_MS = 50;

function randomDataset(w: Workload, rows: number, seed: number): Dataset {
  const rng = new Rng(seed);
  const size = w.featureShape.reduce((a, b) => a * b, 1);
  const inputs = w.inputs?.(rng, rows) ?? { x: { shape: w.featureShape, values: Float32Array.from({ length: rows * size }, () => rng.normal()) } };
  const classes = w.classes ?? (w.config.loss.name === 'bce' ? 2 : 5);
  const labels = Float64Array.from({ length: rows }, () => Math.floor(rng.next() * classes));
  return { source: 'generated', count: rows, inputs, labels };
}

/** Token ids in 1..vocab-1 and a mask of ones, each row padded (id 0, mask 0) after a length drawn from [sequence/2, sequence]. */
function tokenInputs(vocab: number, sequence: number) {
  return (rng: Rng, rows: number): Record<string, GeneratedInput> => {
    const ids = new BigInt64Array(rows * sequence), mask = new BigInt64Array(rows * sequence);
    for (let r = 0; r < rows; r++) {
      const length = sequence / 2 + rng.int(sequence / 2 + 1);
      for (let t = 0; t < length; t++) {
        ids[r * sequence + t] = BigInt(1 + rng.int(vocab - 1));
        mask[r * sequence + t] = 1n;
      }
    }
    return { input_ids: { shape: [sequence], values: ids }, attention_mask: { shape: [sequence], values: mask } };
  };
}

/**
 * Which statistics the step's BatchNormalization layers normalize with: running ones where a node stays in
 * inference form in the train graph or the frozen prefix, batch ones where it was rewritten for training.
 */
function batchNormNote(model: ModelProto, runner: StageRunner): string | undefined {
  const isBatchNorm = (n: NodeProto) => n.opType === 'BatchNormalization';
  const total = model.graph.node.filter(isBatchNorm).length;
  if (total === 0) return undefined;
  const inferenceForm = (n: NodeProto) => isBatchNorm(n) && !n.attribute.some((a) => a.name === 'training_mode' && Number(a.i) === 1);
  const { train, prefix } = runner.artifacts;
  const frozen = [...train.graph.node, ...(prefix?.graph.node ?? [])].filter(inferenceForm).length;
  if (frozen === total) return 'BatchNorm: running statistics (PyTorch eval())';
  if (frozen === 0) return 'BatchNorm: batch statistics (PyTorch train())';
  return `BatchNorm: running statistics in ${frozen} of ${total} layers, batch statistics in the rest`;
}

async function measure(w: Workload): Promise<Result> {
  const model = w.model();
  const data = randomDataset(w, w.batch * 8, 1);
  const parameters = initialParameters(model);
  const runner = await StageRunner.create(model, parameters, w.plan.stages[w.stage ?? 0], data, { ...w.config, batchSize: w.batch }, new Rng(2));
  const note = batchNormNote(model, runner);
  const order = Int32Array.from({ length: data.count }, (_, i) => i);
  let step = 0;
  const oneStep = () => {
    const start = (step++ % 8) * w.batch;
    return runner.step(order, start, start + w.batch);
  };
  // Warm-up: 20 steps, or 1 s of a slow one's; at least 200 ms.
  const warmup = performance.now();
  const warming = (i: number, ms: number) => (i < 20 && ms < 1000) || ms < 200;
  for (let i = 0; warming(i, performance.now() - warmup); i++) await oneStep();
  const stepsPerRepeat = Math.max(1, Math.round(TARGET_REPEAT_MS / ((performance.now() - warmup) / step)));
  const samples: number[] = [], cpu: number[] = [];
  for (let r = 0; r < REPEATS; r++) {
    const t0 = process.hrtime.bigint(), c0 = process.cpuUsage();
    for (let i = 0; i < stepsPerRepeat; i++) await oneStep();
    samples.push(Number(process.hrtime.bigint() - t0) / 1e3 / stepsPerRepeat);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / stepsPerRepeat);
  }
  cpu.sort((a, b) => a - b);
  await runner.release();
  samples.sort((a, b) => a - b);
  const median = samples[Math.floor(samples.length / 2)];
  const gflops = w.flopsPerStep ? w.flopsPerStep() / (median * 1e3) : undefined;
  return { workload: w.name, batch: w.batch, threads: w.config.threads, median_us: median, min_us: samples[0], max_us: samples[samples.length - 1], samples_per_s: (w.batch * 1e6) / median, gflops, peak_rss_mb: process.resourceUsage().maxRSS / 1024, note, cpu_us: cpu[Math.floor(cpu.length / 2)] };
}

const seedModel = () => loadModel('test/fixtures/torch-seed/model.onnx');
const seedConfig = { ...DEFAULT_TRAIN_CONFIG, loss: LOSSES.bce, threads: 1 };
const digitsModel = () => loadModel('test/fixtures/torch-digits-cnn/model.onnx');
const digitsConfig = { ...DEFAULT_TRAIN_CONFIG, loss: LOSSES.ce, threads: 1 };
// MLP 784-1024-1024-10 with softmax cross-entropy: forward 2·B·Σ(in·out), the same again for the weight
// gradients, and for the input gradients of every layer but the first (its input is data): 2.46 GFLOP at 256.
const MLP = [784, 1024, 1024];
const mlpModel = () => attachLinearHead(buildMlpBackbone(MLP, new Rng(1), 0), 10, new Rng(2));
const mlpFlops = (batch: number) => 2 * batch * (3 * (784 * 1024 + 1024 * 1024 + 1024 * 10) - 784 * 1024);
const partial = (unfreeze: string) => partialUnfreeze({ headLr: 1e-2, headEpochs: 1, unfreeze, backboneLr: 1e-3, epochs: 1 });
// Built when a workload's process first asks (each workload runs in a process of its own). The FLOPs of a
// full fine-tune step: forward, the weight gradients (the same again) and every input gradient but the first layer's.
const memo = <T>(make: () => T) => {
  let value: T | undefined;
  return () => (value ??= make());
};
const resnet = memo(() => buildResNet18());
const bert = memo(() => buildBert());
const efficientnet = memo(() => buildEfficientNetB0());
const fullStepFlops = (m: BenchModel, batch: number) => 2 * batch * (3 * m.forwardMacs - m.firstLayerMacs);
// PyTorch's eval() BatchNorm in a full fine-tune. The row's note says which statistics were used.
const bnFrozenConfig = { ...digitsConfig, batchNorm: 'frozen' as const };
const RESNET_SHAPE = [RESNET18.channels, RESNET18.size, RESNET18.size];
const resnetRow = (task: string, plan: Plan, config: typeof digitsConfig, fullStep: boolean): Workload => ({
  name: `ResNet-18 ${RESNET_SHAPE.join('x')}, ${task}`, model: () => resnet().model, plan, batch: 32, featureShape: RESNET_SHAPE,
  classes: RESNET18.classes, config, flopsPerStep: fullStep ? () => fullStepFlops(resnet(), 32) : undefined,
});
const EFFICIENTNET_SHAPE = [EFFICIENTNET_B0.channels, EFFICIENTNET_B0.size, EFFICIENTNET_B0.size];
const bertRow = (task: string, plan: Plan, fullStep: boolean): Workload => ({
  name: `BERT-Tiny L2-H128, seq ${BERT_TINY.sequence}, ${task}`, model: () => bert().model, plan, batch: 16,
  inputs: tokenInputs(BERT_TINY.vocab, BERT_TINY.sequence), featureShape: [BERT_TINY.sequence], classes: BERT_TINY.classes,
  config: digitsConfig, flopsPerStep: fullStep ? () => fullStepFlops(bert(), 16) : undefined,
});
/** LoRA's rows: the bench BERT with adapters beside its query and value projections (src/lora), and its plan. */
function loraBertRows(): Workload[] {
  const lora = memo(() => prepareLora(bert().model, { targets: '*.{query,value}.weight', rank: 8, alpha: 16, dropout: 0, loraLr: 1e-3, headLr: 1e-3, epochs: 1, head: 'classifier.*', seed: 1 }));
  const row = bertRow('LoRA r8 query+value', fullFineTune({ lr: 1e-3, epochs: 1 }), false);
  // The plan names the adapters, which exist only once the model is built: read it when the row runs.
  return [{ ...row, model: () => lora().model, get plan() { return lora().plan; } }];
}

const workloads: Workload[] = [
  { name: 'seed MLP 10-32-16-1, full fine-tune', model: seedModel, plan: fullFineTune({ lr: 3e-3, epochs: 1 }), batch: 64, featureShape: [10], config: seedConfig },
  { name: 'seed MLP 10-32-16-1, linear probe', model: seedModel, plan: linearProbe({ lr: 1e-2, epochs: 1 }), batch: 64, featureShape: [10], config: seedConfig },
  { name: 'seed MLP 10-32-16-1, partial unfreeze stage 2', model: seedModel, plan: partial('backbone.2.*'), stage: 1, batch: 64, featureShape: [10], config: seedConfig },
  { name: 'digits CNN, full fine-tune', model: digitsModel, plan: fullFineTune({ lr: 2e-3, epochs: 1 }), batch: 32, featureShape: [1, 8, 8], config: digitsConfig },
  { name: 'digits CNN, linear probe', model: digitsModel, plan: linearProbe({ lr: 1e-2, epochs: 1 }), batch: 32, featureShape: [1, 8, 8], config: digitsConfig },
  { name: 'digits CNN, partial unfreeze stage 2', model: digitsModel, plan: partial('backbone.7.*'), stage: 1, batch: 32, featureShape: [1, 8, 8], config: digitsConfig },
  ...[1, 2].map((threads) => ({
    name: `MLP 784-1024-1024-10, full fine-tune, ${threads} thread${threads > 1 ? 's' : ''}`, model: mlpModel, plan: fullFineTune({ lr: 1e-3, epochs: 1 }),
    batch: 256, featureShape: [784], config: { ...digitsConfig, threads }, flopsPerStep: () => mlpFlops(256),
  })),
  resnetRow('full fine-tune', fullFineTune({ lr: 1e-3, epochs: 1 }), digitsConfig, true),
  resnetRow('full fine-tune, BN frozen', fullFineTune({ lr: 1e-3, epochs: 1 }), bnFrozenConfig, true),
  resnetRow('linear probe', linearProbe({ lr: 1e-2, epochs: 1, head: 'fc.*' }), digitsConfig, false),
  {
    name: `EfficientNet-B0 ${EFFICIENTNET_SHAPE.join('x')}, full fine-tune`, model: () => efficientnet().model, plan: fullFineTune({ lr: 1e-3, epochs: 1 }), batch: 32,
    featureShape: EFFICIENTNET_SHAPE, classes: EFFICIENTNET_B0.classes, config: digitsConfig, flopsPerStep: () => fullStepFlops(efficientnet(), 32),
  },
  bertRow('full fine-tune', fullFineTune({ lr: 1e-4, epochs: 1 }), true),
  bertRow('linear probe', linearProbe({ lr: 1e-2, epochs: 1, head: 'classifier.*' }), false),
  // LoRA (issue 16): r 8, alpha 16 on the attention's query and value, the classifier trained in full (PEFT's
  // modules_to_save), next to the full fine-tune above; scripts/bench-pytorch.py times PEFT's step (lora_steps).
  ...loraBertRows(),
];

// ---- Checkpoints off the hot path, threads for Adam, steps as a user runs them (issue 14; perf-ckpt) ----
// The seed model's steps through the command itself, with its default checkpointing (one a minute and one
// at each stage's end), by difference of a 202- and a 2-epoch run (the same start-up and outputs); the
// 784-1024-1024-10 MLP through train() with the command's checkpoint files and default checkpointing, on 1
// and 2 threads; and what one checkpoint of that MLP with Adam's state costs the training thread.

const SEED_STEPS_PER_EPOCH = 15; // the built-in data: 900 training rows in batches of 64
const CLI_REPEATS = 5;
const COMMAND_LONG_EPOCHS = 202;

interface CheckpointRow {
  key: string;
  name: string;
  /** Measured in a child process of its own (checkpointRow), or here. */
  args?: boolean;
  measure?: () => Result;
}

const CHECKPOINT_ROWS: CheckpointRow[] = [
  { key: 'seed-full', name: 'seed MLP 10-32-16-1, full fine-tune, as a user runs it (command, default checkpoints)', measure: () => measureCommandSteps('full-finetune', 'seed MLP 10-32-16-1, full fine-tune, as a user runs it (command, default checkpoints)') },
  { key: 'seed-probe', name: 'seed MLP 10-32-16-1, linear probe, as a user runs it (command, default checkpoints)', measure: () => measureCommandSteps('linear-probe', 'seed MLP 10-32-16-1, linear probe, as a user runs it (command, default checkpoints)') },
  ...[1, 2].map((threads) => ({ key: `mlp-${threads}`, name: `MLP 784-1024-1024-10, train() with default checkpoints, ${threads} thread${threads > 1 ? 's' : ''}`, args: true })),
  { key: 'checkpoint-cost', name: 'MLP 784-1024-1024-10 checkpoint (Adam state): training thread', args: true },
];

/**
 * Median µs per step of a command, by difference of interleaved 202- and 2-epoch runs: 3,000 steps apart, so
 * that a start-up's jitter (tens of milliseconds on a shared machine) moves the figure by a few µs, not 50.
 */
function measureCommandSteps(command: string, name: string): Result {
  const cli = fileURLToPath(new URL('../src/cli/onnx-finetune.mjs', import.meta.url));
  // The process's peak RSS and its CPU time (all threads): CPU time by difference is the steadier figure on a shared machine.
  const reportRss = 'data:text/javascript,process.on("exit",()=>{const u=process.cpuUsage();process.stderr.write("\\npeak_rss_kb="+process.resourceUsage().maxRSS+" cpu_us="+(u.user+u.system)+"\\n")})';
  let peakKb = 0;
  const run = (epochs: number) => {
    const out = mkdtempSync(join(tmpdir(), 'onnx-finetune-bench-'));
    try {
      const t0 = process.hrtime.bigint();
      const child = spawnSync(process.execPath, ['--import', reportRss, cli, command, '--epochs', String(epochs), '--json', '--out', join(out, 'run')], { encoding: 'utf8' });
      const us = Number(process.hrtime.bigint() - t0) / 1e3;
      if (child.status !== 0) throw new Error(child.stderr.trim().split('\n')[0]);
      peakKb = Math.max(peakKb, Number(/peak_rss_kb=(\d+)/.exec(child.stderr)?.[1] ?? 0));
      return { us, cpu: Number(/cpu_us=(\d+)/.exec(child.stderr)?.[1] ?? NaN) };
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  };
  try {
    const differences: number[] = [], cpu: number[] = [];
    for (let r = 0; r < CLI_REPEATS; r++) {
      const [long, short] = [run(COMMAND_LONG_EPOCHS), run(2)];
      differences.push((long.us - short.us) / ((COMMAND_LONG_EPOCHS - 2) * SEED_STEPS_PER_EPOCH));
      cpu.push((long.cpu - short.cpu) / ((COMMAND_LONG_EPOCHS - 2) * SEED_STEPS_PER_EPOCH));
    }
    differences.sort((a, b) => a - b);
    cpu.sort((a, b) => a - b);
    return { workload: name, batch: 64, threads: 1, median_us: differences[Math.floor(differences.length / 2)], min_us: differences[0], max_us: differences[differences.length - 1], samples_per_s: 64e6 / differences[Math.floor(differences.length / 2)], peak_rss_mb: peakKb / 1024, note: `${CLI_REPEATS} interleaved pairs`, cpu_us: cpu[Math.floor(cpu.length / 2)] };
  } catch (e) {
    return { workload: name, error: (e as Error).message };
  }
}

async function checkpointRow(key: string): Promise<Result> {
  const row = CHECKPOINT_ROWS.find((r) => r.key === key)!;
  try {
    if (key === 'checkpoint-cost') return await measureCheckpointCost(row.name);
    return await measureMlpWithCheckpoints(Number(key.slice('mlp-'.length)), row.name);
  } catch (e) {
    return { workload: row.name, error: (e as Error).message };
  }
}

const MLP_BATCH = 256;

function mlpData(batches: number): Dataset {
  const rng = new Rng(3);
  const rows = MLP_BATCH * batches;
  return { source: 'generated', count: rows, inputs: { x: { shape: [784], values: Float32Array.from({ length: rows * 784 }, () => rng.normal()) } }, labels: Float64Array.from({ length: rows }, () => rng.int(10)) };
}

/**
 * train() of the MLP as the command runs it: checkpoints through its files (writer thread), one a minute and
 * at each stage's end; per step by difference of interleaved 4- and 1-epoch runs (building the graphs,
 * sessions, the test set and the last checkpoint are in both).
 */
async function measureMlpWithCheckpoints(threads: number, name: string): Promise<Result> {
  const { RunCheckpoints } = await import('../src/cli/checkpoint-files.js');
  const { checkpointPieces } = await import('../src/checkpoint/checkpoint.js');
  const { train } = await import('../src/train/trainer.js');
  const model = mlpModel();
  const batches = 8;
  const data = { train: mlpData(batches), test: mlpData(1) };
  const config: TrainConfig = { ...digitsConfig, threads, batchSize: MLP_BATCH, snapshotEvery: { seconds: 60 } };
  const identity = { strategy: 'full_fine_tune', plan: [], settings: {}, model: '', data: '' };
  const run = async (epochs: number) => {
    const dir = mkdtempSync(join(tmpdir(), 'onnx-finetune-bench-'));
    const checkpoints = new RunCheckpoints(dir);
    const onSnapshot = (s: RunSnapshot) => checkpoints.write('full_fine_tune', s.steps, checkpointPieces(model, s, identity), 1);
    const t0 = process.hrtime.bigint();
    await train(model, fullFineTune({ lr: 1e-3, epochs }), data, { ...config, onSnapshot });
    await checkpoints.close();
    const us = Number(process.hrtime.bigint() - t0) / 1e3;
    rmSync(dir, { recursive: true, force: true });
    return us;
  };
  await run(1); // warm-up: pages, code, the threads' first start
  const samples: number[] = [];
  for (let r = 0; r < 3; r++) samples.push((await run(4) - await run(1)) / (3 * batches));
  samples.sort((a, b) => a - b);
  const median = samples[Math.floor(samples.length / 2)];
  return { workload: name, batch: MLP_BATCH, threads, median_us: median, min_us: samples[0], max_us: samples[samples.length - 1], samples_per_s: (MLP_BATCH * 1e6) / median, gflops: mlpFlops(MLP_BATCH) / (median * 1e3),
    peak_rss_mb: process.resourceUsage().maxRSS / 1024, note: 'by difference of 4- and 1-epoch train() runs, 3 pairs' };
}

/**
 * What one checkpoint of the MLP with Adam's state costs the training thread: the snapshot's copy (as
 * trainer.ts makes it) and the encoding and queueing (as train-runs.ts does); and, apart, the writer
 * thread's time to hash, write and fsync it.
 */
async function measureCheckpointCost(name: string): Promise<Result> {
  const { RunCheckpoints } = await import('../src/cli/checkpoint-files.js');
  const { checkpointPieces } = await import('../src/checkpoint/checkpoint.js');
  const { snapshotCopy } = await import('../src/runtime/snapshot-arrays.js');
  const model = mlpModel();
  const parameters = initialParameters(model);
  const rng = new Rng(5);
  const moments = new Map([...parameters].map(([k, v]) => [k, { step: 7, expAvg: v.map(() => rng.normal() * 1e-3), expAvgSq: v.map(() => rng.next() * 1e-6) }]));
  const order = Int32Array.from({ length: 60_000 }, (_, i) => i);
  const dir = mkdtempSync(join(tmpdir(), 'onnx-finetune-bench-'));
  const checkpoints = new RunCheckpoints(dir);
  const identity = { strategy: 'full_fine_tune', plan: [], settings: {}, model: '', data: '' };
  const training: number[] = [], writing: number[] = [];
  let bytes = 0;
  for (let r = 0; r < REPEATS + 2; r++) {
    const t0 = process.hrtime.bigint();
    const snapshot: RunSnapshot = {
      strategy: 'full_fine_tune', stage: 0, epoch: 0, batch: r + 1, steps: r + 1, epochLosses: [], validation: [], epochLossSum: 0, epochBatches: r + 1, skippedBatches: 0, rngState: 1, dropoutRngState: 2,
      order: snapshotCopy(order), parameters: new Map([...parameters].map(([k, v]) => [k, snapshotCopy(v)])), buffers: new Map(),
      optimizerState: new Map([...moments].map(([k, m]) => [k, { step: m.step, expAvg: snapshotCopy(m.expAvg), expAvgSq: snapshotCopy(m.expAvgSq) }])),
    };
    const pieces = checkpointPieces(model, snapshot, identity);
    bytes = pieces.pieces.reduce((n, p) => n + p.length, 0);
    checkpoints.write('full_fine_tune', r + 1, pieces, 1);
    const t1 = process.hrtime.bigint();
    await checkpoints.settle();
    // The first two start the writer thread and fill the buffers recycled after.
    if (r >= 2) {
      training.push(Number(t1 - t0) / 1e3);
      writing.push(Number(process.hrtime.bigint() - t1) / 1e3);
    }
  }
  await checkpoints.close();
  rmSync(dir, { recursive: true, force: true });
  const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
  training.sort((a, b) => a - b);
  return { workload: name, median_us: median(training), min_us: training[0], max_us: training[training.length - 1], peak_rss_mb: process.resourceUsage().maxRSS / 1024,
    note: `${(bytes / 2 ** 20).toFixed(1)} MiB; writer thread (SHA-256, write, fsync) ${(median(writing) / 1e3).toFixed(0)} ms` };
}

// Each workload runs in a child process of its own, so its peak RSS is its own.
const workloadArg = process.argv.indexOf('--workload');
const checkpointRowArg = process.argv.indexOf('--checkpoint-row');
const csvLoadArg = process.argv.indexOf('--csv-load');
if (csvLoadArg >= 0) {
  console.log(JSON.stringify(loadCsv(process.argv[csvLoadArg + 1])));
} else if (process.argv.includes('--floor')) {
  console.log(JSON.stringify(await onnxRuntimeFloor()));
} else if (process.argv.includes('--images')) {
  const [threads, dir] = process.argv.slice(process.argv.indexOf('--images') + 1);
  console.log(JSON.stringify(await measureImages(Number(threads), dir).catch((e: Error) => ({ workload: IMAGES_ROW(Number(threads)), error: e.message }))));
} else if (process.argv.includes('--browser')) {
  // The browser block alone (scripts/bench-browser.ts).
  for (const r of await benchBrowser()) report(r as Result);
} else if (checkpointRowArg >= 0) {
  console.log(JSON.stringify(await checkpointRow(process.argv[checkpointRowArg + 1])));
} else if (workloadArg >= 0) {
  const w = workloads[Number(process.argv[workloadArg + 1])];
  const r = await measure(w).catch((e: Error) => ({ workload: w.name, error: e.message }));
  console.log(JSON.stringify(r));
} else {
  await runAll();
}

/** Every workload, each followed by its PyTorch counterpart; then the image rows, compare, CSV load, floor and the targets. */
async function runAll(): Promise<void> {
  const rounds = Math.max(1, Number(argValue('--rounds') ?? 1));
  const only = argValue('--only');
  const { python, why } = findPython(process.argv, process.env);
  let pytorch: PyTorchSide | undefined;
  let pytorchWhy = why;
  if (python) {
    pytorch = await PyTorchSide.start(python).catch((e: Error) => {
      pytorchWhy = `PyTorch side did not start: ${e.message}`;
      return undefined;
    });
  }
  if (!json) {
    console.log(`onnx-finetune bench — node ${process.version}, ${process.platform}/${process.arch}, median of ${REPEATS} timed runs of ~${TARGET_REPEAT_MS} ms after warm-up` +
      `${rounds > 1 ? `, median of ${rounds} rounds` : ''}`);
    console.log(`${pytorchWhy}${pytorch ? ': each workload is followed by PyTorch eager on the same workload (→ PyTorch)' : ''}\n`);
  }
  const ours = new Map<string, Measured>(), theirs = new Map<string, Measured>();
  const asked = new Set<string>();
  const pair = async (name: string, measureOurs: () => Result | Promise<Result>, pytorchRows: string[]) => {
    const mine: Result[] = [], other = new Map<string, PyTorchResult[]>();
    for (let r = 0; r < rounds; r++) {
      mine.push(await measureOurs());
      for (const row of pytorch ? pytorchRows : []) {
        asked.add(row);
        other.set(row, [...(other.get(row) ?? []), await pytorch!.measure(row)]);
      }
    }
    const result = medianOf(mine);
    ours.set(name, result);
    report(result);
    for (const [row, results] of other) {
      const t = medianOf(results);
      theirs.set(row, t);
      reportPyTorch(t, row === pytorchRows[0] ? result : undefined);
    }
  };
  for (const [i, w] of workloads.entries()) {
    if (only && !w.name.includes(only)) continue;
    await pair(w.name, () => runChild(['--workload', String(i)], w.name), [w.name, ...extraPyTorchRows(w.name)]);
  }
  if (!only) {
    const images = await benchImageFolder();
    for (const threads of [1, 2]) {
      await pair(IMAGES_ROW(threads), () => runChild(['--images', String(threads), images], IMAGES_ROW(threads)), [`--images ${threads}`]);
    }
  }
  // Checkpoints, Adam threads and steps as a user runs them (perf-ckpt's rows).
  for (const row of CHECKPOINT_ROWS) {
    if (only && !row.name.includes(only)) continue;
    await pair(row.name, () => (row.args ? runChild(['--checkpoint-row', row.key], row.name) : row.measure!()), extraPyTorchRows(row.name));
  }
  if (!only || COMPARE_ROW.includes(only)) {
    const [compare, notebook] = measureCompare(python);
    ours.set(COMPARE_ROW, compare);
    report(compare);
    if (notebook) {
      theirs.set(NOTEBOOK_ROW, notebook);
      reportPyTorch(notebook, compare);
    }
  }
  if (!only) {
    report(measureCsvLoad());
    report(runChild(['--floor'], FLOOR));
    // The seed and digits CNN steps in headless Chromium (bench-browser.ts), interleaved with Node's.
    for (const r of await benchBrowser()) report(r as Result);
  }
  // PyTorch rows of the targets whose own workload did not run under its expected name.
  for (const row of TARGETS.map((t) => t.pytorch).filter((r): r is string => !!r && r !== NOTEBOOK_ROW && !asked.has(r))) {
    if (!pytorch || (only && !row.includes(only))) continue;
    const t = await pytorch.measure(row);
    theirs.set(row, t);
    reportPyTorch(t);
  }
  pytorch?.close();
  if (json) return;
  console.log('\nTargets (issue 14):\n');
  for (const line of targetTable(ours, theirs, pytorch !== undefined)) console.log(line);
  console.log('');
  for (const line of TARGET_NOTES) console.log(line);
}

function argValue(flag: string): string | undefined {
  const at = process.argv.indexOf(flag);
  return at >= 0 ? process.argv[at + 1] : undefined;
}

/** The result whose median is the median of the rounds' (the first where there is an error). */
function medianOf<T extends { median_us?: number; error?: string }>(results: T[]): T {
  const failed = results.find((r) => r.error !== undefined || r.median_us === undefined);
  if (failed) return failed;
  return [...results].sort((a, b) => a.median_us! - b.median_us!)[Math.floor((results.length - 1) / 2)];
}

function runChild(args: string[], name: string): Result {
  const child = spawnSync(process.execPath, [fileURLToPath(import.meta.url), ...args], { encoding: 'utf8' });
  const line = child.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as Result;
  } catch {
    return { workload: name, error: (child.stderr || line || `exit ${child.status}`).trim().split('\n')[0] };
  }
}

// The whole `onnx-finetune compare` process, start to exit, as a user runs it; a preloaded hook reports
// the process's own peak RSS as it exits. With a Python, each run is followed by one of the seed notebook's job
// as a Python process (bench-pytorch.py --notebook), the two interleaved.
function measureCompare(python: string | undefined): [Result, Result | undefined] {
  const cli = fileURLToPath(new URL('../src/cli/onnx-finetune.mjs', import.meta.url));
  // The process's peak RSS and its CPU time (all threads): CPU time by difference is the steadier figure on a shared machine.
  const reportRss = 'data:text/javascript,process.on("exit",()=>{const u=process.cpuUsage();process.stderr.write("\\npeak_rss_kb="+process.resourceUsage().maxRSS+" cpu_us="+(u.user+u.system)+"\\n")})';
  const samples: number[] = [], notebook: number[] = [];
  let peakKb = 0, notebookError: string | undefined;
  for (let r = 0; r < COMPARE_REPEATS; r++) {
    const out = mkdtempSync(join(tmpdir(), 'onnx-finetune-bench-'));
    const t0 = process.hrtime.bigint();
    // --no-lora: the notebook's three strategies, the same work as the notebook's process.
    const child = spawnSync(process.execPath, ['--import', reportRss, cli, 'compare', '--no-lora', '--out', out], { encoding: 'utf8' });
    samples.push(Number(process.hrtime.bigint() - t0) / 1e3);
    rmSync(out, { recursive: true, force: true });
    if (child.status !== 0) return [{ workload: COMPARE_ROW, error: child.stderr.trim().split('\n')[0] }, undefined];
    peakKb = Math.max(peakKb, Number(/peak_rss_kb=(\d+)/.exec(child.stderr)?.[1] ?? 0));
    if (python && notebookError === undefined) {
      const run = timeNotebookProcess(python);
      if (run.us !== undefined) notebook.push(run.us);
      else notebookError = run.error;
    }
  }
  const summary = (name: string, values: number[]) => {
    values.sort((a, b) => a - b);
    return { workload: name, median_us: values[Math.floor(values.length / 2)], min_us: values[0], max_us: values[values.length - 1] };
  };
  const ours: Result = { ...summary(COMPARE_ROW, samples), peak_rss_mb: peakKb / 1024 };
  if (!python) return [ours, undefined];
  return [ours, notebookError !== undefined ? { workload: NOTEBOOK_ROW, error: notebookError } : summary(NOTEBOOK_ROW, notebook)];
}

/** A CSV file like a user's: 10 features printed as float32 values, a 0/1 label; written in 1 MiB pieces. */
function writeBenchCsv(path: string): void {
  const fd = openSync(path, 'w');
  const rng = new Rng(11);
  let text = `${Array.from({ length: 10 }, (_, c) => `x${c}`).join(',')},y\n`;
  for (let r = 0; r < CSV_ROWS; r++) {
    for (let c = 0; c < 10; c++) text += `${Math.fround(rng.next() * 4 - 2)},`;
    text += rng.next() < 0.5 ? '0\n' : '1\n';
    if (text.length > 1 << 20) {
      writeSync(fd, text);
      text = '';
    }
  }
  writeSync(fd, text);
  closeSync(fd);
}

/** Loading the generated CSV file in a child process of its own: rows/s and the child's peak RSS, median of 3. */
function measureCsvLoad(): Result {
  const dir = mkdtempSync(join(tmpdir(), 'onnx-finetune-bench-csv-'));
  try {
    const path = join(dir, 'rows.csv');
    writeBenchCsv(path);
    const runs = Array.from({ length: 3 }, () => runChild(['--csv-load', path], CSV_LOAD));
    const failed = runs.find((r) => r.error !== undefined);
    if (failed) return failed;
    runs.sort((a, b) => a.median_us! - b.median_us!);
    const times = runs.map((r) => r.median_us!);
    return { ...runs[1], min_us: times[0], max_us: times[2], peak_rss_mb: Math.max(...runs.map((r) => r.peak_rss_mb!)) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function loadCsv(path: string): Result {
  const t0 = process.hrtime.bigint();
  const data = readCsvDataset(path);
  const us = Number(process.hrtime.bigint() - t0) / 1e3;
  return { workload: CSV_LOAD, median_us: us, min_us: us, max_us: us, samples_per_s: (data.count * 1e6) / us, peak_rss_mb: process.resourceUsage().maxRSS / 1024, note: 'samples/s = rows/s' };
}

/**
 * What a session.run costs here before any arithmetic: one run of a one-node graph, and each further node.
 * Small models' steps are mostly this (the seed's full fine-tune graph has 31 nodes), and this VM's speed
 * drifts, so the floor measured beside the workloads says how fast the machine was.
 */
async function onnxRuntimeFloor(): Promise<Result> {
  const run = async (nodes: number) => {
    const chain = Array.from({ length: nodes }, (_, k) => makeNode('Add', [k === 0 ? 'x' : `t${k - 1}`, 'x'], [`t${k}`]));
    const graph = makeGraph(chain, 'floor', [makeValueInfo('x', DataType.FLOAT, [64, 32])], [makeValueInfo(`t${nodes - 1}`, DataType.FLOAT, [64, 32])]);
    const session = await createStepSession(makeModel(graph), { threads: 1 });
    const feeds = { x: new ort.Tensor('float32', new Float32Array(64 * 32), [64, 32]) };
    for (let i = 0; i < 2000; i++) session.run(feeds);
    const samples: number[] = [];
    for (let r = 0; r < REPEATS; r++) {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < 1000; i++) session.run(feeds);
      samples.push(Number(process.hrtime.bigint() - t0) / 1e3 / 1000);
    }
    await session.release();
    return samples.sort((a, b) => a - b)[Math.floor(samples.length / 2)];
  };
  const one = await run(1), many = await run(41);
  return { workload: FLOOR, median_us: one, per_node_us: (many - one) / 40, peak_rss_mb: process.resourceUsage().maxRSS / 1024 };
}

/** A PyTorch row, under ours: `ours` where it is the same workload's counterpart (then the ratio follows), else its own name. */
function reportPyTorch(r: PyTorchResult | Result, ours?: Result): void {
  if (json) return console.log(JSON.stringify({ side: 'pytorch', ...r }));
  const label = (ours ? '  → PyTorch' : `  → PyTorch: ${r.workload}`).padEnd(52);
  if (r.error !== undefined) return console.log(`${label} ${r.error}`);
  if ('images_per_s' in r && r.images_per_s !== undefined) {
    const ratio = ours?.samples_per_s ? `  onnx-finetune at ${(ours.samples_per_s / r.images_per_s).toFixed(2)}× its speed` : '';
    return console.log(`${label}             ${Math.round(r.images_per_s).toLocaleString('en-US').padStart(8)} images/s${ratio}`);
  }
  const ms = r.median_us! >= 10_000;
  const time = (us: number) => (ms ? `${(us / 1e3).toFixed(1)}` : us.toFixed(1));
  const ratio = ours?.median_us ? `  onnx-finetune at ${(r.median_us! / ours.median_us).toFixed(2)}× its speed` : '';
  const cpu = r.cpu_us ? `  CPU ${time(r.cpu_us)} ${ms ? 'ms' : 'µs'}` : '';
  console.log(`${label}             ${time(r.median_us!).padStart(8)} ${(ms ? 'ms' : 'µs').padEnd(7)} (min ${time(r.min_us!)}, max ${time(r.max_us!)})${ratio}${cpu}${r.note ? `  [${r.note}]` : ''}`);
}

function report(r: Result): void {
  if (json) return console.log(JSON.stringify(r));
  if (r.per_node_us !== undefined) return console.log(`${r.workload.padEnd(52)}   one node ${r.median_us!.toFixed(1)} µs/run, each further node ${r.per_node_us.toFixed(2)} µs`);
  if (r.error !== undefined) return console.log(`${r.workload.padEnd(52)} not measured: ${r.error}`);
  const ms = r.median_us! >= 10_000;
  const time = (us: number) => (ms ? `${(us / 1e3).toFixed(1)}` : us.toFixed(1));
  const unit = ms ? 'ms' : 'µs';
  const per = r.batch ? `${unit}/step` : unit;
  console.log(`${r.workload.padEnd(52)} ${r.batch ? `batch ${String(r.batch).padStart(4)}` : '          '}  ${time(r.median_us!).padStart(8)} ${per.padEnd(7)} (min ${time(r.min_us!)}, max ${time(r.max_us!)})` +
    `${r.samples_per_s ? `  ${Math.round(r.samples_per_s).toLocaleString('en-US').padStart(9)} ${r.unit ?? 'samples'}/s` : ''}${r.gflops ? `  ${r.gflops.toFixed(1)} GFLOP/s` : ''}${r.peak_rss_mb !== undefined ? `  peak RSS ${r.peak_rss_mb.toFixed(0)} MB` : ''}` +
    `${r.cpu_us ? `  CPU ${time(r.cpu_us)} ${unit}` : ''}${r.note ? `  [${r.note}]` : ''}`);
}

