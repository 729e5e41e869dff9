// Reading and writing .onnx files. External data is pulled inline on load, so the rest of the project
// only ever sees raw_data; a location outside the model's folder is refused.
import { closeSync, existsSync, realpathSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { onnx, toNumber, type ModelProto, type TensorProto } from './proto.js';
import { UserError } from '../errors.js';
import { validateModel } from './validate.js';
import { tensorDims, dtypeInfo, elementCount } from './tensor.js';
import { openRegularFile, readRange, readRegularFile, stageFile, type StagedFile } from '../runtime/files.js';
import { untieSharedInitializers } from '../model/untie.js';
import { batchNormInInferenceForm } from '../artifacts/batch-norm-mode.js';

/** Protobuf (and so an .onnx file) stops at 2 GiB; weights past that live in external data files. */
export const MAX_MODEL_FILE_BYTES = 2 ** 31 - 1;

export function loadModel(path: string): ModelProto {
  return decodeModel(readRegularFile(path, 'model file', { limit: MAX_MODEL_FILE_BYTES }), path);
}

/** Decodes model bytes; `path` names the file in errors and anchors external data. */
export function decodeModel(bytes: Uint8Array, path: string): ModelProto {
  let model: ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes) as unknown as ModelProto;
  } catch (e) {
    throw new UserError(`${path}: not a valid ONNX model (${(e as Error).message})`);
  }
  if (!model.graph || model.graph.node.length === 0) throw new UserError(`${path}: not an ONNX model (no graph nodes)`);
  for (const t of model.graph.initializer) {
    if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) loadExternalData(t, path);
  }
  validateModel(model, path);
  untieSharedInitializers(model);
  batchNormInInferenceForm(model.graph, path); // a model exported in training mode
  return model;
}

function loadExternalData(t: TensorProto, modelPath: string): void {
  const entries = new Map(t.externalData.map((e) => [e.key, e.value]));
  const location = entries.get('location');
  if (!location) throw new UserError(`${modelPath}: tensor '${t.name}' has external data without a location`);
  const baseDir = resolve(dirname(modelPath));
  const file = resolve(baseDir, location);
  const outside = (path: string, base: string) => {
    const rel = relative(base, path);
    return rel === '..' || rel.startsWith('..' + sep) || isAbsolute(rel);
  };
  // Checked on the path as written and on the real path, so that a symbolic link cannot lead outside.
  if (isAbsolute(location) || outside(file, baseDir) || (existsSync(file) && outside(realpathSync(file), realpathSync(baseDir)))) {
    throw new UserError(`${modelPath}: tensor '${t.name}' has external data location '${location}' outside the model's folder`);
  }
  // The declared range must fit the file and the tensor's shape before a byte is allocated: a sparse file
  // can claim gigabytes it does not hold.
  const expected = externalDataBytes(t, modelPath);
  const offset = Number(entries.get('offset') ?? 0);
  const length = entries.has('length') ? Number(entries.get('length')) : expected;
  const where = `${modelPath}: tensor '${t.name}'`;
  if (length !== expected) throw new UserError(`${where}: external data declares ${entries.get('length')} bytes, but its shape [${tensorDims(t)}] needs ${expected}`);
  const { fd, size } = openRegularFile(file, `external data of tensor '${t.name}'`);
  try {
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + length > size) {
      throw new UserError(`${where}: external data (offset ${entries.get('offset') ?? 0}, length ${length}) runs past the end of '${location}' (${size} bytes)`);
    }
    t.rawData = readRange(fd, file, `external data of tensor '${t.name}'`, offset, length);
  } finally {
    closeSync(fd);
  }
  t.externalData = [];
  t.dataLocation = onnx.TensorProto.DataLocation.DEFAULT;
}

/** The bytes a tensor's shape and type call for, refused past what one tensor can hold in memory. */
function externalDataBytes(t: TensorProto, modelPath: string): number {
  const dims = tensorDims(t);
  const where = `${modelPath}: tensor '${t.name}'`;
  if (dims.some((d) => !Number.isSafeInteger(d) || d < 0)) throw new UserError(`${where}: invalid dims [${dims}]`);
  const bytes = elementCount(dims) * dtypeInfo(t.dataType, where).bytes;
  if (bytes > MAX_INLINE_BYTES) throw new UserError(`${where}: shape [${dims}] takes ${bytes} bytes; training graphs are loaded from memory, which ONNX limits to 2 GiB`);
  return bytes;
}

/** A model in memory, as sessions load it: protobuf and ONNX Runtime both stop at 2 GiB. */
export function encodeModel(model: ModelProto): Uint8Array {
  const weights = model.graph.initializer.reduce((sum, t) => sum + (t.rawData?.length ?? 0), 0);
  if (weights > MAX_INLINE_BYTES) {
    throw new UserError(`the model's weights take ${(weights / 2 ** 30).toFixed(1)} GiB: training graphs are loaded from memory, which ONNX limits to 2 GiB, so models this large cannot be trained yet`);
  }
  return onnx.ModelProto.encode(model as never).finish();
}

/** Protobuf cannot encode a message past 2 GiB: beyond that, weights go to an external data file. */
export const MAX_INLINE_BYTES = 2 ** 31 - 2 ** 26;

/**
 * A model written with its weights inline; a model whose weights exceed `maxInline` bytes keeps them in
 * `<file>.data` beside it instead (ONNX external data, as torch.onnx.export does). Staged: nothing replaces
 * an existing file until the caller commits.
 */
export function stageModel(path: string, model: ModelProto, maxInline = MAX_INLINE_BYTES): StagedFile[] {
  const weights = model.graph.initializer.reduce((sum, t) => sum + (t.rawData?.length ?? 0), 0);
  if (weights <= maxInline) return [stageFile(path, [encodeModel(model)])];
  const dataFile = `${basename(path)}.data`;
  const chunks: Uint8Array[] = [];
  let offset = 0;
  const initializer = model.graph.initializer.map((t) => {
    if (!t.rawData || t.rawData.length < 1024) return t;
    chunks.push(t.rawData);
    const moved = onnx.TensorProto.create({ ...t, rawData: new Uint8Array(0), dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
      externalData: [{ key: 'location', value: dataFile }, { key: 'offset', value: String(offset) }, { key: 'length', value: String(t.rawData.length) }] } as never) as unknown as TensorProto;
    offset += t.rawData.length;
    return moved;
  });
  const data = stageFile(join(dirname(path), dataFile), chunks);
  try {
    return [data, stageFile(path, [encodeModel({ ...model, graph: { ...model.graph, initializer } } as ModelProto)])];
  } catch (e) {
    data.discard();
    throw e;
  }
}

export function saveModel(path: string, model: ModelProto, maxInline = MAX_INLINE_BYTES): void {
  for (const file of stageModel(path, model, maxInline)) file.commit();
}

export { toNumber };
