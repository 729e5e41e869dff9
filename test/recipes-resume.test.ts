// Exact resume through the recipes: a run with a OneCycle schedule, gradient accumulation and clipping,
// continued from a snapshot (and from a checkpoint file's bytes) mid-schedule and mid-accumulation-group,
// finishes bit-identical to the run that never stopped; a tampered accumulation is refused in one line.
import { expect } from 'chai';
import { train, DEFAULT_TRAIN_CONFIG, type RunSnapshot, type TrainConfig } from '../src/train/trainer.js';
import { partialUnfreeze, type Plan } from '../src/train/strategies.js';
import { withRecipe } from '../src/train/stage-recipe.js';
import { parametersInGraphOrder } from '../src/optim/layer-decay.js';
import { decodeCheckpoint, encodeCheckpoint } from '../src/checkpoint/checkpoint.js';
import { LOSSES } from '../src/losses/index.js';
import { loadFixture } from './util/fixtures.js';

const seed = loadFixture('torch-seed');
const data = { train: seed.train, test: seed.test };
const names = parametersInGraphOrder(seed.model);
// 15 batches an epoch, 4 per update: updates after batches 4, 8, 12 and 15 (a group of 3).
const plan: Plan = withRecipe(partialUnfreeze({ headLr: 0.01, headEpochs: 2, unfreeze: 'backbone.2.*', backboneLr: 0.001, epochs: 2 }), names,
  { schedule: { kind: 'onecycle' }, accumulate: 4, clipNorm: 0.5, lrDecay: { decay: 0.8, head: 'head.*' } });
const config: TrainConfig = { ...DEFAULT_TRAIN_CONFIG, loss: LOSSES.bce, shuffle: true, seed: 5 };
const bytesOf = (params: ReadonlyMap<string, Float32Array>) => Buffer.concat([...params].map(([, v]) => Buffer.from(v.buffer, v.byteOffset, v.byteLength)));
const identity = { strategy: plan.strategy, plan: plan.stages, settings: {}, model: '', data: '' };

describe('exact resume through schedules and gradient accumulation', () => {
  let snapshots: RunSnapshot[];
  let whole: Awaited<ReturnType<typeof train>>;
  before(async () => {
    snapshots = [];
    whole = await train(seed.model, plan, data, { ...config, snapshotEvery: 1, onSnapshot: (s) => snapshots.push(s) });
  });

  // 6: two batches into a group (stage 1); 15: an epoch's end after a group of 3; 30: between the stages;
  // 37: three batches into a group in stage 2, mid-OneCycle.
  for (const at of [6, 15, 30, 37]) {
    it(`resumed after step ${at} (from the snapshot and from its checkpoint bytes): bit-identical`, async () => {
      const snapshot = snapshots[at - 1];
      if (at === 6 || at === 37) expect(snapshot.accumulation?.batches, 'batches waiting in the group').to.equal(at === 6 ? 2 : 3);
      else expect(snapshot.accumulation).to.equal(undefined);
      const fromFile = decodeCheckpoint(encodeCheckpoint(seed.model, snapshot, identity), 'run.ckpt.onnx').snapshot;
      for (const resume of [snapshot, fromFile]) {
        const resumed = await train(seed.model, plan, data, { ...config, resume });
        expect(bytesOf(resumed.parameters).equals(bytesOf(whole.parameters))).to.equal(true);
        expect(resumed.epochLosses).to.deep.equal(whole.epochLosses);
        expect(resumed.accuracy).to.equal(whole.accuracy);
      }
    });
  }

  it('refuses a snapshot whose accumulation does not fit its position, naming the field', async () => {
    const s = snapshots[5];
    const tampered: RunSnapshot = { ...s, accumulation: { batches: 3, gradients: s.accumulation!.gradients } };
    await train(seed.model, plan, data, { ...config, resume: tampered }).then(() => expect.fail('expected an error'), (e: Error) => {
      expect(e.message).to.equal("resume snapshot field 'accumulation.batches' is 3, not a count of the 2 batches run in the unfinished accumulation group");
    });
    const short: RunSnapshot = { ...s, accumulation: { batches: 2, gradients: new Map([...s.accumulation!.gradients].map(([k, v]) => [k, v.subarray(1)])) } };
    await train(seed.model, plan, data, { ...config, resume: short }).then(() => expect.fail('expected an error'), (e: Error) => {
      expect(e.message).to.match(/^resume snapshot field 'accumulation\.gradients\['head\.weight'\]' has 15 values; parameter 'head\.weight' has 16$/);
    });
  });
});
