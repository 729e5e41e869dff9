// onnx-finetune's library API: read models and data, build training graphs, train plans, write models.
export { loadModel, saveModel, decodeModel, encodeModel } from './onnx/io.js';
export { makeAttribute, makeGraph, makeModel, makeNode, makeTensor, makeValueInfo, DataType, OPSET, IR_VERSION } from './onnx/builder.js';
export type { ModelProto, GraphProto, NodeProto, TensorProto } from './onnx/proto.js';
export { describeModel, type ModelSummary, type DataInputInfo } from './model/describe.js';
export { findParameters, bufferNames, exporterNamesWarning } from './model/parameter-roles.js';
export { untieSharedInitializers } from './model/untie.js';
export { encodeSafetensors, type NamedTensor } from './export/safetensors.js';
export { pytorchStateDict } from './export/state-dict.js';
export { attachLinearHead } from './model/attach-head.js';
export { readCsvDataset } from './data/csv.js';
export { readJsonlDataset, type JsonlInput, type JsonlOptions } from './data/jsonl.js';
export { readDataset, dataOptionsFromPreprocessing, type DataOptions } from './data/read.js';
export { readImageFolder } from './data/image-folder.js';
export { readTextDataset, textDatasetFromRows, type TextOptions } from './data/text.js';
export { readParquetDataset } from './data/parquet.js';
export { splitValidation } from './data/split.js';
export { computeMetrics, taskFor, type Metrics, type Task } from './train/metrics.js';
export { withDataMetadata, readDataMetadata } from './export/data-metadata.js';
export { singleInput, singleInputDataset, type Dataset, type DataInput, type InputValues, type InputType } from './data/dataset.js';
export { buildArtifacts, inferenceModel, type Artifacts } from './artifacts/build.js';
export { BATCH_NORM_MODES, runningStatistics, type BatchNormMode, type BatchStatistics } from './artifacts/batch-norm-mode.js';
export { buildBackward } from './autodiff/backward.js';
export { RULES } from './autodiff/rules/index.js';
export type { GradRule, GradContext } from './autodiff/rule.js';
export { LOSSES, lossForHead, type Loss, type LossName } from './losses/index.js';
export { Optimizer, OPTIMIZERS, type OptimizerKind } from './optim/optimizer.js';
export { resolveGroups, type GroupSpec } from './optim/groups.js';
export { fullFineTune, linearProbe, partialUnfreeze, NOTEBOOK_DEFAULTS, type Plan, type Stage, type StrategyKey } from './train/strategies.js';
export {
  train, initialParameters, checkPlan, DEFAULT_TRAIN_CONFIG, NonFiniteError, InterruptedError,
  type TrainConfig, type TrainResult, type RunSnapshot, type Progress,
} from './train/trainer.js';
export { readPlanFile, parsePlan, readPlan, checkPlanAgainstModel, planData, planYaml } from './plan/index.js';
export { MONITORS, MONITOR_NAMES, KEEP, bestEpoch, stopsEarly, type Monitor, type Keep, type Selection } from './train/early-stopping.js';
export { StageRunner } from './train/stage-runner.js';
export type { RunEvent, GroupInfo } from './train/events.js';
export { MetricsLog, type StrategyLog, type StepRecord, type EpochRecord, type ValidationRecord } from './report/metrics-log.js';
export { renderReport, type RunReport } from './report/html-report.js';
export { runInfo, type RunInfo, type StrategyResult } from './report/run-info.js';
export { evaluate, countCorrect } from './train/evaluate.js';
export { encodeCheckpoint, decodeCheckpoint } from './checkpoint/checkpoint.js';
export { createSession, type Device } from './runtime/session.js';
export { UserError } from './errors.js';
// Recipes (issue 15, part A): schedules, discriminative rates, clipping, accumulation, label smoothing, lr-find.
export { SCHEDULE_KINDS, type ScheduleSpec, type ScheduleKind } from './optim/schedule-spec.js';
export { GroupSchedule, StageSchedule, checkSchedule } from './optim/schedules.js';
export { layerDecayGroups, layerDepths, layerOf, parametersInGraphOrder } from './optim/layer-decay.js';
export { noDecayGroups } from './optim/no-decay.js';
export { clipGradNorm } from './optim/clip.js';
export { crossEntropyLoss } from './losses/cross-entropy.js';
export { withRecipe, checkStageRecipe, type RecipeOptions } from './train/stage-recipe.js';
export { findLearningRate, steepestDescent, LR_FIND_DEFAULTS, type LrFindOptions, type LrFindResult, type LrFindPoint } from './train/lr-find.js';
export { prepareLora, LORA_DEFAULTS, type LoraOptions, type LoraSetup } from './lora/lora.js';
export { findTargets, allLinearTargets, type LoraTarget } from './lora/targets.js';
export { withAdapters, freshAdapter, loraScaling, type LoraSettings, type AdapterWeights } from './lora/adapters.js';
export { mergedModel, mergedWeight } from './lora/merge.js';
export { parsePeftAdapter, peftAdapterFiles, type PeftAdapter } from './lora/peft-format.js';
export { decodeSafetensors } from './export/safetensors.js';
// Sweeps (issue 19): sweep files, their runs, and running them here or through a BullMQ queue.
export { readSweepFile, parseSweep, type SweepFile } from './sweep/sweep-file.js';
export { sweepRuns, checkRuns, type SweepRun } from './sweep/runs.js';
export { runSweep, type SweepOptions } from './sweep/sweep.js';
export { runWorker, type WorkerOptions } from './sweep/worker.js';
export type { SweepRow } from './sweep/results.js';
