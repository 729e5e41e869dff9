// How close sharp's bilinear resize (the image pipeline's) comes to PIL's, which torchvision's Resize uses on
// PIL images, measured without Python: PIL's resampling (Pillow's Resample.c: a triangle filter widened by
// the scale when shrinking, 22-bit fixed-point taps, a horizontal then a vertical pass, each rounded to 8
// bits) is written out below and compared with sharp on the same pixels.
import { expect } from 'chai';
import sharp from 'sharp';
import { coverSize } from '../src/data/image-decode.js';
import { Rng } from '../src/train/rng.js';

const PRECISION_BITS = 32 - 8 - 2;

/** Per output pixel: the first input pixel and the fixed-point taps, as Pillow's precompute_coeffs and normalize_coeffs_8bpc. */
function coefficients(inSize: number, outSize: number): { min: number; taps: number[] }[] {
  const scale = inSize / outSize, filterScale = Math.max(1, scale), support = filterScale;
  return Array.from({ length: outSize }, (_, xx) => {
    const center = (xx + 0.5) * scale;
    const min = Math.max(0, Math.trunc(center - support + 0.5));
    const max = Math.min(inSize, Math.trunc(center + support + 0.5));
    const weights = Array.from({ length: max - min }, (_, x) => Math.max(0, 1 - Math.abs((x + min - center + 0.5) / filterScale)));
    const sum = weights.reduce((a, b) => a + b, 0);
    return { min, taps: weights.map((w) => Math.trunc((sum !== 0 ? w / sum : w) * (1 << PRECISION_BITS) + (w < 0 ? -0.5 : 0.5))) };
  });
}

function clip8(v: number): number {
  return Math.min(255, Math.max(0, Math.floor(v / (1 << PRECISION_BITS))));
}

/** PIL's Image.resize(size, BILINEAR) of interleaved RGB bytes. */
export function pilBilinear(pixels: Uint8Array, width: number, height: number, outW: number, outH: number): Uint8Array {
  const horizontal = coefficients(width, outW), vertical = coefficients(height, outH);
  const temp = new Uint8Array(outW * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < outW; x++) for (let c = 0; c < 3; c++) {
    const { min, taps } = horizontal[x];
    let sum = 1 << (PRECISION_BITS - 1);
    taps.forEach((k, i) => (sum += pixels[(y * width + min + i) * 3 + c] * k));
    temp[(y * outW + x) * 3 + c] = clip8(sum);
  }
  if (outH === height) return temp;
  const out = new Uint8Array(outW * outH * 3);
  for (let y = 0; y < outH; y++) for (let x = 0; x < outW; x++) for (let c = 0; c < 3; c++) {
    const { min, taps } = vertical[y];
    let sum = 1 << (PRECISION_BITS - 1);
    taps.forEach((k, i) => (sum += temp[((min + i) * outW + x) * 3 + c] * k));
    out[(y * outW + x) * 3 + c] = clip8(sum);
  }
  return out;
}

/** A photo-like test image: smooth gradients, an edge and noise. */
function testImage(width: number, height: number, seed: number): Uint8Array {
  const rng = new Rng(seed), pixels = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) for (let c = 0; c < 3; c++) {
    const edge = x > width / 3 && y < (2 * height) / 3 ? 60 : 0;
    pixels[(y * width + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(40 + (150 * x) / width + (50 * y) / height - 30 * c + edge + rng.normal() * 12)));
  }
  return pixels;
}

describe('image resize: sharp against PIL bilinear', function () {
  this.timeout(60_000);
  // Shrinking (photos to 224) agrees to rounding; enlarging (small images to a larger input) less well: libvips
  // interpolates an enlargement with other sample positions than PIL's filter. The bounds record what was measured.
  const cases: [number, number, number, { mean: number; max: number }][] = [
    [500, 375, 224, { mean: 0.5, max: 4 }], [640, 480, 224, { mean: 0.5, max: 4 }], [300, 200, 128, { mean: 0.5, max: 4 }], [64, 48, 32, { mean: 0.5, max: 4 }],
    [20, 14, 32, { mean: 6, max: 40 }],
  ];
  for (const [width, height, target, bound] of cases) {
    it(`${width}x${height} → shorter side ${target}: mean difference under ${bound.mean} of 255, largest ${bound.max}`, async () => {
      const pixels = testImage(width, height, width);
      const [outW, outH] = coverSize(width, height, [target, target]);
      const ours = await sharp(pixels, { raw: { width, height, channels: 3 } }).resize(outW, outH, { fit: 'fill', kernel: 'linear', fastShrinkOnLoad: false }).raw().toBuffer();
      const pil = pilBilinear(pixels, width, height, outW, outH);
      let max = 0, sum = 0;
      for (let i = 0; i < pil.length; i++) {
        const d = Math.abs(ours[i] - pil[i]);
        max = Math.max(max, d);
        sum += d;
      }
      const mean = sum / pil.length;
      expect(mean).to.be.lessThan(bound.mean);
      expect(max).to.be.at.most(bound.max);
    });
  }
});
