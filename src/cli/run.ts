// One command from parsed options: read and check everything, train each plan with the library's train(),
// then write the outputs and print. No training logic lives here; the commands only build plans and a config.
import { readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { matchParameters, resolveGroups } from '../optim/groups.js';
import { LOSSES, lossForHead, type Loss, type LossName } from '../losses/index.js';
import type { RunIdentity } from '../checkpoint/checkpoint.js';
import { checkPlan, checkResume, DEFAULT_TRAIN_CONFIG, type TrainConfig, type TrainResult } from '../train/trainer.js';
import { claimFolder } from './run-folder.js';
import { RunCheckpoints } from './checkpoint-files.js';
import { commandLine, resumePoint, runIdentity, strategyStart, trainRuns } from './train-runs.js';
import { fullFineTune, linearProbe, partialUnfreeze, RESULT_STRATEGIES, type Plan, type StrategyKey } from '../train/strategies.js';
import { UserError } from '../errors.js';
import { defaultThreads } from '../runtime/session.js';
import { parameterCount } from '../model/describe.js';
import { exporterNamesWarning } from '../model/parameter-roles.js';
import { withDataMetadata } from '../export/data-metadata.js';
import { withProvenance } from '../export/provenance.js';
import { probabilityOutputWarning } from '../model/output-activation.js';
import { COMMON_OPTIONS, COMPARE_LORA_NAMES, COMPARE_PREFIXES, STRATEGY_OPTIONS, readCheckpointEvery, readRecipe, readBatchNorm, readDevice, readLoss, readNumber, readOnNonFinite, readOptimizer, readSelection, readString, selectionSettings, type Argv } from './options.js';
import { readPlanFile } from '../plan/read-plan.js';
import { checkPlanAgainstModel } from '../plan/check-plan.js';
import { checkMonitor } from '../train/early-stopping.js';
import { crossEntropyLoss } from '../losses/cross-entropy.js';
import { withRecipe } from '../train/stage-recipe.js';
import { parametersInGraphOrder } from '../optim/layer-decay.js';
import { allLinearTargets } from '../lora/targets.js';
import { LORA_DEFAULTS, prepareLora, type LoraOptions, type LoraSetup } from '../lora/lora.js';
import { adapterFiles, readLoraOptions } from './lora.js';
import { describeModel } from '../model/describe.js';
import { elementCount } from '../onnx/tensor.js';
import type { ModelProto } from '../onnx/proto.js';
import { checkModelRuns, loadInputs, type Inputs } from './inputs.js';
import { withValidation } from './validation-data.js';
import { taskFor } from '../train/metrics.js';
import { earlierResults, outputFolder, modelFile, writeOutputs, type OutputFolder } from './outputs.js';
import { statusLine } from './progress.js';
import { humanSummary, reportJson, runRecord, type RunRecord } from './report.js';
import { notebookDict } from '../report/notebook-dict.js';
import { REPORT_HTML, RunReportFiles } from './report-files.js';
import { runInfo } from '../report/run-info.js';

export type CommandKey = StrategyKey | 'compare';
/** What runCommand runs: a built-in command, or `run <plan file>`. */
export type RunKey = CommandKey | 'run';

/** Command names on the command line. */
export const COMMANDS: Record<CommandKey, string> = {
  linear_probe: 'linear-probe',
  partial_unfreeze: 'partial-unfreeze',
  full_fine_tune: 'full-finetune',
  lora: 'lora',
  compare: 'compare',
};

export const VERSION: string = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')).version;

/**
 * The plans a command runs, from its options; the option globs each plan uses, to check against the model;
 * for a plan file, its own check against the model (errors naming the file's fields). LoRA's plan depends on
 * the model (its adapters): `lora` holds its options, and the plan is made once the model is read.
 */
export function plansFor(command: RunKey, argv: Argv): { plans: Plan[]; globs: Record<string, string>; planFile?: string; lora?: LoraOptions } {
  if (command === 'run') {
    const file = readString(argv, 'plan')!;
    return { plans: [readPlanFile(file)], globs: {}, planFile: file };
  }
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
    case 'lora':
      return { plans: [], globs: { head }, lora: readLoraOptions(argv, readNumber(argv, 'seed', COMMON_OPTIONS)) };
    case 'compare': {
      const unfreeze = readString(argv, 'unfreeze')!;
      const of = (key: keyof typeof COMPARE_PREFIXES) => (name: string) => num(`${COMPARE_PREFIXES[key]}-${name}`);
      const [probe, partial, full] = [of('linear_probe'), of('partial_unfreeze'), of('full_fine_tune')];
      return {
        plans: [
          linearProbe({ lr: probe('lr'), epochs: probe('epochs'), head }),
          partialUnfreeze({ headLr: partial('head-lr'), headEpochs: partial('head-epochs'), unfreeze, backboneLr: partial('backbone-lr'), epochs: partial('epochs'), head }),
          fullFineTune({ lr: full('lr'), epochs: full('epochs') }),
        ],
        globs: { head, unfreeze },
        lora: argv.lora === false ? withoutLora(argv) : readLoraOptions(argv, readNumber(argv, 'seed', COMMON_OPTIONS), (o) => COMPARE_LORA_NAMES[o] ?? o),
      };
    }
  }
}

