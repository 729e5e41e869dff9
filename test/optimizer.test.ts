// The optimizer layer: PyTorch's update formulas (golden values derived by hand) and parameter groups.
import { expect } from 'chai';
import { Optimizer } from '../src/optim/optimizer.js';
import { resolveGroups } from '../src/optim/groups.js';

const one = (values: number[]) => Float32Array.from(values);
const step = (opt: Optimizer, p: Float32Array, g: number[]) => opt.step(new Map([['w', p]]), new Map([['w', one(g)]]));

describe('optimizers (PyTorch update rules)', () => {
  it('adam_first_step: bias correction makes the first update lr * sign(g)', () => {
    // m = 0.1 * 0.5 = 0.05, v = 0.001 * 0.25 = 2.5e-4; m̂ = 0.05 / 0.1 = 0.5, √v̂ = √(2.5e-4 / 0.001) = 0.5
    // p = 1 - 0.1 * 0.5 / (0.5 + 1e-8) = 0.9 (within float32 rounding)
    const p = one([1]);
    step(new Optimizer('adam', [{ params: 'w', lr: 0.1 }], ['w']), p, [0.5]);
    expect(p[0]).to.be.closeTo(0.9, 1e-7);
  });

  it('adam_second_step: moments accumulate with bias correction', () => {
    // step 2 with g = 0.25: m = 0.9*0.05 + 0.1*0.25 = 0.07, v = 0.999*2.5e-4 + 0.001*0.0625 = 3.1225e-4
    // m̂ = 0.07 / 0.19 = 0.368421, √v̂ = √(3.1225e-4 / 0.001999) = 0.395224; p = 0.9 - 0.1 * 0.932185 = 0.806782
    const p = one([1]);
    const opt = new Optimizer('adam', [{ params: 'w', lr: 0.1 }], ['w']);
    step(opt, p, [0.5]);
    step(opt, p, [0.25]);
    expect(p[0]).to.be.closeTo(0.806782, 1e-6);
    expect(opt.state.get('w')!.step).to.equal(2);
  });

  it('adam_weight_decay: L2 added to the gradient (coupled)', () => {
    // g' = 0.5 + 0.1 * 1 = 0.6; first step is still lr * sign(g') = 0.1: p = 0.9
    const p = one([1]);
    step(new Optimizer('adam', [{ params: 'w', lr: 0.1, weightDecay: 0.1 }], ['w']), p, [0.5]);
    expect(p[0]).to.be.closeTo(0.9, 1e-7);
  });

  it('adamw_decoupled_decay: p shrinks by lr * wd before the Adam step', () => {
    // p = 1 * (1 - 0.1 * 0.5) = 0.95, then - 0.1 → 0.85
    const p = one([1]);
    step(new Optimizer('adamw', [{ params: 'w', lr: 0.1, weightDecay: 0.5 }], ['w']), p, [0.5]);
    expect(p[0]).to.be.closeTo(0.85, 1e-6);
  });

  it('sgd_plain: p -= lr * g', () => {
    const p = one([1, -2]);
    step(new Optimizer('sgd', [{ params: 'w', lr: 0.5 }], ['w']), p, [0.25, -1]);
    expect(Array.from(p)).to.deep.equal([0.875, -1.5]);
  });

  it('sgd_momentum: buffer starts at the first gradient, then mu * buf + g', () => {
    // step 1: buf = 1, p = 1 - 0.1 = 0.9; step 2: buf = 0.9 * 1 + 1 = 1.9, p = 0.9 - 0.19 = 0.71
    const p = one([1]);
    const opt = new Optimizer('sgd', [{ params: 'w', lr: 0.1, momentum: 0.9 }], ['w']);
    step(opt, p, [1]);
    step(opt, p, [1]);
    expect(p[0]).to.be.closeTo(0.71, 1e-6);
  });

  it('sgd_nesterov: the step uses g + mu * buf', () => {
    // step 1: buf = 1, d = 1 + 0.9 = 1.9, p = 1 - 0.19 = 0.81
    const p = one([1]);
    step(new Optimizer('sgd', [{ params: 'w', lr: 0.1, momentum: 0.9, nesterov: true }], ['w']), p, [1]);
    expect(p[0]).to.be.closeTo(0.81, 1e-6);
  });
});

