// The images/s row of `npm run bench`: an image folder's batches of 32 through the image pipeline (read,
// decode, resize the shorter side to 224, center-crop, normalize into float32), with 1 or 2 images decoded
// at a time, each on one libvips thread. scripts/bench-pytorch.py times ImageFolder + DataLoader on the
// same folder.
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { DataType } from '../src/onnx/builder.js';
import { readImageFolder } from '../src/data/image-folder.js';
import { parseImageOptions } from '../src/data/image-options.js';
import { Rng } from '../src/train/rng.js';

const BATCH = 32, SIZE = 224, PER_CLASS = 160, [WIDTH, HEIGHT] = [500, 375]; // about ImageNet's average photo
export const IMAGES_ROW = (threads: number) => `image folder → 3x${SIZE}x${SIZE} (JPEG ${WIDTH}x${HEIGHT}), ${threads} thread${threads > 1 ? 's' : ''}`;

/** 320 JPEGs in two class folders, written once under the temporary folder and kept for bench-pytorch.py. */
export async function benchImageFolder(): Promise<string> {
  const dir = join(tmpdir(), 'onnx-finetune-bench-images');
  if (['a', 'b'].every((c) => existsSync(join(dir, c)) && readdirSync(join(dir, c)).length === PER_CLASS)) return dir;
  const rng = new Rng(1);
  for (const c of ['a', 'b']) {
    mkdirSync(join(dir, c), { recursive: true });
    for (let i = 0; i < PER_CLASS; i++) {
      // A smooth gradient with noise: photo-like JPEG sizes (not a flat field that compresses to nothing).
      const pixels = Buffer.alloc(WIDTH * HEIGHT * 3);
      const [r0, g0, b0] = [rng.int(256), rng.int(256), rng.int(256)];
      for (let y = 0, p = 0; y < HEIGHT; y++) for (let x = 0; x < WIDTH; x++, p += 3) {
        const noise = rng.int(40) - 20;
        pixels[p] = (r0 + x / 3 + noise) & 255;
        pixels[p + 1] = (g0 + y / 2 + noise) & 255;
        pixels[p + 2] = (b0 + (x + y) / 4 - noise) & 255;
      }
      await sharp(pixels, { raw: { width: WIDTH, height: HEIGHT, channels: 3 } }).jpeg({ quality: 90 }).toFile(join(dir, c, `${String(i).padStart(3, '0')}.jpg`));
    }
  }
  return dir;
}

/** Median time per batch of 32 over three passes of the folder, after one warm-up batch. */
export async function measureImages(threads: number, dir: string) {
  sharp.concurrency(1);
  const data = readImageFolder(dir, [{ name: 'x', elemType: DataType.FLOAT, shape: ['batch', 3, SIZE, SIZE] }], parseImageOptions({}, 0), threads);
  const into = new Float32Array(BATCH * 3 * SIZE * SIZE);
  const batch = (start: number) => data.lazy!.load(Int32Array.from({ length: BATCH }, (_, i) => (start + i) % data.count), into);
  await batch(0);
  const samples: number[] = [];
  for (let pass = 0; pass < 3; pass++) {
    for (let start = 0; start < data.count; start += BATCH) {
      const t0 = process.hrtime.bigint();
      await batch(start);
      samples.push(Number(process.hrtime.bigint() - t0) / 1e3);
    }
  }
  samples.sort((a, b) => a - b);
  const median = samples[Math.floor(samples.length / 2)];
  return {
    workload: IMAGES_ROW(threads), batch: BATCH, threads, median_us: median, min_us: samples[0], max_us: samples[samples.length - 1],
    samples_per_s: (BATCH * 1e6) / median, unit: 'images', peak_rss_mb: process.resourceUsage().maxRSS / 1024,
  };
}
