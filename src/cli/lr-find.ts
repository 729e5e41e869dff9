// onnx-finetune lr-find: the learning-rate finder (src/train/lr-find.ts) from the command line. It reads the
// model and data as the train commands do, runs the short rising-rate run on a copy of the parameters, prints
// the suggested rate and writes the curve as lr_find.csv and lr_find.json into --out.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../errors.js';
import { writeFileAtomic } from '../runtime/files.js';
import { defaultThreads } from '../runtime/session.js';
import { parameterCount } from '../model/describe.js';
import { LOSSES, lossForHead, type Loss } from '../losses/index.js';
import { crossEntropyLoss } from '../losses/cross-entropy.js';
import { matchParameters } from '../optim/groups.js';
import { DEFAULT_TRAIN_CONFIG, type TrainConfig } from '../train/trainer.js';
import { findLearningRate, type LrFindResult } from '../train/lr-find.js';
import { withRecipe } from '../train/stage-recipe.js';
import type { Plan } from '../train/strategies.js';
import { COMMON_OPTIONS, LR_FIND_OPTIONS, readBatchNorm, readDevice, readLoss, readNumber, readOptimizer, readRecipe, readString, type Argv } from './options.js';
import { checkModelRuns, loadInputs } from './inputs.js';
import { outputFolder } from './outputs.js';

export const LR_FIND_COMMAND = 'lr-find';
export const LR_FIND_DESCRIPTION = "find a learning rate: a short run with the rate rising exponentially, the loss per rate, and a suggestion (steepest descent of the smoothed loss, Lightning's rule)";
const FILES = { csv: 'lr_find.csv', json: 'lr_find.json' };

export async function runLrFind(argv: Argv, io: { stdout: NodeJS.WritableStream }): Promise<void> {
  const common = (name: string) => readNumber(argv, name, COMMON_OPTIONS);
  const own = (name: string) => readNumber(argv, name, LR_FIND_OPTIONS);
  for (const option of ['schedule', 'warmup', 'accumulate', 'lr-decay', 'resume', 'val', 'val-split']) {
    if (argv[option] !== undefined) throw new UserError(`lr-find: --${option} does not apply (the finder sets the rate of every parameter itself, one batch a step)`);
  }
  const { recipe, labelSmoothing } = readRecipe(argv, readString(argv, 'head')!);
  const optimizer = readOptimizer(argv);
  const seed = common('seed');
  const options = { startLr: own('start-lr'), endLr: own('end-lr'), steps: own('steps') };
  const trainable = readString(argv, 'trainable')!;
  const folder = outputFolder(readString(argv, 'out'), 'lr-find');
  if (!argv.overwrite && Object.values(FILES).some((f) => existsSync(join(folder.dir, f)))) {
    throw new UserError(`--out ${folder.dir} holds an earlier lr-find curve; replace it with --overwrite`);
  }
  // The finder reads no test set: without --test, the training data stands in for the reader's sake.
  const inputs = loadInputs(argv.test === undefined && argv.train !== undefined ? { ...argv, test: argv.train, 'test-labels': argv['train-labels'] } : argv, seed);
  const device = readDevice(argv);
  await checkModelRuns(inputs, device);
  const names = inputs.summary.parameters.map((p) => p.name);
  if (matchParameters(trainable, names).length === 0) throw new UserError(`--trainable '${trainable}' matches no parameter of ${inputs.sources.model} (parameters: ${names.join(', ')})`);
  const plan: Plan = { strategy: 'full_fine_tune', stages: [{ name: 'lr-find', groups: [{ params: trainable, lr: options.startLr }], epochs: 1 }] };
  const stage = withRecipe(plan, names, { noDecay: recipe.noDecay, clipNorm: recipe.clipNorm }).stages[0];
  let loss: Loss = argv.loss === undefined ? lossForHead(inputs.logitCount) : LOSSES[readLoss(argv)!];
  if (labelSmoothing !== undefined) {
    if (loss.name !== 'ce') throw new UserError(`--label-smoothing applies to cross-entropy (several logits, or --loss ce); this run's loss is ${loss.name}`);
    loss = crossEntropyLoss(labelSmoothing);
  }
  const config: TrainConfig = {
    ...DEFAULT_TRAIN_CONFIG, loss, optimizer, seed, device, batchNorm: readBatchNorm(argv),
    weightDecay: argv['weight-decay'] !== undefined ? common('weight-decay') : optimizer === 'adamw' ? 0.01 : 0,
    batchSize: common('batch-size'), shuffle: argv.shuffle !== false,
    threads: argv.threads === undefined ? defaultThreads(parameterCount(inputs.summary.parameters)) : common('threads'),
  };
  const result = await findLearningRate(inputs.model, stage, inputs.data.train, config, options);
  mkdirSync(folder.dir, { recursive: true });
  const csv = join(folder.dir, FILES.csv), json = join(folder.dir, FILES.json);
  writeFileAtomic(csv, 'step,lr,loss,smoothed_loss\n', ...result.points.map((p) => `${p.step},${p.lr},${p.loss},${p.smoothedLoss}\n`));
  const record = {
    suggestion: result.suggestion ?? null, rule: "steepest descent of the smoothed loss (Lightning's: argmin of np.gradient, the first 10 and the last point left out)",
    stopped: result.stopped ?? null, start_lr: options.startLr, end_lr: options.endLr, steps: options.steps, trainable,
    points: result.points.map((p) => ({ step: p.step, lr: p.lr, loss: p.loss, smoothed_loss: p.smoothedLoss })),
  };
  writeFileAtomic(json, JSON.stringify(record, null, 1) + '\n');
  if (argv.json === true) {
    const { points: _points, ...summary } = record;
    io.stdout.write(JSON.stringify({ ...summary, csv, json }) + '\n');
    return;
  }
  io.stdout.write(summaryText(result, csv));
}

function summaryText(r: LrFindResult, csv: string): string {
  const last = r.points[r.points.length - 1];
  const ended = r.stopped === 'diverged' ? ', stopped where the smoothed loss passed 4x its best' : r.stopped === 'non-finite' ? ', stopped at a non-finite loss' : '';
  const suggestion = r.suggestion === undefined
    ? 'no suggestion: too few points before the loss diverged (lower --end-lr or raise --steps)'
    : `suggested learning rate: ${r.suggestion.toPrecision(3)} (steepest descent of the smoothed loss)`;
  return `${suggestion}\ncurve: ${csv} (${r.points.length} points, lr ${r.points[0]?.lr.toPrecision(3)} to ${last?.lr.toPrecision(3)}${ended})\n`;
}