/** --no-lora: compare's LoRA options (other than their defaults) would set a row it leaves out. */
function withoutLora(argv: Argv): undefined {
  const given = Object.values(COMPARE_LORA_NAMES).find((name) => argv[name] !== undefined && argv[name] !== (STRATEGY_OPTIONS.compare[name] as { default?: unknown }).default);
  if (given) throw new UserError(`--${given} sets compare's LoRA row, which --no-lora leaves out: give one of them`);
  return undefined;
}

/**
 * LoRA's setup on the model read, or none: compare adds its row only where the model has targets (by default
 * every Linear outside the head); the lora command and an explicit --lora-targets insist on theirs.
 */
function loraFor(command: CommandKey, options: LoraOptions | undefined, model: ModelProto): LoraSetup | undefined {
  if (!options) return undefined;
  if (command === 'compare' && options.targets === LORA_DEFAULTS.targets && allLinearTargets(model, options.head).length === 0) return undefined;
  return prepareLora(model, options);
}

/** How many parameter elements a plan trains, in any of its stages. */
function trainableCount(plan: Plan, model: ModelProto): number {
  const parameters = describeModel(model).parameters;
  const names = parameters.map((p) => p.name);
  const trained = new Set(plan.stages.flatMap((stage) => resolveGroups(stage.groups, names).flatMap((g) => g.params)));
  return parameters.filter((p) => trained.has(p.name)).reduce((n, p) => n + elementCount(p.dims), 0);
}

