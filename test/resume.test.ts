// Exact resume at the library level: a run continued from any snapshot finishes bit-identical to one that
// never stopped; non-finite values stop the run or skip the batch; an abort signal ends it with a snapshot.
import { expect } from 'chai';
import { train, DEFAULT_TRAIN_CONFIG, InterruptedError, NonFiniteError, type RunSnapshot, type TrainConfig } from '../src/train/trainer.js';
import { fullFineTune, partialUnfreeze } from '../src/train/strategies.js';
import { LOSSES } from '../src/losses/index.js';
import { loadFixture } from './util/fixtures.js';

const seed = loadFixture('torch-seed');
const data = { train: seed.train, test: seed.test };
const plan = partialUnfreeze({ headLr: 0.01, headEpochs: 2, unfreeze: 'backbone.2.*', backboneLr: 0.001, epochs: 2 });
const config: TrainConfig = { ...DEFAULT_TRAIN_CONFIG, loss: LOSSES.bce, shuffle: true, seed: 5 };
const bytesOf = (params: ReadonlyMap<string, Float32Array>) => Buffer.concat([...params].map(([, v]) => Buffer.from(v.buffer, v.byteOffset, v.byteLength)));

describe('snapshots and exact resume', () => {
  it('resuming from a snapshot mid-epoch, at an epoch end and between stages gives bit-identical results', async () => {
    // Adam in the JavaScript loop, then in the WebAssembly kernel, whose moments live in its own memory.
    for (const adamInJavaScript of [true, false]) {
      const snapshots: RunSnapshot[] = [];
      const whole = await train(seed.model, plan, data, { ...config, adamInJavaScript, snapshotEvery: 1, onSnapshot: (s) => snapshots.push(s) });
      expect(snapshots.length).to.equal(whole.steps);
      // step 7: mid-epoch in stage 1; 15: end of epoch 1; 30: end of stage 1 (between stages); 38: mid-epoch in stage 2
      for (const at of [7, 15, 30, 38]) {
        const resumed = await train(seed.model, plan, data, { ...config, adamInJavaScript, resume: snapshots[at - 1] });
        const label = `resumed after step ${at}${adamInJavaScript ? '' : ', kernel'}`;
        expect(bytesOf(resumed.parameters).equals(bytesOf(whole.parameters)), label).to.equal(true);
        expect(resumed.epochLosses, label).to.deep.equal(whole.epochLosses);
        expect(resumed.steps).to.equal(whole.steps);
        expect(resumed.accuracy).to.equal(whole.accuracy);
      }
    }
  });

  it('snapshots by default at the end of each epoch', async () => {
    const at: number[] = [];
    await train(seed.model, plan, data, { ...config, onSnapshot: (s) => at.push(s.steps) });
    expect(at).to.deep.equal([15, 30, 45, 60]);
  });

  it('refuses a snapshot of another strategy', async () => {
    const snapshots: RunSnapshot[] = [];
    await train(seed.model, plan, data, { ...config, onSnapshot: (s) => snapshots.push(s) });
    try {
      await train(seed.model, fullFineTune({ lr: 0.01, epochs: 1 }), data, { ...config, resume: snapshots[0] });
      expect.fail('expected an error');
    } catch (e) {
      expect((e as Error).message).to.match(/snapshot is of a partial_unfreeze run, not full_fine_tune/);
    }
  });

  it('stops at a non-finite loss, naming stage, epoch and step, with the parameters of the last good step', async () => {
    const huge = fullFineTune({ lr: 1e6, epochs: 3 }); // SGD at lr 1e6 overflows within a few steps
    const snapshots: RunSnapshot[] = [];
    try {
      await train(seed.model, huge, data, { ...config, optimizer: 'sgd', snapshotEvery: 1, onSnapshot: (s) => snapshots.push(s) });
      expect.fail('expected an error');
    } catch (e) {
      expect(e).to.be.instanceOf(NonFiniteError);
      expect((e as Error).message).to.match(/non-finite loss or gradient at stage 1 \(all\), epoch \d+, step \d+ of 15/);
    }
    for (const s of snapshots) for (const v of s.parameters.values()) expect(v.every(Number.isFinite)).to.equal(true);
  });

  it('skips non-finite batches with onNonFinite: skip-batch and counts them', async () => {
    const result = await train(seed.model, fullFineTune({ lr: 1e6, epochs: 2 }), data, { ...config, optimizer: 'sgd', onNonFinite: 'skip-batch' });
    expect(result.skippedBatches).to.be.greaterThan(0);
    for (const v of result.parameters.values()) expect(v.every(Number.isFinite)).to.equal(true);
  });

  it('an aborted run offers a snapshot and throws InterruptedError; resuming it finishes identically', async () => {
    const whole = await train(seed.model, plan, data, config);
    const controller = new AbortController();
    let last: RunSnapshot | undefined;
    try {
      await train(seed.model, plan, data, { ...config, onStep: (step) => step === 20 && controller.abort(), signal: controller.signal, onSnapshot: (s) => (last = s) });
      expect.fail('expected an interruption');
    } catch (e) {
      expect(e).to.be.instanceOf(InterruptedError);
    }
    expect(last!.steps).to.equal(20);
    const resumed = await train(seed.model, plan, data, { ...config, resume: last });
    expect(bytesOf(resumed.parameters).equals(bytesOf(whole.parameters))).to.equal(true);
  });
});
