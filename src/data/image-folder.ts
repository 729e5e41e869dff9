// An image folder as torchvision's ImageFolder reads it: each subfolder is a class, its index the folder's
// place in the sorted names; every PNG, JPEG and WebP file under it (subfolders included) is an example.
// Only the list of files is read here; the images are decoded a batch at a time (Dataset.lazy).
import { readdirSync, statSync, type Stats } from 'node:fs';
import { open } from 'node:fs/promises';
import { constants } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, relative } from 'node:path';
import type { DataInputInfo } from '../model/describe.js';
import { DataType, makeValueInfo } from '../onnx/builder.js';
import type { ModelProto } from '../onnx/proto.js';
import { UserError } from '../errors.js';
import { byCodePoint } from './label-column.js';
import { bytesText, fileError } from '../runtime/files.js';
import type { Dataset, LazyInput } from './dataset.js';
import { channelTables, prepareImage, type ImageGeometry } from './image-decode.js';
import { imageDraw } from './image-augment.js';
import type { ImageOptions } from './image-options.js';

export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg', '.webp'];
/** Largest image file read (compressed bytes). */
const FILE_LIMIT = 256 * 2 ** 20;

export interface ImageFiles {
  classNames: string[];
  /** Every image's path, class after class, each class's files in sorted order. */
  paths: string[];
  labels: Float64Array;
  /** Size and modification time of each file: with the paths, what a resumed run checks the folder against. */
  stats: { size: number; mtimeMs: number }[];
}

const isImage = (name: string) => IMAGE_EXTENSIONS.some((ext) => name.toLowerCase().endsWith(ext));
const hidden = (name: string) => name.startsWith('.');

/** The classes and image files of a folder; one line naming the folder for each way it cannot be read. */
export function listImageFolder(root: string, labelled = true): ImageFiles {
  const classNames = entries(root).filter((e) => !hidden(e.name) && statOf(join(root, e.name)).isDirectory()).map((e) => e.name).sort(byCodePoint);
  if (classNames.length === 0 && !labelled) return unlabelledImages(root);
  if (classNames.length === 0) throw new UserError(`${root}: no class folders (an image folder holds one subfolder of images per class, e.g. ${join(root, 'cat')}/1.jpg)`);
  const paths: string[] = [], labels: number[] = [], stats: ImageFiles['stats'] = [];
  classNames.forEach((name, label) => {
    const found = imagesUnder(join(root, name));
    if (found.length === 0) throw new UserError(`${join(root, name)}: class folder '${name}' holds no images (${IMAGE_EXTENSIONS.join(', ')})`);
    for (const { path, stat } of found) {
      paths.push(path);
      labels.push(label);
      stats.push({ size: stat.size, mtimeMs: stat.mtimeMs });
    }
  });
  return { classNames, paths, labels: Float64Array.from(labels), stats };
}

/** New images to predict on, straight in the folder: no classes, labels NaN. */
function unlabelledImages(root: string): ImageFiles {
  const found = imagesUnder(root);
  if (found.length === 0) throw new UserError(`${root}: no images (${IMAGE_EXTENSIONS.join(', ')}), and no class folders of them`);
  return { classNames: [], paths: found.map((f) => f.path), labels: new Float64Array(found.length).fill(NaN), stats: found.map(({ stat }) => ({ size: stat.size, mtimeMs: stat.mtimeMs })) };
}

/** Image files under a class folder, as ImageFolder walks it: folder by folder in sorted path order, files sorted. */
function imagesUnder(dir: string): { path: string; stat: Stats }[] {
  const folders: { dir: string; files: { path: string; stat: Stats }[] }[] = [];
  const seen = new Set<string>();
  const walk = (d: string) => {
    const real = statOf(d);
    const id = `${real.dev}:${real.ino}`;
    if (seen.has(id)) return; // a link back up the tree
    seen.add(id);
    const files: { path: string; stat: Stats }[] = [];
    for (const e of entries(d)) {
      if (hidden(e.name)) continue;
      const path = join(d, e.name), stat = statOf(path);
      if (stat.isDirectory()) walk(path);
      else if (isImage(e.name)) {
        if (!stat.isFile()) throw new UserError(`${path}: not a regular file (a FIFO, device or socket)`);
        files.push({ path, stat });
      }
    }
    folders.push({ dir: d, files: files.sort((a, b) => byCodePoint(a.path, b.path)) });
  };
  walk(dir);
  return folders.sort((a, b) => byCodePoint(a.dir, b.dir)).flatMap((f) => f.files);
}

function entries(dir: string) {
  try {
    return readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    throw fileError(dir, 'list the image folder', e);
  }
}

function statOf(path: string): Stats {
  try {
    return statSync(path);
  } catch (e) {
    throw fileError(path, 'read', e);
  }
}

