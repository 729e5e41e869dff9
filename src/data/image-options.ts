// The image-folder settings a user gives (--image-size, --mean, --std, --augment), parsed and checked, with
// the defaults torchvision's ImageNet models use.
import { UserError } from '../errors.js';
import { parseDecimal } from '../decimal.js';

export const IMAGENET = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] } as const;
export const AUGMENTATIONS = ['flip', 'crop'] as const;
export type Augmentation = (typeof AUGMENTATIONS)[number];

export interface ImageOptions {
  /** [H, W] asked for with --image-size; otherwise the model input's. */
  size?: [number, number];
  mean: number[];
  std: number[];
  /** Training only; evaluation never augments. */
  augment: Augmentation[];
  /** Augmentation draws are a function of (seed, epoch, example). */
  seed: number;
}

export interface RawImageOptions {
  'image-size'?: string;
  mean?: string;
  std?: string;
  augment?: string;
}

/** The options given on the command line, checked; undefined where none was. */
export function parseImageOptions(raw: RawImageOptions, seed: number): ImageOptions {
  return {
    size: raw['image-size'] === undefined ? undefined : parseSize(raw['image-size']),
    mean: raw.mean === undefined ? [...IMAGENET.mean] : parseTriple('mean', raw.mean, (v) => Number.isFinite(v)),
    std: raw.std === undefined ? [...IMAGENET.std] : parseTriple('std', raw.std, (v) => v > 0 && Number.isFinite(v)),
    augment: raw.augment === undefined ? [] : parseAugment(raw.augment),
    seed,
  };
}

function parseSize(text: string): [number, number] {
  const m = /^\s*(\d+)\s*(?:[xX×]\s*(\d+))?\s*$/.exec(text);
  const [h, w] = m ? [Number(m[1]), Number(m[2] ?? m[1])] : [NaN, NaN];
  if (!(h >= 1 && w >= 1 && h <= 16384 && w <= 16384)) throw new UserError(`--image-size: '${text}' is not H or HxW in pixels (e.g. 224 or 224x160)`);
  return [h, w];
}

function parseTriple(name: string, text: string, ok: (v: number) => boolean): number[] {
  const values = text.split(',').map((s) => parseDecimal(s.trim()));
  if (values.length !== 3 || !values.every((v) => !Number.isNaN(v) && ok(v))) {
    throw new UserError(`--${name}: '${text}' is not three ${name === 'std' ? 'positive ' : ''}numbers separated by commas, one per channel (R,G,B)`);
  }
  return values;
}

function parseAugment(text: string): Augmentation[] {
  const kinds = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const k of kinds) if (!AUGMENTATIONS.includes(k as Augmentation)) throw new UserError(`--augment: unknown augmentation '${k}' (choices: ${AUGMENTATIONS.join(', ')})`);
  return [...new Set(kinds)] as Augmentation[];
}
