// Checkpoint files (format version 1). A checkpoint is an ordinary ONNX model — the source model with the
// run's current parameters as initializers, so any ONNX tool can read the weights — that carries the rest
// of the run's state in three metadata_props entries:
//   onnx_finetune.format   'onnx-finetune-checkpoint'
//   onnx_finetune.state    JSON: version, the run's identity (strategy, plan, settings, fingerprints of the
//                          model and the data), the position in the plan, the epoch's losses and validation results so far, the
//                          shuffle and Dropout generators' states, the data order, and the optimizer state per parameter
//                          (typed arrays as base64 of their little-endian bytes)
//   onnx_finetune.checksum SHA-256 over the state JSON and every initializer's name and bytes
// Reading one parses JSON and protobuf only: nothing from the file is ever executed. The checksum catches a
// damaged file, not an edited one (anyone can recompute it): readState checks each field's type, and
// check-state.ts, when train() resumes, that the values fit the run they claim to continue.
import { createHash } from 'node:crypto';
import { onnx, type ModelProto } from '../onnx/proto.js';
import { decodeModel, encodeModel } from '../onnx/io.js';
import { inferenceModel } from '../artifacts/build.js';
import { inEvalMode } from '../artifacts/dropout-masks.js';
import { runningStatistics } from '../artifacts/batch-norm-mode.js';
import { initialParameters, type RunSnapshot } from '../train/trainer.js';
import type { ParamState } from '../optim/optimizer.js';
import { clip, UserError } from '../errors.js';

export const FORMAT = 'onnx-finetune-checkpoint';
export const VERSION = 1;
const KEYS = { format: 'onnx_finetune.format', state: 'onnx_finetune.state', checksum: 'onnx_finetune.checksum' } as const;

/** What a run is: a checkpoint resumes only a run with the same identity. */
export interface RunIdentity {
  strategy: string;
  plan: unknown;
  settings: Record<string, unknown>;
  /** SHA-256 of the model trained (as encoded) and of the training data. */
  model: string;
  data: string;
}

export function encodeCheckpoint(source: ModelProto, snapshot: RunSnapshot, identity: RunIdentity): Uint8Array {
  // BatchNorm running statistics (buffers) travel as the initializers they are.
  const model = inEvalMode(inferenceModel(source, new Map([...snapshot.parameters, ...snapshot.buffers])));
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
    order: base64(snapshot.order),
    // The best epoch's weights so far (early-stopping.ts), where the run keeps them.
    best: snapshot.best && { epoch: snapshot.best.epoch, parameters: base64Map(snapshot.best.parameters), buffers: base64Map(snapshot.best.buffers) },
    optimizer: Object.fromEntries([...snapshot.optimizerState].map(([name, s]) => [name, {
      step: s.step, expAvg: s.expAvg && base64(s.expAvg), expAvgSq: s.expAvgSq && base64(s.expAvgSq), momentumBuffer: s.momentumBuffer && base64(s.momentumBuffer),
    }])),
    // Gradient accumulation's sums, when the snapshot falls inside a group (absent otherwise).
    accumulation: snapshot.accumulation && { batches: snapshot.accumulation.batches, gradients: Object.fromEntries([...snapshot.accumulation.gradients].map(([name, g]) => [name, base64(g)])) },
  });
  model.metadataProps = [
    onnx.StringStringEntryProto.create({ key: KEYS.format, value: FORMAT }),
    onnx.StringStringEntryProto.create({ key: KEYS.state, value: state }),
    onnx.StringStringEntryProto.create({ key: KEYS.checksum, value: checksum(model, state) }),
  ];
  return encodeModel(model);
}

export interface Checkpoint {
  snapshot: RunSnapshot;
  identity: RunIdentity;
}

