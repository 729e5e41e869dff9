// Training-time augmentation drawn as a pure function of (seed, epoch, example index): no generator state,
// so a batch read ahead, read again, or read after a resume gets the same flip and crop.
import type { Augmentation } from './image-options.js';

/** What to do to one training image: mirror it, and where to cut the crop (fractions in [0, 1)). */
export interface ImageDraw {
  flip: boolean;
  /** Position of a random crop: [vertical, horizontal] in [0, 1); none where 'crop' is off. */
  crop?: [number, number];
}

export function imageDraw(kinds: readonly Augmentation[], seed: number, epoch: number, index: number): ImageDraw {
  const key = mix(mix(mix(seed >>> 0) ^ (epoch >>> 0)) ^ (index >>> 0));
  const draw = (k: number) => mix(key ^ Math.imul(k + 1, 0x9e3779b9)) / 2 ** 32;
  return {
    flip: kinds.includes('flip') && draw(0) < 0.5,
    crop: kinds.includes('crop') ? [draw(1), draw(2)] : undefined,
  };
}

/** A 32-bit integer hash (murmur3's finalizer, with an added constant so that 0 does not map to 0). */
function mix(h: number): number {
  h = (h + 0x6d2b79f5) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
