// Checkpoint files (format version 2). A checkpoint is an ordinary ONNX model — the source model with the
// run's current parameters as initializers, so any ONNX tool can read the weights — that carries the rest
// of the run's state in two places:
//   training_info[0].algorithm.initializer   raw tensors, as ONNX's training_info keeps optimizer state:
//       'order' (int32, the epoch's data order) and '<kind>/<parameter>' for each array of the optimizer
//       state ('expAvg/…', 'expAvgSq/…', 'momentumBuffer/…', float32, one dimension)
//   metadata_props
//       onnx_finetune.format   'onnx-finetune-checkpoint'
//       onnx_finetune.state    JSON: version, the run's identity (strategy, plan, settings, fingerprints of the
//                              model and the data), the position in the plan, the epoch's losses and validation
//                              results so far, the shuffle and Dropout generators' states, and each parameter's
//                              optimizer step count
//       onnx_finetune.checksum SHA-256 (hex) of every byte of the file before this entry, which is the file's
//                              last field: a writer hashes the pieces as it writes them, a reader the bytes it read
// The file is encoded as pieces (checkpointPieces): small protobuf framing around views of the snapshot's
// arrays, so that no buffer of the whole file is ever made on the training thread; checkpoint-writer.ts
// hashes and writes them on a thread of its own.
// Reading one parses JSON and protobuf only: nothing from the file is ever executed. The checksum catches a
// damaged file, not an edited one (anyone can recompute it): readState checks each field's type, and
// check-state.ts, when train() resumes, that the values fit the run they claim to continue.
import { createHash } from 'node:crypto';
import { DataType, onnx, type ModelProto, type TensorProto } from '../onnx/proto.js';
import { decodeModel } from '../onnx/io.js';
import { tensorDims } from '../onnx/tensor.js';
import { inferenceModel } from '../artifacts/build.js';
import { inEvalMode } from '../artifacts/dropout-masks.js';
import { runningStatistics } from '../artifacts/batch-norm-mode.js';
import { initialParameters, type RunSnapshot } from '../train/trainer.js';
import type { ParamState } from '../optim/optimizer.js';
import { clip, UserError } from '../errors.js';

export const FORMAT = 'onnx-finetune-checkpoint';
export const VERSION = 2;
const KEYS = { format: 'onnx_finetune.format', state: 'onnx_finetune.state', checksum: 'onnx_finetune.checksum' } as const;
/** The name of the graph in training_info that holds the state's tensors. */
export const STATE_GRAPH = 'onnx_finetune.state';
const MOMENTS = ['expAvg', 'expAvgSq', 'momentumBuffer'] as const;

/** What a run is: a checkpoint resumes only a run with the same identity. */
export interface RunIdentity {
  strategy: string;
  plan: unknown;
  settings: Record<string, unknown>;
  /** SHA-256 of the model trained (as encoded) and of the training data. */
  model: string;
  data: string;
}

/**
 * A checkpoint's bytes as pieces to write one after another, and then the seal: the checksum entry, whose
 * last 64 bytes are to be replaced by the SHA-256 (hex) of the pieces. `buffers` are the snapshot's own,
 * which the pieces view: handed to another thread, they need no copy (shared memory, or transferred).
 */
export interface CheckpointPieces {
  pieces: Uint8Array[];
  seal: Uint8Array;
  buffers: ArrayBufferLike[];
}

/** The checkpoint as one buffer (tests, the library): its pieces, hashed and sealed here. */
export function encodeCheckpoint(source: ModelProto, snapshot: RunSnapshot, identity: RunIdentity): Uint8Array {
  const { pieces, seal } = checkpointPieces(source, snapshot, identity);
  return Buffer.concat([...pieces, sealWith(seal, pieces)]);
}

/** The seal with the pieces' checksum in place. */
export function sealWith(seal: Uint8Array, pieces: readonly Uint8Array[]): Uint8Array {
  const hash = createHash('sha256');
  for (const piece of pieces) hash.update(piece);
  const sealed = seal.slice();
  sealed.set(Buffer.from(hash.digest('hex'), 'latin1'), sealed.length - 64);
  return sealed;
}

/**
 * The checkpoint of a snapshot as pieces that view the snapshot's arrays (nothing of them is copied). The
 * model's structure is encoded once per source model; each checkpoint adds only framing and the state's JSON.
 */