export function decodeCheckpoint(bytes: Uint8Array, path: string): Checkpoint {
  const model = decodeModel(bytes, path);
  const meta = new Map(model.metadataProps.map((e) => [e.key, e.value]));
  if (meta.get(KEYS.format) !== FORMAT) throw new UserError(`${path}: not an onnx-finetune checkpoint`);
  const state = meta.get(KEYS.state) ?? '';
  if (meta.get(KEYS.checksum) !== checksum(model, state)) throw new UserError(`${path}: checkpoint is corrupted (checksum mismatch); delete it to resume from the one before`);
  let s: Record<string, unknown>;
  try {
    s = JSON.parse(state);
  } catch {
    throw new UserError(`${path}: checkpoint state is not valid JSON`);
  }
  if (s?.version !== VERSION) throw new UserError(`${path}: checkpoint format version ${clip(String(s?.version))}, this onnx-finetune reads version ${VERSION}`);
  return readState(s, model, path);
}

/**
 * The state's JSON read into a snapshot, each field checked for the type it must have: whether the values fit
 * the run it continues is for check-state.ts to say, when the run is known.
 */
function readState(s: Record<string, unknown>, model: ModelProto, path: string): Checkpoint {
  const refuse = (field: string, what: string) => new UserError(`${path}: checkpoint field '${field}' ${what}`);
  const object = (value: unknown, field: string) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw refuse(field, 'is not an object');
    return value as Record<string, unknown>;
  };
  const bytes = (value: unknown, field: string) => {
    const decoded = typeof value === 'string' ? Buffer.from(value, 'base64') : undefined;
    // Node's decoder skips what is not base64; what the encoder wrote encodes back to itself.
    if (!decoded || decoded.toString('base64') !== value) throw refuse(field, 'is not base64 text');
    if (decoded.length % 4 !== 0) throw refuse(field, `holds ${decoded.length} bytes, not whole 4-byte values`);
    return Uint8Array.from(decoded).buffer;
  };
  const floats = (value: unknown, field: string) => (value === undefined ? undefined : new Float32Array(bytes(value, field)));

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
  const optimizerState = new Map<string, ParamState>(Object.entries(object(s.optimizer, 'optimizer')).map(([name, value]) => {
    const field = `optimizer['${clip(name)}']`;
    const o = object(value, field);
    return [name, { step: o.step as number, expAvg: floats(o.expAvg, `${field}.expAvg`), expAvgSq: floats(o.expAvgSq, `${field}.expAvgSq`), momentumBuffer: floats(o.momentumBuffer, `${field}.momentumBuffer`) }];
  }));
  const order = new Int32Array(bytes(s.order, 'order'));
  const tensors = (value: unknown, field: string) => new Map(Object.entries(object(value, field)).map(([name, v]) => [name, floats(v, `${field}['${clip(name)}']`)!]));
  const bestField = s.best === undefined ? undefined : object(s.best, 'best');
  const best = bestField && { epoch: bestField.epoch as number, parameters: tensors(bestField.parameters, 'best.parameters'), buffers: tensors(bestField.buffers, 'best.buffers') };
  const accumulation = s.accumulation === undefined ? undefined : (() => {
    const a = object(s.accumulation, 'accumulation');
    return { batches: a.batches as number, gradients: new Map(Object.entries(object(a.gradients, 'accumulation.gradients')).map(([name, g]) => [name, floats(g, `accumulation.gradients['${clip(name)}']`)!])) };
  })();
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

export function fingerprint(...chunks: Uint8Array[]): string {
  const hash = createHash('sha256');
  for (const chunk of chunks) hash.update(chunk);
  return hash.digest('hex');
}

function checksum(model: ModelProto, state: string): string {
  const hash = createHash('sha256').update(state);
  for (const t of model.graph.initializer) hash.update(t.name).update(t.rawData ?? new Uint8Array(0));
  return hash.digest('hex');
}

function base64Map(tensors: ReadonlyMap<string, Float32Array>): Record<string, string> {
  return Object.fromEntries([...tensors].map(([name, values]) => [name, base64(values)]));
}

function base64(values: Float32Array | Int32Array): string {
  return Buffer.from(values.buffer, values.byteOffset, values.byteLength).toString('base64');
}

