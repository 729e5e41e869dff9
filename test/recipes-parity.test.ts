// One full run per recipe family against PyTorch on the torch-seed fixture (shuffle off, batches of 64, 10
// epochs of full fine-tuning; test/fixtures/torch-schedules/recipes.json from scripts/make-schedule-fixtures.py),
// with parity.test.ts's tolerances: same accuracy, losses within 1e-4 relative, parameters within 1e-4.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { train, DEFAULT_TRAIN_CONFIG, type TrainConfig } from '../src/train/trainer.js';
import { fullFineTune, type Plan, type Stage } from '../src/train/strategies.js';
import { withRecipe, type RecipeOptions } from '../src/train/stage-recipe.js';
import { LOSSES } from '../src/losses/index.js';
import { crossEntropyLoss } from '../src/losses/cross-entropy.js';
import { parametersInGraphOrder } from '../src/optim/layer-decay.js';
import { fixturePath, loadFixture, maxParameterDifference, maxRelativeDifference } from './util/fixtures.js';
import { withHead } from './util/heads.js';

interface Result { accuracy: number; epoch_losses: number[]; params: Record<string, number[]>; head_init?: Record<string, number[]> }
const expected = JSON.parse(readFileSync(fixturePath('torch-schedules', 'recipes.json'), 'utf8')).results as Record<string, Result>;
const seed = loadFixture('torch-seed');
const names = parametersInGraphOrder(seed.model);
const config: TrainConfig = { ...DEFAULT_TRAIN_CONFIG, loss: LOSSES.bce, shuffle: false, batchSize: 64, testBatchSize: 128 };

const plan = (lr: number, stage: Partial<Stage> = {}, recipe: RecipeOptions = {}): Plan => {
  const p = withRecipe(fullFineTune({ lr, epochs: 10 }), names, recipe);
  return { ...p, stages: p.stages.map((s) => ({ ...s, ...stage })) };
};

const families: Record<string, { plan: Plan; config?: Partial<TrainConfig>; model?: typeof seed.model }> = {
  warmup_cosine: { plan: plan(3e-3, { schedule: { kind: 'warmup-cosine', warmupRatio: 0.1 } }) },
  onecycle: { plan: plan(1e-2, { schedule: { kind: 'onecycle' } }) },
  discriminative: { plan: plan(3e-3, {}, { lrDecay: { decay: 0.8, head: 'head.*' }, noDecay: ['bias'] }), config: { optimizer: 'adamw', weightDecay: 0.01 } },
  clipping: { plan: plan(0.1, { clipNorm: 0.2 }), config: { optimizer: 'sgd' } },
  accumulation: { plan: plan(3e-3, { accumulate: 4 }) },
  label_smoothing: {
    plan: plan(3e-3), config: { loss: crossEntropyLoss(0.1) },
    model: withHead(seed.model, expected.label_smoothing.head_init!['head.weight'], expected.label_smoothing.head_init!['head.bias']),
  },
};

describe('recipes: parity with PyTorch on the torch-seed fixture', () => {
  for (const [family, f] of Object.entries(families)) {
    it(`${family}: same accuracy, losses within 1e-4 relative, parameters within 1e-4`, async () => {
      const result = await train(f.model ?? seed.model, f.plan, { train: seed.train, test: seed.test }, { ...config, ...f.config });
      const want = expected[family];
      expect(result.accuracy).to.equal(want.accuracy);
      expect(maxRelativeDifference(want.epoch_losses, result.epochLosses)).to.be.below(1e-4);
      const diff = maxParameterDifference(want.params, result.parameters);
      expect(diff.max, diff.name).to.be.below(1e-4);
    });
  }

  it('discriminative: the groups are the head at lr, backbone.2 at lr × 0.8, backbone.0 at lr × 0.64, biases without decay', () => {
    const groups = families.discriminative.plan.stages[0].groups;
    expect(groups.map((g) => [g.params, g.lr, g.weightDecay])).to.deep.equal([
      [['head\\.weight'], 3e-3, undefined], [['head\\.bias'], 3e-3, 0],
      [['backbone\\.2\\.weight'], 3e-3 * 0.8, undefined], [['backbone\\.2\\.bias'], 3e-3 * 0.8, 0],
      [['backbone\\.0\\.weight'], 3e-3 * 0.8 ** 2, undefined], [['backbone\\.0\\.bias'], 3e-3 * 0.8 ** 2, 0],
    ]);
  });
});