/** Every glob must select a parameter and every stage's groups must resolve, before anything trains. */
function checkPlans(plans: Plan[], globs: Record<string, string>, inputs: Inputs, planFile?: string): void {
  const names = inputs.summary.parameters.map((p) => p.name);
  if (planFile !== undefined) for (const plan of plans) checkPlanAgainstModel(plan, names, planFile, inputs.sources.model ?? 'the model');
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

/** --label-smoothing: cross-entropy's only. */
function withLabelSmoothing(loss: Loss, labelSmoothing: number | undefined): Loss {
  if (labelSmoothing === undefined) return loss;
  if (loss.name !== 'ce') throw new UserError(`--label-smoothing applies to cross-entropy (several logits, or --loss ce); this run's loss is ${loss.name}`);
  return crossEntropyLoss(labelSmoothing);
}

function reportSettings(config: TrainConfig) {
  return {
    ...(config.loss.labelSmoothing !== undefined ? { label_smoothing: config.loss.labelSmoothing } : {}),
    loss: config.loss.name, optimizer: config.optimizer, weight_decay: config.weightDecay, batch_size: config.batchSize, test_batch_size: config.testBatchSize,
    shuffle: config.shuffle, seed: config.seed, device: config.device, threads: config.threads, on_nonfinite: config.onNonFinite,
    batch_norm: config.batchNorm, rng: config.rng, ...selectionSettings(config),
  };
}

/**
 * The claimed folder's checkpoints, and where each run resumes. An earlier run there is refused unless the
 * user said to continue it (--resume) or replace it (--overwrite: its checkpoints go now, its results once the
 * new ones are written); the checkpoints of the runs continued become this run's to prune.
 */
function openRunFolder(folder: OutputFolder, runs: { identity: RunIdentity }[], resumeDir: string | undefined, overwrite: boolean) {
  const checkpoints = new RunCheckpoints(folder.dir);
  const names = [...new Set([...RESULT_STRATEGIES, ...runs.map((r) => r.identity.strategy)])];
  const earlier = [...earlierResults(folder, names), ...names.flatMap((s) => checkpoints.list(s))];
  if (resumeDir === undefined && earlier.length > 0 && !overwrite) {
    throw new UserError(`--out ${folder.dir} holds an earlier run (${relative(folder.dir, earlier[0])}${earlier.length > 1 ? ` and ${earlier.length - 1} more` : ''}); continue it with --resume ${folder.dir}, or replace it with --overwrite`);
  }
  if (overwrite) {
    for (const s of names) {
      checkpoints.adopt(s);
      checkpoints.drop(s);
    }
  }
  for (const { identity } of runs) checkpoints.adopt(identity.strategy);
  const resumes = resumeDir === undefined ? [] : runs.map(({ identity }) => resumePoint(checkpoints, identity));
  if (resumeDir !== undefined && resumes.every((r) => r === undefined)) throw new UserError(`--resume ${resumeDir}: no checkpoints of this command there`);
  return { checkpoints, resumes };
}

/** The label the data's reader took: --label, else y, else (a CSV without y) the last column. */
function labelName(argv: Argv, inputs: Inputs): string | undefined {
  if (inputs.builtIn) return undefined;
  const columns = inputs.data.train.columns;
  return readString(argv, 'label') ?? (columns && !columns.includes('y') ? columns[columns.length - 1] : 'y');
}

/** A run that skipped more than --max-skipped of its batches did not really train: it fails, exporting nothing. */
function checkSkipped(result: TrainResult, maxShare: number): void {
  if (result.skippedBatches <= maxShare * result.steps) return;
  throw new UserError(`${result.strategy}: skipped ${result.skippedBatches} of ${result.steps} batches for a non-finite loss or gradient, more than --max-skipped ${maxShare}; nothing was exported (lower the learning rate, or raise --max-skipped)`);
}

export interface CommandIo {
  stdout: NodeJS.WritableStream;
  /** Whether to draw progress bars on stderr. */
  progress: boolean;
}

export async function runCommand(command: RunKey, argv: Argv, io: CommandIo): Promise<void> {
  const json = argv.json === true;
  const { plans: givenPlans, globs, planFile, lora: loraOptions } = plansFor(command, argv);
  const selection = readSelection(argv);
  const { recipe, labelSmoothing } = readRecipe(argv, readString(argv, 'head')!);
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
  const folder = outputFolder(resumeDir ?? out, command === 'run' ? givenPlans[0].strategy : command);
  const checkpointEvery = readCheckpointEvery(argv);
  const keep = common('keep-checkpoints');
  const reading = statusLine(io.progress && !json, 'onnx-finetune: reading the model and data…');
  let loaded: Inputs;
  try {
    loaded = loadInputs(argv, settings.seed);
  } finally {
    reading.clear();
  }
  await checkModelRuns(loaded, settings.device);
  // The recipe options (--schedule, --lr-decay, …) apply to every stage, a plan file's too, over its own fields.
  const plans = givenPlans.map((plan) => withRecipe(plan, parametersInGraphOrder(loaded.model), recipe));
  checkPlans(plans, globs, loaded, planFile);
  const lora = command === 'run' ? undefined : loraFor(command, loraOptions, loaded.model);
  // Where each plan starts: the model its strategy starts from (the built-in job draws a head for each) or LoRA's
  // with its adapters, and the words PyTorch's generator drew before it.
  const starts = plans.map((plan) => strategyStart(loaded, plan));
  if (lora) {
    plans.push(withRecipe(lora.plan, parametersInGraphOrder(lora.model), recipe));
    starts.push({ ...strategyStart(loaded, lora.plan), model: lora.model });
  }
  const models = starts.map((s) => s.model);
  const config: TrainConfig = {
    ...DEFAULT_TRAIN_CONFIG, ...settings, threads: threads ?? defaultThreads(parameterCount(loaded.summary.parameters)),
    loss: withLabelSmoothing(chooseLoss(readLoss(argv), loaded.logitCount), labelSmoothing), onNonFinite: readOnNonFinite(argv), snapshotEvery: checkpointEvery, rng: loaded.rng,
    ...(selection ? { selection } : {}),
  };
  if (selection) checkMonitor(selection.monitor, taskFor(config.loss.name));
  plans.forEach((plan, i) => checkPlan(models[i], plan, config));
  const { inputs, identity: validation } = withValidation(argv, loaded, settings.seed, config.loss);
  if (selection && !inputs.data.validation) {
    throw new UserError(`${selection.patience !== undefined ? '--early-stop' : '--keep best'} needs a validation set to judge the epochs by: give --val FILE or --val-split FRACTION`);
  }
  // A resume validates on the same data: the validation set is one of the run's settings.
  const runs = plans.map((plan, i) => {
    const identity = runIdentity(plan, config, inputs, models[i]);
    return { plan, ...starts[i], identity: validation ? { ...identity, settings: { ...identity.settings, validation } } : identity };
  });

  for (const warning of [exporterNamesWarning(inputs.model, inputs.sources.model), probabilityOutputWarning(inputs.model, inputs.sources.model)]) {
    if (warning) process.stderr.write(`warning: ${warning}\n`);
  }
  // Everything in the folder is read under its lock: another run cannot prune a checkpoint in between.
  const claimed = claimFolder(folder);
  if (claimed.note) process.stderr.write(`onnx-finetune: ${claimed.note}\n`);
  let records: RunRecord[], results: TrainResult[];
  try {
    const target: OutputFolder = { dir: claimed.dir, given: folder.given };
    const { checkpoints, resumes } = openRunFolder(target, runs, resumeDir, overwrite);
    resumes.forEach((snapshot, i) => snapshot && checkResume(models[i], plans[i], inputs.data, { ...config, rngStart: starts[i].rngStart }, snapshot));
    const report = RunReportFiles.open(claimed.dir, reportInfo(plans, models, config, inputs, commandLine('--out', claimed.dir)), resumes, (m) => process.stderr.write(`warning: ${m}\n`));
    results = await trainRuns(runs, resumes, inputs, config, { dir: claimed.dir, checkpoints, lock: claimed.lock, keep, progress: io.progress && !json, report });
    for (const r of results) checkSkipped(r, common('max-skipped'));
    records = results.map((r, i) => ({ ...runRecord(r, modelFile(target, r.strategy)), trainable_parameters: trainableCount(plans[i], models[i]) }));
    const task = taskFor(config.loss.name);
    // LoRA's model is the source model with the adapters merged in; its adapter goes beside it as a PEFT folder.
    const trained = (r: TrainResult) => (r.strategy === 'lora' && lora ? lora.merge(new Map([...r.parameters, ...r.buffers])) : r.model);
    const files = (r: TrainResult) => (r.strategy === 'lora' && lora ? adapterFiles(claimed.dir, r.strategy, lora.adapterFiles(r.parameters)) : undefined);
    const exported = (r: TrainResult, i: number) => withProvenance(withDataMetadata(trained(r), inputs.data.train, task), { version: VERSION, plan: plans[i], label: labelName(argv, inputs) });
    writeOutputs(target, results.map((r, i) => ({ key: r.strategy, model: exported(r, i), files: files(r), report: reportJson(records[i], r, plans[i], reportSettings(config), inputs.sources, VERSION, task, inputs.data.train.classNames) })),
      { lock: claimed.lock, replaced: overwrite ? earlierResults(target, plans.map((p) => p.strategy)) : [], files: report.files(results.map((result, i) => ({ result, record: records[i] }))) });
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
  io.stdout.write(`report: ${join(claimed.dir, REPORT_HTML)}\n`);
}

/** What the report says about the run besides its curves (run-info.ts). */
function reportInfo(plans: Plan[], models: ModelProto[], config: TrainConfig, inputs: Inputs, command: string) {
  const { train, test, validation } = inputs.data;
  return runInfo({
    version: VERSION, command, task: taskFor(config.loss.name), settings: reportSettings(config), source: inputs.sources.model, model: inputs.model, summary: inputs.summary, plans,
    planModels: models.map((m) => (m === inputs.model ? undefined : m)),
    data: {
      train: { source: inputs.sources.train, examples: train.count }, test: { source: inputs.sources.test, examples: test.count },
      ...(validation ? { validation: { source: inputs.sources.validation ?? 'validation', examples: validation.count } } : {}),
      ...(train.classNames ? { classes: [...train.classNames] } : {}),
    },
  });
}
