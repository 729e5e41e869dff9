// Checkpoint files (format version 1). A checkpoint is an ordinary ONNX model — the source model with the
// run's current parameters as initializers, so any ONNX tool can read the weights — that carries the rest
// of the run's state in three metadata_props entries:
//   onnx_finetune.format   'onnx-finetune-checkpoint'
//   onnx_finetune.state    JSON: version, the run's identity (strategy, plan, settings, fingerprints of the
//                          model and the data), the position in the plan, the epoch's losses so far, the
//                          shuffle and Dropout generators' states, the data order, and the optimizer state per parameter
//                          (typed arrays as base64 of their little-endian bytes)
//   onnx_finetune.checksum SHA-256 over the state JSON and every initializer's name and bytes
// Reading one parses JSON and protobuf only: nothing from the file is ever executed.
import { createHash } from 'node:crypto';
import { onnx, type ModelProto } from '../onnx/proto.js';
import { decodeModel, encodeModel } from '../onnx/io.js';
import { inferenceModel } from '../artifacts/build.js';
import { inEvalMode } from '../artifacts/dropout-masks.js';
import { runningStatistics } from '../artifacts/batch-norm-mode.js';
import { initialParameters, type RunSnapshot } from '../train/trainer.js';
import type { ParamState } from '../optim/optimizer.js';
import { UserError } from '../errors.js';

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
    epochLossSum: snapshot.epochLossSum,
    epochBatches: snapshot.epochBatches,
    skippedBatches: snapshot.skippedBatches,
    rngState: snapshot.rngState,
    dropoutRngState: snapshot.dropoutRngState,
    order: base64(snapshot.order),
    optimizer: Object.fromEntries([...snapshot.optimizerState].map(([name, s]) => [name, {
      step: s.step, expAvg: s.expAvg && base64(s.expAvg), expAvgSq: s.expAvgSq && base64(s.expAvgSq), momentumBuffer: s.momentumBuffer && base64(s.momentumBuffer),
    }])),
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
  let s: any;
  try {
    s = JSON.parse(state);
  } catch {
    throw new UserError(`${path}: checkpoint state is not valid JSON`);
  }
  if (s?.version !== VERSION) throw new UserError(`${path}: checkpoint format version ${s?.version}, this onnx-finetune reads version ${VERSION}`);
  try {
    return readState(s, model);
  } catch (e) {
    throw new UserError(`${path}: malformed checkpoint state (${(e as Error).message})`);
  }
}

function readState(s: any, model: ModelProto): Checkpoint {
  const optimizerState = new Map<string, ParamState>(Object.entries(s.optimizer as Record<string, any>).map(([name, o]) => [name, {
    step: o.step, expAvg: o.expAvg && floats(o.expAvg), expAvgSq: o.expAvgSq && floats(o.expAvgSq), momentumBuffer: o.momentumBuffer && floats(o.momentumBuffer),
  }]));
  return {
    identity: s.identity,
    snapshot: {
      strategy: s.identity.strategy, stage: s.position.stage, epoch: s.position.epoch, batch: s.position.batch, steps: s.position.steps,
      epochLosses: s.epochLosses, epochLossSum: s.epochLossSum, epochBatches: s.epochBatches, skippedBatches: s.skippedBatches,
      rngState: s.rngState, dropoutRngState: s.dropoutRngState, order: new Int32Array(bytesOf(s.order).buffer),
      parameters: initialParameters(model),
      buffers: runningStatistics(model.graph),
      optimizerState,
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

function base64(values: Float32Array | Int32Array): string {
  return Buffer.from(values.buffer, values.byteOffset, values.byteLength).toString('base64');
}

function bytesOf(text: string): Uint8Array {
  return Uint8Array.from(Buffer.from(text, 'base64'));
}

function floats(text: string): Float32Array {
  return new Float32Array(bytesOf(text).buffer);
}