export function checkpointPieces(source: ModelProto, snapshot: RunSnapshot, identity: RunIdentity): CheckpointPieces {
  const layout = layoutOf(source);
  const values = new Map([...snapshot.parameters, ...snapshot.buffers]);
  const state = JSON.stringify({
    version: VERSION,
    identity,
    position: { stage: snapshot.stage, epoch: snapshot.epoch, batch: snapshot.batch, steps: snapshot.steps },
    epochLosses: snapshot.epochLosses,
    validation: snapshot.validation,
    epochLossSum: snapshot.epochLossSum,
    epochBatches: snapshot.epochBatches,
    skippedBatches: snapshot.skippedBatches,
    rngState: snapshot.rngState,
    dropoutRngState: snapshot.dropoutRngState,
    optimizer: Object.fromEntries([...snapshot.optimizerState].map(([name, s]) => [name, { step: s.step }])),
    // The best epoch's weights so far (early-stopping.ts), where the run keeps them: names here, values as tensors.
    best: snapshot.best && { epoch: snapshot.best.epoch, parameters: [...snapshot.best.parameters.keys()], buffers: [...snapshot.best.buffers.keys()] },
    // Gradient accumulation's sums, when the snapshot falls inside a group (absent otherwise).
    accumulation: snapshot.accumulation && { batches: snapshot.accumulation.batches, gradients: [...snapshot.accumulation.gradients.keys()] },
  });
  const graph = new Pieces();
  graph.add(layout.graphHead);
  for (const t of layout.initializers) graph.field(5, initializerPieces(t, values.get(t.name)));
  const stateGraph = new Pieces();
  stateGraph.add(onnx.GraphProto.encode({ name: STATE_GRAPH }).finish());
  const stateTensor = (name: string, dataType: number, array: Float32Array | Int32Array) =>
    stateGraph.field(5, tensorPieces(onnx.TensorProto.encode({ name, dataType, dims: [array.length] }).finish(), bytesOf(array)));
  stateTensor('order', DataType.INT32, snapshot.order);
  for (const [name, s] of snapshot.optimizerState) for (const key of MOMENTS) if (s[key]) stateTensor(`${key}/${name}`, DataType.FLOAT, s[key]!);
  const extras = [
    ...[...snapshot.best?.parameters ?? []].map(([name, v]) => [`best.parameters/${name}`, v] as const),
    ...[...snapshot.best?.buffers ?? []].map(([name, v]) => [`best.buffers/${name}`, v] as const),
    ...[...snapshot.accumulation?.gradients ?? []].map(([name, v]) => [`accumulation/${name}`, v] as const),
  ];
  for (const [name, v] of extras) stateTensor(name, DataType.FLOAT, v);
  const model = new Pieces();
  model.add(layout.modelHead);
  model.field(7, graph);
  model.add(onnx.ModelProto.encode({ metadataProps: [{ key: KEYS.format, value: FORMAT }, { key: KEYS.state, value: state }] }).finish());
  model.field(20, new Pieces().field(2, stateGraph));
  const buffers = [...values.values(), snapshot.order, ...[...snapshot.optimizerState.values()].flatMap((s) => MOMENTS.map((key) => s[key])), ...extras.map(([, v]) => v)].map((a) => a?.buffer);
  return { pieces: model.list, seal: SEAL, buffers: [...new Set(buffers)].filter((b) => b !== undefined) };
}

/** The checksum entry with 64 placeholder bytes for the hex digest: the same bytes for every checkpoint. */
const SEAL = onnx.ModelProto.encode({ metadataProps: [{ key: KEYS.checksum, value: '0'.repeat(64) }] }).finish();

/** The source model in inference form, encoded once: all but its initializers. */
interface Layout {
  modelHead: Uint8Array;
  graphHead: Uint8Array;
  initializers: TensorProto[];
}

const layouts = new WeakMap<ModelProto, Layout>();

function layoutOf(source: ModelProto): Layout {
  let layout = layouts.get(source);
  if (!layout) {
    const model = inEvalMode(inferenceModel(source, new Map()));
    layout = {
      modelHead: onnx.ModelProto.encode({ ...model, graph: null, metadataProps: [], trainingInfo: [] } as never).finish(),
      graphHead: onnx.GraphProto.encode({ ...model.graph, initializer: [] } as never).finish(),
      initializers: model.graph.initializer,
    };
    layouts.set(source, layout);
  }
  return layout;
}

/** An initializer's encoding: its own fields, with a snapshot's values (where it has them) as raw_data. */
function initializerPieces(t: TensorProto, values: Float32Array | undefined): Pieces {
  const head = values ? { ...t, rawData: undefined, floatData: [], doubleData: [] } : { ...t, rawData: undefined };
  return tensorPieces(onnx.TensorProto.encode(head as never).finish(), values ? bytesOf(values) : t.rawData ?? new Uint8Array(0));
}

/** A tensor's encoding: its fields but raw_data, then raw_data (field 9). */
function tensorPieces(head: Uint8Array, raw: Uint8Array): Pieces {
  const pieces = new Pieces().add(head);
  return raw.length > 0 ? pieces.add(new Uint8Array([0x4a, ...varint(raw.length)])).add(raw) : pieces;
}

