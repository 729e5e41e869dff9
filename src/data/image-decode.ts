// One image file's bytes → the model's float input, as torchvision's Resize(shorter side) + CenterCrop +
// ToTensor + Normalize do it: sharp decodes and resizes (bilinear), JavaScript crops, mirrors and scales
// each channel into channels-first float32.
import type Sharp from 'sharp';
import { UserError } from '../errors.js';
import type { ImageDraw } from './image-augment.js';

/** How images become inputs: the crop's [H, W] and each channel's mean and std (of values in [0, 1]). */
export interface ImageGeometry {
  size: [number, number];
  mean: readonly number[];
  std: readonly number[];
}

/** A random crop is cut from the image resized to this much more than the input (256 for 224, as in ImageNet training). */
export const CROP_ZOOM = 8 / 7;

/** sharp (a native addon) is loaded the first time an image is decoded: a run without images never pays for it. */
let loaded: typeof Sharp | undefined;
async function sharpModule(): Promise<typeof Sharp> {
  if (!loaded) {
    loaded = (await import('sharp')).default;
    // No libvips operation cache: each image is decoded once, and cached pixels would outlive their batch.
    loaded.cache(false);
  }
  return loaded;
}

/**
 * The size an image of width × height is resized to so that it covers target H × W with its aspect kept:
 * for a square target, torchvision's Resize(H) (shorter side H, longer side truncated to an integer).
 */
export function coverSize(width: number, height: number, [targetH, targetW]: readonly number[]): [number, number] {
  if (targetH / height >= targetW / width) return [Math.max(targetW, Math.floor((targetH * width) / height)), targetH];
  return [targetW, Math.max(targetH, Math.floor((targetW * height) / width))];
}

/** Python's round(): halves to even, as torchvision's CenterCrop rounds its offsets. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Per channel, the float32 value of each byte: ((v / 255) - mean) / std in float32, as torchvision computes it. */
export function channelTables(mean: readonly number[], std: readonly number[]): Float32Array[] {
  return [0, 1, 2].map((c) => Float32Array.from({ length: 256 }, (_, v) => Math.fround(Math.fround(v / 255) - Math.fround(mean[c])) / Math.fround(std[c])));
}

/**
 * Decodes `bytes` (PNG, JPEG, WebP, ...) and writes the prepared image, [3, H, W], into `into` from `offset`.
 * Grey and alpha images become RGB (alpha dropped, as PIL's convert('RGB')). `draw` augments (training).
 */
export async function prepareImage(bytes: Uint8Array, path: string, geometry: ImageGeometry, tables: Float32Array[], into: Float32Array, offset: number, draw?: ImageDraw): Promise<void> {
  const [H, W] = geometry.size;
  let pixels: Buffer, width: number, height: number;
  const sharp = await sharpModule();
  try {
    const image = sharp(bytes, { failOn: 'error' });
    const meta = await image.metadata();
    if (!meta.width || !meta.height) throw new Error('no image size in the file');
    const target = draw?.crop ? [Math.floor(H * CROP_ZOOM), Math.floor(W * CROP_ZOOM)] : [H, W];
    [width, height] = coverSize(meta.width, meta.height, target);
    const { data, info } = await image
      .resize(width, height, { fit: 'fill', kernel: 'linear', fastShrinkOnLoad: false })
      .removeAlpha()
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3 || info.width !== width || info.height !== height) throw new Error(`decoded to ${info.width}×${info.height}×${info.channels}, not ${width}×${height}×3`);
    pixels = data;
  } catch (e) {
    throw new UserError(`${path}: cannot read the image (${firstLine(e)})`);
  }
  const top = draw?.crop ? Math.floor(draw.crop[0] * (height - H + 1)) : roundHalfEven((height - H) / 2);
  const left = draw?.crop ? Math.floor(draw.crop[1] * (width - W + 1)) : roundHalfEven((width - W) / 2);
  const plane = H * W;
  for (let y = 0; y < H; y++) {
    const row = ((top + y) * width + left) * 3;
    for (let x = 0; x < W; x++) {
      const p = row + (draw?.flip ? W - 1 - x : x) * 3, o = offset + y * W + x;
      into[o] = tables[0][pixels[p]];
      into[o + plane] = tables[1][pixels[p + 1]];
      into[o + 2 * plane] = tables[2][pixels[p + 2]];
    }
  }
}

function firstLine(e: unknown): string {
  return String((e as Error)?.message ?? e).split('\n')[0].trim().slice(0, 200);
}
