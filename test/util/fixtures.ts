// The PyTorch fixtures copied into the project (test/fixtures/<name>/), read as the tests need them.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { loadModel } from '../../src/onnx/io.js';
import { readCsvDataset } from '../../src/data/csv.js';
import { fullFineTune, linearProbe, partialUnfreeze, type Plan, type BuiltInStrategy } from '../../src/train/strategies.js';

// dist/test/util -> project root
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const fixturePath = (name: string, file: string) => join(ROOT, 'test', 'fixtures', name, file);

export interface Expected {
  config: Record<string, any>;
  results: Record<string, { accuracy: number; epoch_losses: number[]; params: Record<string, number[]> }>;
}

export function loadFixture(name: string) {
  const expected = JSON.parse(readFileSync(fixturePath(name, 'expected.json'), 'utf8')) as Expected;
  const featureShape = expected.config.input_shape as number[] | undefined;
  return {
    expected,
    model: loadModel(fixturePath(name, 'model.onnx')),
    train: readCsvDataset(fixturePath(name, 'train.csv'), { featureShape }),
    test: readCsvDataset(fixturePath(name, 'test.csv'), { featureShape }),
  };
}

/** Largest absolute difference between PyTorch's final parameters and ours. */
export function maxParameterDifference(expected: Record<string, number[]>, actual: ReadonlyMap<string, Float32Array>): { max: number; name: string } {
  let max = 0, name = '';
  for (const [param, values] of Object.entries(expected)) {
    const got = actual.get(param);
    if (!got || got.length !== values.length) throw new Error(`parameter ${param}: missing or wrong size`);
    values.forEach((v, i) => {
      const d = Math.abs(v - got[i]);
      if (d > max) { max = d; name = param; }
    });
  }
  return { max, name };
}

export function maxRelativeDifference(expected: number[], actual: number[]): number {
  if (expected.length !== actual.length) throw new Error(`length ${actual.length}, expected ${expected.length}`);
  return Math.max(...expected.map((e, i) => Math.abs(e - actual[i]) / Math.abs(e)));
}

/** The three strategies with a fixture's hyperparameters (its expected.json config). */
export function fixturePlans(config: Expected['config']): Record<BuiltInStrategy, Plan> {
  const { probe, partial, full } = config;
  return {
    linear_probe: linearProbe({ lr: probe.lr, epochs: probe.epochs }),
    partial_unfreeze: partialUnfreeze({ headLr: partial.head_lr, headEpochs: partial.head_epochs, unfreeze: partial.unfreeze, backboneLr: partial.backbone_lr, epochs: partial.epochs }),
    full_fine_tune: fullFineTune({ lr: full.lr, epochs: full.epochs }),
  };
}
