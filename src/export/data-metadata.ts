// The data side of an exported model: class names, preprocessing and the task travel in its metadata_props,
// so that `predict` (or anyone reading the file) turns new images or text into inputs exactly as training
// did, and reads the outputs as training meant them (a probability, or a value for regression).
import { onnx, type ModelProto } from '../onnx/proto.js';
import type { Dataset, Preprocessing } from '../data/dataset.js';
import { TASKS, type Task } from '../train/metrics.js';

const KEYS = { classes: 'onnx_finetune.classes', preprocessing: 'onnx_finetune.preprocessing', task: 'onnx_finetune.task' } as const;

export interface DataMetadata {
  classNames?: string[];
  preprocessing?: Preprocessing;
  /** What the model's output means: 'binary' (one logit), 'multiclass' (one logit per class) or 'regression' (a value). */
  task?: Task;
}

/** The model with the training data's class names and preprocessing, and the task it was trained for, added to its metadata. */
export function withDataMetadata(model: ModelProto, data: Pick<Dataset, 'classNames' | 'preprocessing'>, task?: Task): ModelProto {
  const entries = [
    ...(data.classNames ? [{ key: KEYS.classes, value: JSON.stringify(data.classNames) }] : []),
    ...(data.preprocessing ? [{ key: KEYS.preprocessing, value: JSON.stringify(data.preprocessing) }] : []),
    ...(task ? [{ key: KEYS.task, value: task }] : []),
  ];
  if (entries.length === 0) return model;
  const kept = model.metadataProps.filter((e) => !Object.values(KEYS).includes(e.key as never));
  return { ...model, metadataProps: [...kept, ...entries.map((e) => onnx.StringStringEntryProto.create(e))] } as ModelProto;
}

/** What an exported model says about its data; fields it lacks (or cannot parse) are left out. */
export function readDataMetadata(model: ModelProto): DataMetadata {
  const meta = new Map(model.metadataProps.map((e) => [e.key, e.value]));
  const parse = (key: string) => {
    try {
      return JSON.parse(meta.get(key) ?? 'null') ?? undefined;
    } catch {
      return undefined;
    }
  };
  const classNames = parse(KEYS.classes);
  const preprocessing = parse(KEYS.preprocessing);
  const task = meta.get(KEYS.task) as Task | undefined;
  return {
    task: task !== undefined && TASKS.includes(task) ? task : undefined,
    classNames: Array.isArray(classNames) && classNames.every((c) => typeof c === 'string') ? classNames : undefined,
    preprocessing: preprocessing && typeof preprocessing === 'object' && typeof preprocessing.kind === 'string' ? preprocessing : undefined,
  };
}