describe('parameter groups', () => {
  const names = ['backbone.0.weight', 'backbone.0.bias', 'backbone.2.weight', 'backbone.2.bias', 'head.weight', 'head.bias'];

  it('selects parameters by glob and fills missing keys from defaults', () => {
    const groups = resolveGroups([{ params: 'head.*', lr: 0.01 }, { params: 'backbone.2.*' }], names, { lr: 0.001, weightDecay: 0.1 });
    expect(groups[0].params).to.deep.equal(['head.weight', 'head.bias']);
    expect(groups[0].lr).to.equal(0.01);
    expect(groups[1].params).to.deep.equal(['backbone.2.weight', 'backbone.2.bias']);
    expect(groups[1].lr).to.equal(0.001);
    expect(groups[1].weightDecay).to.equal(0.1);
    expect(groups[1].betas).to.deep.equal([0.9, 0.999]);
  });

  it('rejects a parameter in two groups, naming it', () => {
    expect(() => resolveGroups([{ params: 'head.*' }, { params: 'head.bias' }], names)).to.throw(/'head.bias' is in two parameter groups/);
  });

  it('rejects a glob that matches nothing, naming it', () => {
    expect(() => resolveGroups([{ params: 'backbone.9.*' }], names)).to.throw(/'backbone.9.\*' matches no parameter/);
  });

  it('rejects a non-positive learning rate', () => {
    expect(() => resolveGroups([{ params: 'head.*', lr: 0 }], names)).to.throw(/learning rate must be a positive number/);
  });

  it('keeps fresh state per optimizer and keys it by parameter name', () => {
    const opt = new Optimizer('adam', [{ params: 'head.*', lr: 0.01 }], names);
    const params = new Map([['head.weight', one([1, 2])], ['head.bias', one([0])]]);
    opt.step(params, new Map([['head.weight', one([0.1, 0.2])], ['head.bias', one([0.3])]]));
    expect([...opt.state.keys()]).to.deep.equal(['head.weight', 'head.bias']);
    expect(new Optimizer('adam', [{ params: 'head.*' }], names).state.size).to.equal(0);
  });
});

describe('Adam in the WebAssembly kernel', () => {
  it('gives the same bits as the JavaScript loop: adam and adamw, weight decay, two groups at two learning rates', async () => {
    const { train, DEFAULT_TRAIN_CONFIG } = await import('../src/train/trainer.js');
    const { partialUnfreeze } = await import('../src/train/strategies.js');
    const { LOSSES } = await import('../src/losses/index.js');
    const { loadFixture } = await import('./util/fixtures.js');
    const seed = loadFixture('torch-seed');
    const plan = partialUnfreeze({ headLr: 0.01, headEpochs: 1, unfreeze: 'backbone.*', backboneLr: 0.003, epochs: 2 });
    for (const optimizer of ['adam', 'adamw'] as const) {
      const config = { ...DEFAULT_TRAIN_CONFIG, loss: LOSSES.bce, optimizer, weightDecay: 0.05 };
      const loop = await train(seed.model, plan, { train: seed.train, test: seed.test }, { ...config, adamInJavaScript: true });
      const kernel = await train(seed.model, plan, { train: seed.train, test: seed.test }, config);
      for (const [name, values] of loop.parameters) {
        expect(Buffer.from(kernel.parameters.get(name)!.buffer).equals(Buffer.from(values.buffer)), `${optimizer} ${name}`).to.equal(true);
      }
      expect(kernel.epochLosses).to.deep.equal(loop.epochLosses);
    }
  });
});