/** Protobuf bytes as a list of pieces, with their total length known for the framing around them. */
class Pieces {
  readonly list: Uint8Array[] = [];
  length = 0;

  add(bytes: Uint8Array): this {
    this.list.push(bytes);
    this.length += bytes.length;
    return this;
  }

  /** A length-delimited field holding `inner`. */
  field(number: number, inner: Pieces): this {
    this.add(new Uint8Array([...varint((number << 3) | 2), ...varint(inner.length)]));
    for (const piece of inner.list) this.add(piece);
    return this;
  }
}

function varint(n: number): number[] {
  const bytes: number[] = [];
  for (; n >= 0x80; n = Math.floor(n / 128)) bytes.push((n % 128) | 0x80);
  bytes.push(n);
  return bytes;
}

const bytesOf = (a: Float32Array | Int32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

export interface Checkpoint {
  snapshot: RunSnapshot;
  identity: RunIdentity;
}

export function decodeCheckpoint(bytes: Uint8Array, path: string): Checkpoint {
  // The seal first, on the bytes as read: a damaged file is said to be damaged, whatever it breaks.
  const body = bytes.subarray(0, Math.max(0, bytes.length - SEAL.length));
  if (body.length === 0 || !Buffer.from(sealWith(SEAL, [body])).equals(bytes.subarray(body.length))) throw unsealed(bytes, path);
  const model = decodeModel(bytes, path);
  const meta = new Map(model.metadataProps.map((e) => [e.key, e.value]));
  if (meta.get(KEYS.format) !== FORMAT) throw new UserError(`${path}: not an onnx-finetune checkpoint`);
  let s: Record<string, unknown>;
  try {
    s = JSON.parse(meta.get(KEYS.state) ?? '');
  } catch {
    throw new UserError(`${path}: checkpoint state is not valid JSON`);
  }
  if (s?.version !== VERSION) throw otherVersion(s?.version, path);
  return readState(s, model, path);
}

/** Why a file without a valid seal cannot be resumed: not a checkpoint, one of another format version, or damaged. */
function unsealed(bytes: Uint8Array, path: string): UserError {
  let version: unknown;
  try {
    const meta = new Map(decodeModel(bytes, path).metadataProps.map((e) => [e.key, e.value]));
    if (meta.get(KEYS.format) !== FORMAT) return new UserError(`${path}: not an onnx-finetune checkpoint`);
    version = JSON.parse(meta.get(KEYS.state) ?? '').version;
  } catch (e) {
    if (e instanceof UserError && !/not a valid ONNX model/.test(e.message)) return e;
  }
  // Version 1 sealed its state another way (a checksum over the JSON and the initializers).
  if (typeof version === 'number' && version !== VERSION) return otherVersion(version, path);
  return new UserError(`${path}: checkpoint is corrupted (checksum mismatch); delete it to resume from the one before`);
}

function otherVersion(version: unknown, path: string): UserError {
  return new UserError(`${path}: checkpoint format version ${clip(String(version))}, this onnx-finetune reads version ${VERSION}; finish that run with the onnx-finetune that wrote it, or start afresh with --overwrite`);
}

/**
 * The state's JSON and tensors read into a snapshot, each field checked for the type it must have: whether
 * the values fit the run it continues is for check-state.ts to say, when the run is known.
 */
function readState(s: Record<string, unknown>, model: ModelProto, path: string): Checkpoint {
  const refuse = (field: string, what: string) => new UserError(`${path}: checkpoint field '${field}' ${what}`);
  const object = (value: unknown, field: string) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw refuse(field, 'is not an object');
    return value as Record<string, unknown>;
  };
  const tensors = stateTensors(model, refuse);

  const identity = object(s.identity, 'identity');
  if (typeof identity.strategy !== 'string') throw refuse('identity.strategy', 'is not a string');
  const position = object(s.position, 'position');
  if (!Array.isArray(s.epochLosses)) throw refuse('epochLosses', 'is not an array');
  // JSON writes NaN (the loss of an epoch whose every batch was skipped) as null.
  const epochLosses = s.epochLosses.map((l) => (l === null ? NaN : l));
  // Validation results per epoch (absent from a run's checkpoints before they were kept): the same for losses.
  const validation = s.validation === undefined ? [] : s.validation;
  if (!Array.isArray(validation)) throw refuse('validation', 'is not an array');
  for (const v of validation) if (v && typeof v === 'object' && v.loss === null) v.loss = NaN;
  const optimizer = object(s.optimizer, 'optimizer');
  const optimizerState = new Map<string, ParamState>(Object.entries(optimizer).map(([name, value]) => {
    const field = `optimizer['${clip(name)}']`;
    const o = object(value, field);
    const state: ParamState = { step: o.step as number };
    for (const key of MOMENTS) state[key] = tensors.take(`${key}/${name}`, DataType.FLOAT, `${field}.${key}`) as Float32Array | undefined;
    return [name, state];
  }));
  const order = tensors.take('order', DataType.INT32, 'order') as Int32Array | undefined;
  if (!order) throw refuse('order', `is missing (tensor 'order' of training_info graph '${STATE_GRAPH}')`);
  const named = (value: unknown, prefix: string, field: string) => {
    if (!Array.isArray(value) || !value.every((n) => typeof n === 'string')) throw refuse(field, 'is not a list of tensor names');
    return new Map(value.map((name: string) => {
      const values = tensors.take(`${prefix}/${name}`, DataType.FLOAT, `${field}['${clip(name)}']`) as Float32Array | undefined;
      if (!values) throw refuse(`${field}['${clip(name)}']`, `is missing (tensor '${clip(`${prefix}/${name}`)}' of training_info graph '${STATE_GRAPH}')`);
      return [name, values];
    }));
  };
  const bestField = s.best === undefined ? undefined : object(s.best, 'best');
  const best = bestField && { epoch: bestField.epoch as number, parameters: named(bestField.parameters, 'best.parameters', 'best.parameters'), buffers: named(bestField.buffers, 'best.buffers', 'best.buffers') };
  const accumulationField = s.accumulation === undefined ? undefined : object(s.accumulation, 'accumulation');
  const accumulation = accumulationField && { batches: accumulationField.batches as number, gradients: named(accumulationField.gradients, 'accumulation', 'accumulation.gradients') };
  tensors.none();
  let parameters: Map<string, Float32Array>, buffers: Map<string, Float32Array>;
  try {
    parameters = initialParameters(model);
    buffers = runningStatistics(model.graph);
  } catch (e) {
    throw new UserError(`${path}: checkpoint parameters unreadable (${(e as Error).message})`);
  }
  // Numbers pass as they are: check-state.ts checks them against the run.
  return {
    identity: identity as unknown as RunIdentity,
    snapshot: {
      strategy: identity.strategy as RunSnapshot['strategy'], stage: position.stage as number, epoch: position.epoch as number, batch: position.batch as number, steps: position.steps as number,
      epochLosses, validation, epochLossSum: s.epochLossSum as number, epochBatches: s.epochBatches as number, skippedBatches: s.skippedBatches as number,
      rngState: s.rngState as number, dropoutRngState: s.dropoutRngState as number, order, parameters, buffers, optimizerState, best, accumulation, source: path,
    },
  };
}

