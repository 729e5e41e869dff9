// Reading and writing .onnx files. External data is pulled inline on load, so the rest of the project
// only ever sees raw_data; a location outside the model's folder is refused.
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync, realpathSync, renameSync, rmSync, fsyncSync, writeSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { onnx, toNumber, type ModelProto, type TensorProto } from './proto.js';
import { UserError } from '../errors.js';
import { validateModel } from './validate.js';
import { untieSharedInitializers } from '../model/untie.js';
import { batchNormInInferenceForm } from '../artifacts/batch-norm-mode.js';

export function loadModel(path: string): ModelProto {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new UserError(`${path}: cannot read model file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return decodeModel(bytes, path);
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
  const offset = Number(entries.get('offset') ?? 0);
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (e) {
    throw new UserError(`${modelPath}: tensor '${t.name}': cannot read external data file '${location}' (${(e as NodeJS.ErrnoException).code})`);
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new UserError(`${modelPath}: tensor '${t.name}': external data location '${location}' is not a file`);
    const size = stat.size;
    const length = entries.has('length') ? Number(entries.get('length')) : size - offset;
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > size) {
      throw new UserError(`${modelPath}: tensor '${t.name}': external data (offset ${entries.get('offset') ?? 0}, length ${length}) runs past the end of '${location}' (${size} bytes)`);
    }
    const data = new Uint8Array(length);
    // readSync reads at most 2 GiB at a time.
    for (let done = 0; done < length; ) done += readSync(fd, data, done, Math.min(length - done, 1 << 30), offset + done);
    t.rawData = data;
  } finally {
    closeSync(fd);
  }
  t.externalData = [];
  t.dataLocation = onnx.TensorProto.DataLocation.DEFAULT;
}

/** A model in memory, as sessions load it: protobuf and ONNX Runtime both stop at 2 GiB. */
export function encodeModel(model: ModelProto): Uint8Array {
  const weights = model.graph.initializer.reduce((sum, t) => sum + (t.rawData?.length ?? 0), 0);
  if (weights > MAX_INLINE_BYTES) {
    throw new UserError(`the model's weights take ${(weights / 2 ** 30).toFixed(1)} GiB: training graphs are loaded from memory, which ONNX limits to 2 GiB, so models this large cannot be trained yet`);
  }
  return onnx.ModelProto.encode(model as never).finish();
}

/** Writes a file whole or not at all: a temporary name in the same folder, fsync, then rename. */
export function writeFileAtomic(path: string, ...chunks: (Uint8Array | string)[]): void {
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    const fd = openSync(tmp, 'w');
    try {
      for (const chunk of chunks) {
        const data = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
        for (let done = 0; done < data.length; ) done += writeSync(fd, data, done);
      }
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/** Protobuf cannot encode a message past 2 GiB: beyond that, weights go to an external data file. */
export const MAX_INLINE_BYTES = 2 ** 31 - 2 ** 26;

/**
 * Writes a model with its weights inline; a model whose weights exceed `maxInline` bytes keeps them in
 * `<file>.data` beside it instead (ONNX external data, as torch.onnx.export does).
 */
export function saveModel(path: string, model: ModelProto, maxInline = MAX_INLINE_BYTES): void {
  const weights = model.graph.initializer.reduce((sum, t) => sum + (t.rawData?.length ?? 0), 0);
  if (weights <= maxInline) {
    writeFileAtomic(path, encodeModel(model));
    return;
  }
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
  writeFileAtomic(join(dirname(path), dataFile), ...chunks);
  writeFileAtomic(path, encodeModel({ ...model, graph: { ...model.graph, initializer } } as ModelProto));
}

export { toNumber };
