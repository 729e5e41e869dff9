// Image folders written with sharp for the image tests: one subfolder per class, each image a coloured
// field with noisy stripes, in several sizes, aspect ratios and formats; and a small CNN that takes them.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { DataType, makeGraph, makeModel, makeNode, makeTensor, makeValueInfo, type Dim } from '../../src/onnx/builder.js';
import type { ModelProto } from '../../src/onnx/proto.js';
import { Rng } from '../../src/train/rng.js';

/** Each class's base colour: what the model learns to tell apart. */
export const CLASS_COLOURS: Record<string, [number, number, number]> = { blue: [40, 60, 200], green: [50, 190, 70], red: [210, 50, 40] };
const FORMATS = ['png', 'jpg', 'webp'] as const;
const SIZES: [number, number][] = [[20, 20], [24, 18], [18, 30], [16, 16], [40, 26]];

/** Raw RGB bytes of one noisy, striped image of a class colour. */
export function classImage(rng: Rng, colour: readonly number[], width: number, height: number): Buffer {
  const pixels = Buffer.alloc(width * height * 3);
  const stripe = 2 + rng.int(4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const dark = Math.floor(x / stripe) % 2 === 0 ? 0.6 : 1;
      for (let c = 0; c < 3; c++) pixels[(y * width + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(colour[c] * dark + rng.normal() * 25)));
    }
  }
  return pixels;
}

/** Writes `perClass` images per class under dir/<class>/, cycling through formats and sizes; returns dir. */
export async function writeImageFolder(dir: string, perClass: number, seed: number, classes = Object.keys(CLASS_COLOURS)): Promise<string> {
  const rng = new Rng(seed);
  for (const name of classes) {
    mkdirSync(join(dir, name), { recursive: true });
    for (let i = 0; i < perClass; i++) {
      const [width, height] = SIZES[(i + name.length) % SIZES.length];
      const format = FORMATS[i % FORMATS.length];
      const image = sharp(classImage(rng, CLASS_COLOURS[name] ?? [128, 128, 128], width, height), { raw: { width, height, channels: 3 } });
      const encoded = format === 'png' ? image.png() : format === 'jpg' ? image.jpeg({ quality: 90 }) : image.webp({ lossless: true });
      await encoded.toFile(join(dir, name, `${String(i).padStart(3, '0')}.${format}`));
    }
  }
  return dir;
}

/** Conv(3→8, 3×3) + Relu + GlobalAveragePool + Flatten + Gemm head (8→classes), on [batch, 3, H, W] images. */
export function imageCnn(classes: number, size: [Dim, Dim] = [16, 16], seed = 3): ModelProto {
  const rng = new Rng(seed);
  const values = (n: number, scale: number) => Float32Array.from({ length: n }, () => Math.fround(rng.normal() * scale));
  const F = 8;
  const nodes = [
    makeNode('Conv', ['image', 'conv.weight', 'conv.bias'], ['c'], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, 'conv'),
    makeNode('Relu', ['c'], ['r'], {}, 'relu'),
    makeNode('GlobalAveragePool', ['r'], ['g'], {}, 'pool'),
    makeNode('Flatten', ['g'], ['f'], {}, 'flatten'),
    makeNode('Gemm', ['f', 'head.weight', 'head.bias'], ['logits'], { transB: 1 }, 'head'),
  ];
  const initializers = [
    makeTensor('conv.weight', DataType.FLOAT, [F, 3, 3, 3], values(F * 27, 0.3)),
    makeTensor('conv.bias', DataType.FLOAT, [F], values(F, 0.1)),
    makeTensor('head.weight', DataType.FLOAT, [classes, F], values(classes * F, 0.3)),
    makeTensor('head.bias', DataType.FLOAT, [classes], new Float32Array(classes)),
  ];
  return makeModel(makeGraph(nodes, 'image-cnn', [makeValueInfo('image', DataType.FLOAT, ['batch', 3, ...size])], [makeValueInfo('logits', DataType.FLOAT, ['batch', classes])], initializers), { opset: 17 });
}
