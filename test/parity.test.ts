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
const run = (plan: Plan, extra: Partial<TrainConfig> = {}) => train(seed.model, plan, { train: seed.train, test: seed.test }, { ...config, ...extra });

describe('parity with PyTorch on the torch-seed fixture', () => {
  for (const key of ['linear_probe', 'full_fine_tune']) {
    it(`${key}: same accuracy, losses within 1e-4 relative, parameters within 1e-4`, async () => {
      const result = await run(plans[key]);
      const expected = seed.expected.results[key];
      expect(result.accuracy).to.equal(expected.accuracy);
      expect(maxRelativeDifference(expected.epoch_losses, result.epochLosses)).to.be.below(1e-4);
      const diff = maxParameterDifference(expected.params, result.parameters);
      expect(diff.max, diff.name).to.be.below(1e-4);
    });
  }

  // Partial unfreeze meets a float32 tie: at step 143, training row 451's pre-activation of backbone unit 3
  // is +4.2e-8 in exact arithmetic. ONNX Runtime's float32 Gemm gives +1.5e-8 (ReLU open, as float64 says);
  // PyTorch's float32 kernel rounded it to 0 (closed). One sample's gradient then differs, and Adam carries
  // the difference to 3.9e-3 in backbone.2.weight by the end. Everything around the tie is checked strictly.
  const TIE_STEP = 143;

  it('partial_unfreeze: same accuracy; every epoch before the tie within 1e-6 relative', async () => {
    const result = await run(plans.partial_unfreeze);
    const expected = seed.expected.results.partial_unfreeze;
    expect(result.accuracy).to.equal(expected.accuracy);
    const epochsBeforeTie = Math.floor((TIE_STEP - 1) / Math.ceil(seed.train.count / c.batch));
    expect(maxRelativeDifference(expected.epoch_losses.slice(0, epochsBeforeTie), result.epochLosses.slice(0, epochsBeforeTie))).to.be.below(1e-6);
  });

  it('partial_unfreeze: with the tie closed as PyTorch closed it, losses and parameters within 1e-4', async () => {
    // Lower backbone.2.bias[3] by 1e-7 for the forward pass of step 143 only, which closes the ReLU for that
    // one sample (and moves no other pre-activation across zero), then restore it before the update.
    const onStep = (step: number, params: ReadonlyMap<string, Float32Array>) => {
      const bias = params.get('backbone.2.bias')!;
      if (step === TIE_STEP - 1) bias[3] = Math.fround(bias[3] - 1e-7);
      if (step === TIE_STEP) bias[3] = Math.fround(bias[3] + 1e-7);
    };
    const result = await run(plans.partial_unfreeze, { onStep });
    const expected = seed.expected.results.partial_unfreeze;
    expect(result.accuracy).to.equal(expected.accuracy);
    expect(maxRelativeDifference(expected.epoch_losses, result.epochLosses)).to.be.below(1e-4);
    const diff = maxParameterDifference(expected.params, result.parameters);
    expect(diff.max, diff.name).to.be.below(1e-4);
  });
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
