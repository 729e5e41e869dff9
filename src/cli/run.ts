// One command from parsed options: read and check everything, train each plan with the library's train(),
// then write the outputs and print. No training logic lives here; the commands only build plans and a config.
import { readFileSync, statSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { matchParameters, resolveGroups } from '../optim/groups.js';
import { LOSSES, lossForHead, type Loss, type LossName } from '../losses/index.js';
import { checkPlan, checkResume, DEFAULT_TRAIN_CONFIG, type TrainConfig, type TrainResult } from '../train/trainer.js';
import { claimFolder } from './run-folder.js';
import { RunCheckpoints } from './checkpoint-files.js';
import { resumePoint, runIdentity, trainRuns } from './train-runs.js';
import { fullFineTune, linearProbe, NOTEBOOK_DEFAULTS, partialUnfreeze, STRATEGIES, type Plan, type StrategyKey } from '../train/strategies.js';
import { UserError } from '../errors.js';
import { defaultThreads } from '../runtime/session.js';
import { parameterCount } from '../model/describe.js';
import { exporterNamesWarning } from '../model/parameter-roles.js';
import { withDataMetadata } from '../export/data-metadata.js';
import { COMMON_OPTIONS, STRATEGY_OPTIONS, readBatchNorm, readDevice, readLoss, readNumber, readOnNonFinite, readOptimizer, readString, type Argv } from './options.js';
import { checkModelRuns, loadInputs, type Inputs } from './inputs.js';
import { earlierResults, outputFolder, modelFile, writeOutputs, type OutputFolder } from './outputs.js';
import { humanSummary, notebookDict, reportJson, runRecord, type RunRecord } from './report.js';

export type CommandKey = StrategyKey | 'compare';

/** Command names on the command line. */
export const COMMANDS: Record<CommandKey, string> = {
  linear_probe: 'linear-probe',
  partial_unfreeze: 'partial-unfreeze',
  full_fine_tune: 'full-finetune',
  compare: 'compare',
};

export const VERSION: string = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')).version;

/** The plans a command runs, from its options; the option globs each plan uses, to check against the model. */
function plansFor(command: CommandKey, argv: Argv): { plans: Plan[]; globs: Record<string, string> } {
  const head = readString(argv, 'head')!;
  const num = (name: string) => readNumber(argv, name, STRATEGY_OPTIONS[command]);
  switch (command) {
    case 'linear_probe':
      return { plans: [linearProbe({ lr: num('lr'), epochs: num('epochs'), head })], globs: { head } };
    case 'partial_unfreeze': {
      const unfreeze = readString(argv, 'unfreeze')!;
      const plan = partialUnfreeze({ headLr: num('head-lr'), headEpochs: num('head-epochs'), unfreeze, backboneLr: num('backbone-lr'), epochs: num('epochs'), head });
      return { plans: [plan], globs: { head, unfreeze } };
    }
    case 'full_fine_tune':
      return { plans: [fullFineTune({ lr: num('lr'), epochs: num('epochs') })], globs: {} };
    case 'compare': {
      const unfreeze = readString(argv, 'unfreeze')!;
      return {
        plans: [
          linearProbe({ ...NOTEBOOK_DEFAULTS.linear_probe, head }),
          partialUnfreeze({ ...NOTEBOOK_DEFAULTS.partial_unfreeze, unfreeze, head }),
          fullFineTune(NOTEBOOK_DEFAULTS.full_fine_tune),
        ],
        globs: { head, unfreeze },
      };
    }
  }
}

/** Every glob must select a parameter and every stage's groups must resolve, before anything trains. */
function checkPlans(plans: Plan[], globs: Record<string, string>, inputs: Inputs): void {
  const names = inputs.summary.parameters.map((p) => p.name);
  for (const [option, glob] of Object.entries(globs)) {
    if (matchParameters(glob, names).length === 0) {
      throw new UserError(`--${option} '${glob}' matches no parameter of ${inputs.sources.model} (parameters: ${names.join(', ')})`);
    }
  }
  if (globs.head !== undefined && globs.unfreeze !== undefined) {
    const head = new Set(matchParameters(globs.head, names));
    const both = matchParameters(globs.unfreeze, names).filter((n) => head.has(n));
    if (both.length > 0) throw new UserError(`--unfreeze '${globs.unfreeze}' also selects the head's ${both.join(', ')} (already selected by --head '${globs.head}')`);
  }
  for (const plan of plans) for (const stage of plan.stages) resolveGroups(stage.groups, names);
}

/** The loss follows from the head unless --loss says otherwise; bce and mse take one label per logit. */
function chooseLoss(name: LossName | undefined, logitCount: number): Loss {
  if (name === undefined) return lossForHead(logitCount);
  if (name !== 'ce' && logitCount !== 1) throw new UserError(`--loss ${name} needs a model with one logit (the CSV has one label column); this model has ${logitCount}`);
  return LOSSES[name];
}

function reportSettings(config: TrainConfig) {
  return {
    loss: config.loss.name, optimizer: config.optimizer, weight_decay: config.weightDecay, batch_size: config.batchSize, test_batch_size: config.testBatchSize,
    shuffle: config.shuffle, seed: config.seed, device: config.device, threads: config.threads, on_nonfinite: config.onNonFinite,
    batch_norm: config.batchNorm,
  };
}

export interface CommandIo {
  stdout: NodeJS.WritableStream;
  /** Whether to draw progress bars on stderr. */
  progress: boolean;
}

export async function runCommand(command: CommandKey, argv: Argv, io: CommandIo): Promise<void> {
  const json = argv.json === true;
  const { plans, globs } = plansFor(command, argv);
  const common = (name: string) => readNumber(argv, name, COMMON_OPTIONS);
  const settings = {
    optimizer: readOptimizer(argv),
    // PyTorch's defaults: AdamW decays by 0.01, Adam and SGD not at all.
    weightDecay: argv['weight-decay'] !== undefined ? common('weight-decay') : readOptimizer(argv) === 'adamw' ? 0.01 : 0,
    batchSize: common('batch-size'),
    shuffle: argv.shuffle !== false,
    seed: common('seed'),
    device: readDevice(argv),
    batchNorm: readBatchNorm(argv),
  };
  const threads = argv.threads === undefined ? undefined : common('threads');
  const resumeDir = readString(argv, 'resume');
  const out = readString(argv, 'out');
  const overwrite = argv.overwrite === true;
  if (resumeDir !== undefined && out !== undefined && resolve(out) !== resolve(resumeDir)) throw new UserError(`--resume ${resumeDir} continues the run in that folder; --out ${out} would name another`);
  if (resumeDir !== undefined && overwrite) throw new UserError('--resume continues the run in its folder and --overwrite replaces it: give one of them');
  if (resumeDir !== undefined && !statSync(resumeDir, { throwIfNoEntry: false })?.isDirectory()) throw new UserError(`--resume ${resumeDir}: no such folder`);
  const folder = outputFolder(resumeDir ?? out, command);
  const checkpointEvery = argv['checkpoint-every'] === undefined ? undefined : common('checkpoint-every');
  const keep = common('keep-checkpoints');
  const inputs = loadInputs(argv, settings.seed);
  await checkModelRuns(inputs, settings.device);
  checkPlans(plans, globs, inputs);
  const config: TrainConfig = {
    ...DEFAULT_TRAIN_CONFIG, ...settings, threads: threads ?? defaultThreads(parameterCount(inputs.summary.parameters)),
    loss: chooseLoss(readLoss(argv), inputs.logitCount), onNonFinite: readOnNonFinite(argv), snapshotEvery: checkpointEvery,
  };
  for (const plan of plans) checkPlan(inputs.model, plan, config);
  const runs = plans.map((plan) => ({ plan, identity: runIdentity(plan, config, inputs) }));

  const warning = exporterNamesWarning(inputs.model, inputs.sources.model);
  if (warning) process.stderr.write(`warning: ${warning}\n`);
  // Everything in the folder is read under its lock: another run cannot prune a checkpoint in between.
  const claimed = claimFolder(folder);
  if (claimed.note) process.stderr.write(`onnx-finetune: ${claimed.note}\n`);
  let records: RunRecord[], results: TrainResult[];
  try {
    const target: OutputFolder = { dir: claimed.dir, given: folder.given };
    const checkpoints = new RunCheckpoints(claimed.dir);
    const earlier = [...earlierResults(target), ...STRATEGIES.flatMap((s) => checkpoints.list(s))];
    if (resumeDir === undefined && earlier.length > 0 && !overwrite) {
      throw new UserError(`--out ${claimed.dir} holds an earlier run (${relative(claimed.dir, earlier[0])}${earlier.length > 1 ? ` and ${earlier.length - 1} more` : ''}); continue it with --resume ${claimed.dir}, or replace it with --overwrite`);
    }
    if (overwrite) {
      for (const s of STRATEGIES) {
        checkpoints.adopt(s);
        checkpoints.drop(s);
      }
    }
    for (const { plan } of runs) checkpoints.adopt(plan.strategy);
    const resumes = resumeDir === undefined ? [] : runs.map(({ identity }) => resumePoint(checkpoints, identity));
    if (resumeDir !== undefined && resumes.every((r) => r === undefined)) throw new UserError(`--resume ${resumeDir}: no checkpoints of this command there`);
    resumes.forEach((snapshot, i) => snapshot && checkResume(inputs.model, plans[i], inputs.data.train, config, snapshot));
    results = await trainRuns(runs, resumes, inputs, config, { dir: claimed.dir, checkpoints, lock: claimed.lock, keep, progress: io.progress && !json });
    records = results.map((r) => runRecord(r, modelFile(target, r.strategy)));
    writeOutputs(target, results.map((r, i) => ({ key: r.strategy, model: withDataMetadata(r.model, inputs.data.train), report: reportJson(records[i], r, plans[i], reportSettings(config), inputs.sources, VERSION, inputs.data.train.classNames) })),
      { lock: claimed.lock, replaced: overwrite ? earlierResults(target) : [] });
    for (const plan of plans) checkpoints.drop(plan.strategy);
  } finally {
    claimed.release();
  }

  if (json) {
    const value = command === 'compare' ? Object.fromEntries(records.map((r) => [r.strategy, r])) : records[0];
    io.stdout.write(JSON.stringify(value) + '\n');
    return;
  }
  io.stdout.write(humanSummary(records, results, claimed.dir, inputs.description));
  if (command === 'compare') io.stdout.write(notebookDict(records) + '\n');
}