/** The [H, W] of the model's one image input, [batch, 3, H, W] float; --image-size where H or W is named, not fixed. */
export function imageInputSize(root: string, inputs: readonly DataInputInfo[], size?: [number, number]): { name: string; size: [number, number] } {
  const [input] = inputs;
  const shape = input?.shape;
  if (inputs.length !== 1 || input.elemType !== DataType.FLOAT || shape?.length !== 4 || shape[1] !== 3) {
    const what = inputs.length !== 1 ? `${inputs.length} inputs (${inputs.map((i) => i.name).join(', ')})` : `the ${DataType[input.elemType]} input '${input.name}' of shape ${shape ? `[${shape.map((d) => d ?? '?')}]` : 'unknown'}`;
    throw new UserError(`${root}: an image folder feeds one float input of shape [batch, 3, H, W], but the model has ${what}`);
  }
  const [h, w] = [shape[2], shape[3]];
  if (typeof h === 'number' && typeof w === 'number') {
    if (size && (size[0] !== h || size[1] !== w)) throw new UserError(`--image-size ${size[0]}x${size[1]}: the model's input '${input.name}' takes ${h}x${w} images`);
    return { name: input.name, size: [h, w] };
  }
  if (!size) throw new UserError(`${root}: the model's input '${input.name}' has shape [${shape.map((d) => d ?? '?')}], without a fixed height and width; give --image-size H or HxW`);
  if ((typeof h === 'number' && h !== size[0]) || (typeof w === 'number' && w !== size[1])) throw new UserError(`--image-size ${size[0]}x${size[1]}: the model's input '${input.name}' has shape [${shape.map((d) => d ?? '?')}]`);
  return { name: input.name, size };
}

/**
 * The model with its image input's height and width fixed where they were named (a model exported for any
 * size): its training graphs need the spatial sizes, and it is trained, and exported, for that one size.
 */
export function withImageSize(model: ModelProto, inputName: string, [h, w]: [number, number]): ModelProto {
  const input = model.graph.input.find((i) => i.name === inputName);
  const batch = input?.type?.tensorType?.shape?.dim?.[0];
  if (!input || batch === undefined) return model;
  const fixed = makeValueInfo(inputName, DataType.FLOAT, [batch.dimParam || (batch.dimValue ? Number(batch.dimValue) : null), 3, h, w]);
  return { ...model, graph: { ...model.graph, input: model.graph.input.map((i) => (i === input ? fixed : i)) } } as ModelProto;
}

/** Images decoded at once: the libuv pool runs sharp's work (4 threads unless UV_THREADPOOL_SIZE says otherwise). */
export function defaultDecodeParallelism(): number {
  return Math.max(1, Math.min(Number(process.env.UV_THREADPOOL_SIZE) || 4, availableParallelism()));
}

/** An image folder as a Dataset whose one input is decoded per batch (augmented where options.augment asks: training data only). */
/** `labelled` false (predict on new images): the images may sit in the folder itself, without class folders. */
export function readImageFolder(root: string, inputs: readonly DataInputInfo[], options: ImageOptions, parallel = defaultDecodeParallelism(), labelled = true): Dataset {
  const { name, size } = imageInputSize(root, inputs, options.size);
  const files = listImageFolder(root, labelled);
  const geometry: ImageGeometry = { size, mean: options.mean, std: options.std };
  const { augment } = options;
  const preprocessing = { kind: 'image', size, mean: options.mean, std: options.std, resize: 'shorter-side, center-crop', interpolation: 'bilinear', channels: 'RGB' };
  const identity = new TextEncoder().encode(JSON.stringify({
    preprocessing, augment, seed: augment.length > 0 ? options.seed : undefined,
    files: files.paths.map((p, i) => [relative(root, p), files.stats[i].size, files.stats[i].mtimeMs]),
  }));
  return {
    source: root,
    count: files.paths.length,
    inputs: {},
    labels: files.labels,
    ...(files.classNames.length > 0 ? { classNames: files.classNames } : {}),
    preprocessing,
    lazy: imageLoader(name, files.paths, geometry, { augment, seed: options.seed, parallel, identity }),
  };
}

/** The lazy input: `parallel` images read and decoded at a time, each written straight into the batch. */
export function imageLoader(inputName: string, paths: readonly string[], geometry: ImageGeometry,
  options: { augment: ImageOptions['augment']; seed: number; parallel: number; identity: Uint8Array }): LazyInput {
  const [H, W] = geometry.size;
  const size = 3 * H * W;
  const tables = channelTables(geometry.mean, geometry.std);
  return {
    inputName,
    shape: [3, H, W],
    identity: options.identity,
    async load(indices, into, epoch) {
      let next = 0, failed: { error: unknown } | undefined;
      // On a failure the other workers stop at their next image, and load settles only once none writes into `into`.
      const worker = async () => {
        for (let i = next++; i < indices.length && !failed; i = next++) {
          const index = indices[i];
          const draw = epoch !== undefined && options.augment.length > 0 ? imageDraw(options.augment, options.seed, epoch, index) : undefined;
          try {
            await prepareImage(await readImageFile(paths[index]), paths[index], geometry, tables, into, i * size, draw);
          } catch (error) {
            failed ??= { error };
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(options.parallel, indices.length) }, worker));
      if (failed) throw failed.error;
    },
  };
}

/** A regular file's bytes, read off the main thread; a FIFO or device is refused without blocking on it. */
async function readImageFile(path: string): Promise<Uint8Array> {
  let file;
  try {
    file = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    throw fileError(path, 'read the image', e);
  }
  try {
    const stat = await file.stat();
    if (!stat.isFile()) throw new UserError(`${path}: cannot read the image (not a regular file)`);
    if (stat.size > FILE_LIMIT) throw new UserError(`${path}: the image file is ${bytesText(stat.size)}, more than the ${bytesText(FILE_LIMIT)} onnx-finetune reads`);
    const bytes = new Uint8Array(stat.size);
    for (let done = 0; done < bytes.length; ) {
      const { bytesRead } = await file.read(bytes, done, bytes.length - done, done);
      if (bytesRead === 0) throw new UserError(`${path}: the image file ends early (it changed while it was read)`);
      done += bytesRead;
    }
    return bytes;
  } catch (e) {
    throw fileError(path, 'read the image', e);
  } finally {
    await file.close();
  }
}
