// The frozen prefix's features are cached for every example only while that costs little memory: past 64 MiB,
// and more than the data they replace, each step runs the frozen layers instead (a 2,000,000-row CSV's linear
// probe stays under 300 MB). A graph without a prefix is what full fine-tunes train with already.
import { expect } from 'chai';
import { buildArtifacts } from '../src/artifacts/build.js';
import { stageExamples } from '../src/train/prefix-features.js';
import { DEFAULT_TRAIN_CONFIG } from '../src/train/trainer.js';
import { LOSSES } from '../src/losses/index.js';
import { singleInputDataset } from '../src/data/dataset.js';
import { loadFixture } from './util/fixtures.js';
import { Rng } from '../src/train/rng.js';

const seed = loadFixture('torch-seed');
const rows = (count: number, from = 0) => {
  const rng = new Rng(3 + from);
  return singleInputDataset('generated', 'x', [10], Float32Array.from({ length: count * 10 }, () => rng.normal()), Float64Array.from({ length: count }, () => (rng.next() < 0.5 ? 0 : 1)));
};
const head = ['head.weight', 'head.bias'];
const build = (notPerExample: ReadonlySet<string>, splitPrefix?: boolean) => buildArtifacts(seed.model, head, LOSSES.bce, { notPerExample, splitPrefix });

describe('the frozen-prefix feature cache', function () {
  this.timeout(120_000);

  it('caches a small data set\'s features, and not 1,100,000 rows\' (70 MB of features for 44 MB of data)', async () => {
    const small = await stageExamples(build, rows(1000), DEFAULT_TRAIN_CONFIG);
    expect(small.artifacts.prefix).to.not.equal(undefined);
    expect(Object.values(small.examples.inputs)[0].shape).to.deep.equal([16]); // the backbone's features
    const large = await stageExamples(build, rows(1_100_000), DEFAULT_TRAIN_CONFIG);
    expect(large.artifacts.prefix).to.equal(undefined);
    expect(Object.values(large.examples.inputs)[0].shape).to.deep.equal([10]); // the data itself
  });
});
