// What a report says about a run besides its curves: the command that reproduces it, the settings, the model
// (parameters trained and frozen per group, its ops), the data, and each strategy's plan. Written as run.json
// into the run folder when the run starts, so that `onnx-finetune report DIR` can redraw a run, finished or not.
import type { ModelProto } from '../onnx/proto.js';
import { describeModel, type ModelSummary } from '../model/describe.js';
import { elementCount } from '../onnx/tensor.js';
import { resolveGroups } from '../optim/groups.js';
import type { Metrics, Task } from '../train/metrics.js';
import type { Plan } from '../train/strategies.js';

export interface GroupInfo {
  /** The group's glob, as the plan gives it. */
  params: string;
  lr: number;
  /** Parameter tensors the glob selects, and their values. */
  tensors: number;
  values: number;
}

export interface StageInfo { name: string; epochs: number; groups: GroupInfo[]; trained: number; frozen: number }

export interface RunInfo {
  onnx_finetune: string;
  command: string;
  task: Task;
  settings: Record<string, unknown>;
  model: { source: string; opset: number; inputs: { name: string; shape: string }[]; logits: string; parameters: number; tensors: number; ops: [string, number][] };
  data: { train: DataInfo; test: DataInfo; validation?: DataInfo; classes?: string[] };
  strategies: { strategy: string; stages: StageInfo[] }[];
}

export interface DataInfo { source: string; examples: number }

/** A strategy's results as its <strategy>.json holds them. */
export interface StrategyResult {
  accuracy: number;
  test_loss: number;
  steps: number;
  seconds: number;
  skipped_batches: number;
  test_metrics: Metrics;
  epoch_losses: number[];
  /** --early-stop / --keep best: what was judged and which epoch's weights were kept. */
  early_stopping?: { monitor: string; patience: number | null; keep: string; best_epoch: number | null; best_value: number | null; stopped_early_at_epoch: number | null };
}

export function runInfo(o: {
  version: string; command: string; task: Task; settings: Record<string, unknown>; source: string; model: ModelProto; summary: ModelSummary; plans: Plan[];
  /** Each plan's own model where it is not the source model (LoRA's, with its adapters). */
  planModels?: (ModelProto | undefined)[];
  data: { train: DataInfo; test: DataInfo; validation?: DataInfo; classes?: string[] };
}): RunInfo {
  const sizes = parameterSizes(o.summary);
  const names = [...sizes.keys()];
  const total = [...sizes.values()].reduce((a, b) => a + b, 0);
  const ops = new Map<string, number>();
  for (const node of o.model.graph.node) ops.set(node.opType, (ops.get(node.opType) ?? 0) + 1);
  return {
    onnx_finetune: o.version,
    command: o.command,
    task: o.task,
    settings: o.settings,
    model: {
      source: o.source,
      opset: o.summary.opset,
      inputs: o.summary.inputs.map((i) => ({ name: i.name, shape: shapeText(i.shape) })),
      logits: shapeText(o.summary.logitsShape),
      parameters: total,
      tensors: names.length,
      ops: [...ops].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])),
    },
    data: o.data,
    strategies: o.plans.map((plan, p) => {
      const own = o.planModels?.[p];
      const planSizes = own ? parameterSizes(describeModel(own)) : sizes;
      const planTotal = [...planSizes.values()].reduce((a, b) => a + b, 0);
      return {
        strategy: plan.strategy,
        stages: plan.stages.map((stage) => {
          const resolved = resolveGroups(stage.groups, [...planSizes.keys()]);
          const groups = stage.groups.map((g, i) => {
            const params = resolved[i].params;
            return { params: Array.isArray(g.params) ? g.params.join(', ') : String(g.params), lr: resolved[i].lr, tensors: params.length, values: params.reduce((n, name) => n + planSizes.get(name)!, 0) };
          });
          const trained = groups.reduce((n, g) => n + g.values, 0);
          return { name: stage.name, epochs: stage.epochs, groups, trained, frozen: planTotal - trained };
        }),
      };
    }),
  };
}

function shapeText(shape: ModelSummary['logitsShape']): string {
  return shape ? `[${shape.map((d) => (d === null || d === undefined ? '?' : String(d))).join(', ')}]` : '(unknown)';
}

const parameterSizes = (summary: ModelSummary) => new Map(summary.parameters.map((p) => [p.name, elementCount(p.dims)]));
