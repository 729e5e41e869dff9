// PyTorch's CPU generator reproduced bit for bit: every sequence here was drawn by torch itself
// (scripts/make-torch-rng-fixtures.py; the fixture records the torch version) and is compared as float32 bits.
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dataLoaderEpoch, torchLinear, TorchGenerator } from '../src/train/torch-rng.js';
import { checkOrderState } from '../src/train/rng.js';

const fixture = JSON.parse(readFileSync(new URL('../../test/fixtures/torch-rng/generator.json', import.meta.url), 'utf8'));
const bitsOf = (values: Float32Array) => Array.from(new Uint32Array(values.buffer, values.byteOffset, values.length));
const randn = (g: TorchGenerator, size: number) => bitsOf(g.normalFill(new Float32Array(size)));

describe(`torch generator (fixtures from torch ${fixture.torch}, ${fixture.capability})`, () => {
  for (const [shape, expected] of Object.entries(fixture.randn) as [string, number[]][]) {
    const size = shape.split('x').map(Number).reduce((a, b) => a * b);
    it(`manual_seed(17); randn(${shape.replace('x', ', ')}) ${size < 16 ? '(scalar Box-Muller in double)' : '(vectorized, 16 at a time)'}`, () => {
      expect(randn(new TorchGenerator(17), size)).to.deep.equal(expected);
    });
  }

  it('randn calls in a row use up the scalar path\'s cached sample where PyTorch does', () => {
    const g = new TorchGenerator(5);
    const sizes = [1, 3, 16, 1, 17, 2];
    expect(sizes.map((n) => randn(g, n))).to.deep.equal(fixture.randn_chain_seed5);
  });

  it('rand(40) and uniform_(-0.3, 0.7)', () => {
    expect(bitsOf(new TorchGenerator(17).uniformFill(new Float32Array(40)))).to.deep.equal(fixture.rand40);
    expect(bitsOf(new TorchGenerator(17).uniformFill(new Float32Array(20), -0.3, 0.7))).to.deep.equal(fixture['uniform20_-0.3_0.7']);
  });

  it('empty((), dtype=int64).random_() four times', () => {
    const g = new TorchGenerator(17);
    expect([0, 1, 2, 3].map(() => String(g.int64()))).to.deep.equal(fixture.int64_random4);
  });

  it('manual_seed keeps the low 32 bits of a larger seed', () => {
    expect(bitsOf(new TorchGenerator((2 ** 40 + 17) % 2 ** 32).uniformFill(new Float32Array(4)))).to.deep.equal(fixture['rand4_seed_2^40+17']);
  });

  it('randperm(900, generator=Generator().manual_seed(17))', () => {
    expect(Array.from(new TorchGenerator(17).randperm(900))).to.deep.equal(fixture.randperm900);
  });

  it('random_split(range(1200), [900, 300], generator=Generator().manual_seed(17))', () => {
    const perm = Array.from(new TorchGenerator(17).randperm(1200));
    expect([perm.slice(0, 900), perm.slice(900)]).to.deep.equal(fixture.random_split_900_300);
  });

  it('DataLoader(range(900), batch_size=64, shuffle=True): two epochs, and the global generator after them', () => {
    const global = new TorchGenerator(17);
    const epochs = [0, 1].map(() => Array.from(dataLoaderEpoch(global, 900)));
    expect(epochs).to.deep.equal(fixture.dataloader_900_batch64_two_epochs);
    expect(bitsOf(global.uniformFill(new Float32Array(3)))).to.deep.equal(fixture.rand3_after_loader);
  });

  it('nn.Linear(10, 32) after manual_seed(17): kaiming_uniform_(a=√5) weight, U(±1/√10) bias', () => {
    const { weight, bias } = torchLinear(new TorchGenerator(17), 10, 32);
    expect({ weight: bitsOf(weight), bias: bitsOf(bias) }).to.deep.equal(fixture.linear_10_32);
  });

  it('long runs hash the same as torch\'s: randn(1000003), uniform_(-0.05, 0.05) on 100000, nn.Linear(512, 256)', () => {
    const sha = (...parts: Float32Array[]) => {
      const h = createHash('sha256');
      for (const p of parts) h.update(new Uint8Array(p.buffer, p.byteOffset, p.byteLength));
      return h.digest('hex');
    };
    const { weight, bias } = torchLinear(new TorchGenerator(5), 512, 256);
    expect({
      randn_1000003_seed3: sha(new TorchGenerator(3).normalFill(new Float32Array(1_000_003))),
      'uniform_100000_-0.05_0.05_seed4': sha(new TorchGenerator(4).uniformFill(new Float32Array(100_000), -0.05, 0.05)),
      linear_512_256_seed5: sha(weight, bias),
    }).to.deep.equal(fixture.sha256);
  });

  it('a resumed torch state must be a position the run reaches (a forged one is not replayed for billions of words)', () => {
    const stages = [{ epochs: 5 }, { epochs: 8 }];
    // From 100 words: 13 shuffled epochs of 4 words and one stage boundary of 2.
    for (const ok of [100, 154]) expect(() => checkOrderState('torch', ok, 100, stages, 'ckpt.onnx: checkpoint')).to.not.throw();
    expect(() => checkOrderState('torch', 155, 100, stages, 'ckpt.onnx: checkpoint')).to.throw("ckpt.onnx: checkpoint: rngState 155 is not a position of this run's generator (100 to 154 words after torch.manual_seed)");
    expect(() => checkOrderState('torch', 4294967295, 100, stages)).to.throw(/rngState 4294967295/);
    expect(() => checkOrderState('torch', 99, 100, stages)).to.throw(/rngState 99/);
    expect(() => checkOrderState('mulberry32', 4294967295, 0, stages)).to.not.throw();
  });

  it('a generator rebuilt from (seed, words drawn) continues the same stream', () => {
    const g = new TorchGenerator(17);
    g.normalFill(new Float32Array(1200));
    dataLoaderEpoch(g, 900);
    const copy = TorchGenerator.at(17, g.drawn);
    expect(bitsOf(copy.uniformFill(new Float32Array(5)))).to.deep.equal(bitsOf(g.uniformFill(new Float32Array(5))));
  });
});
