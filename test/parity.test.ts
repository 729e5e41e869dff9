// End to end against PyTorch: the torch-seed fixture trained with each strategy, shuffle off, must give
// PyTorch's accuracy, per-epoch losses within 1e-4 relative and final parameters within 1e-4 absolute.
import { expect } from 'chai';
import { train, DEFAULT_TRAIN_CONFIG, type TrainConfig } from '../src/train/trainer.js';
import type { Plan } from '../src/train/strategies.js';
import { LOSSES } from '../src/losses/index.js';
import { fixturePlans, loadFixture, maxParameterDifference, maxRelativeDifference } from './util/fixtures.js';

const seed = loadFixture('torch-seed');
const c = seed.expected.config;
const config: TrainConfig = { ...DEFAULT_TRAIN_CONFIG, loss: LOSSES.bce, shuffle: false, batchSize: c.batch, testBatchSize: c.test_batch };
const plans: Record<string, Plan> = fixturePlans(c);
const run = (plan: Plan) => train(seed.model, plan, { train: seed.train, test: seed.test }, config);

describe('parity with PyTorch on the torch-seed fixture', () => {
  for (const key of ['linear_probe', 'partial_unfreeze', 'full_fine_tune']) {
    it(`${key}: same accuracy, losses within 1e-4 relative, parameters within 1e-4`, async () => {
      const result = await run(plans[key]);
      const expected = seed.expected.results[key];
      expect(result.accuracy).to.equal(expected.accuracy);
      expect(maxRelativeDifference(expected.epoch_losses, result.epochLosses)).to.be.below(1e-4);
      const diff = maxParameterDifference(expected.params, result.parameters);
      expect(diff.max, diff.name).to.be.below(1e-4);
    });
  }
});

// The digits CNN (torch.export, opset 18, external data): PyTorch 2.13 reports accuracy as a float32.
describe('parity with PyTorch on the torch-digits-cnn fixture', () => {
  const digits = loadFixture('torch-digits-cnn');
  const d = digits.expected.config;
  const digitsConfig: TrainConfig = { ...DEFAULT_TRAIN_CONFIG, loss: LOSSES.ce, shuffle: false, batchSize: d.batch };
  const digitsPlans: Record<string, Plan> = fixturePlans(d);
  for (const key of ['linear_probe', 'partial_unfreeze', 'full_fine_tune']) {
    it(`${key}: same accuracy, losses within 1e-4 relative, parameters within 1e-4`, async () => {
      const result = await train(digits.model, digitsPlans[key], { train: digits.train, test: digits.test }, digitsConfig);
      const expected = digits.expected.results[key];
      expect(Math.fround(result.accuracy)).to.equal(expected.accuracy);
      expect(maxRelativeDifference(expected.epoch_losses, result.epochLosses)).to.be.below(1e-4);
      const diff = maxParameterDifference(expected.params, result.parameters);
      expect(diff.max, diff.name).to.be.below(1e-4);
    });
  }
});