/**
 * The tensors of the state graph, each taken once by name: one-dimensional raw data of the type the field
 * needs. Whatever is left when the state has been read belongs to no field and is refused.
 */
function stateTensors(model: ModelProto, refuse: (field: string, what: string) => UserError) {
  const graphs = (model.trainingInfo ?? []).map((t) => t.algorithm).filter((g) => g?.name === STATE_GRAPH);
  if (graphs.length !== 1) throw refuse('training_info', `holds ${graphs.length} graphs named '${STATE_GRAPH}', not 1`);
  const byName = new Map<string, TensorProto>();
  for (const t of (graphs[0]!.initializer ?? []) as TensorProto[]) {
    if (byName.has(t.name)) throw refuse(t.name, 'appears twice');
    byName.set(t.name, t);
  }
  return {
    take(name: string, dataType: number, field: string): Float32Array | Int32Array | undefined {
      const t = byName.get(name);
      if (!t) return undefined;
      byName.delete(name);
      const type = dataType === DataType.FLOAT ? 'float32' : 'int32';
      if (t.dataType !== dataType) throw refuse(field, `is not ${type} values (tensor '${clip(name)}' has element type ${onnx.TensorProto.DataType[t.dataType] ?? t.dataType})`);
      const dims = tensorDims(t), raw = t.rawData ?? new Uint8Array(0);
      if (dims.length !== 1) throw refuse(field, `has dims [${dims}], not one dimension`);
      if (raw.length !== dims[0] * 4) throw refuse(field, `holds ${raw.length} bytes of raw data for ${dims[0]} ${type} values`);
      const values = dataType === DataType.FLOAT ? new Float32Array(dims[0]) : new Int32Array(dims[0]);
      new Uint8Array(values.buffer).set(raw); // raw_data may not be aligned for a view
      return values;
    },
    none(): void {
      const [left] = byName.keys();
      if (left !== undefined) throw refuse(left, `is a tensor of training_info graph '${STATE_GRAPH}' that no field of the state names`);
    },
  };
}

export function fingerprint(...chunks: Uint8Array[]): string {
  const hash = createHash('sha256');
  for (const chunk of chunks) hash.update(chunk);
  return hash.digest('hex');
}
