// Discriminative rates and no-decay groups as pure functions of a stage's groups: depths by layer in graph
// order (whatever order the initializers are listed in), one group per layer and per decay part.
import { expect } from 'chai';
import { cloneModel } from '../src/artifacts/build.js';
import { layerDecayGroups, layerDepths, parametersInGraphOrder } from '../src/optim/layer-decay.js';
import { isNoDecay, noDecayGroups } from '../src/optim/no-decay.js';
import { resolveGroups } from '../src/optim/groups.js';
import { loadFixture } from './util/fixtures.js';

const digits = loadFixture('torch-digits-cnn');

describe('layer-wise learning rates and no-decay groups', () => {
  it('depths follow the graph, not the initializer list: head 0, then the backbone from its last layer', () => {
    const shuffled = cloneModel(digits.model);
    shuffled.graph.initializer.reverse();
    const names = parametersInGraphOrder(shuffled);
    expect(names).to.deep.equal(['backbone.0.weight', 'backbone.0.bias', 'backbone.3.weight', 'backbone.3.bias', 'backbone.7.weight', 'backbone.7.bias', 'head.weight', 'head.bias']);
    expect([...layerDepths(names, 'head.*')]).to.deep.equal([['head', 0], ['backbone.7', 1], ['backbone.3', 2], ['backbone.0', 3]]);
  });

  it('splits each group by layer, keeping its other settings, at lr × decay^depth', () => {
    const names = parametersInGraphOrder(digits.model);
    const groups = layerDecayGroups([{ params: 'head.*', lr: 0.01 }, { params: 'backbone.[37].*', lr: 0.001, betas: [0.8, 0.99] }], names, 0.5, 'head.*');
    const resolved = resolveGroups(groups, names);
    expect(resolved.map((g) => [g.params, g.lr, g.betas])).to.deep.equal([
      [['head.weight', 'head.bias'], 0.01, [0.9, 0.999]],
      [['backbone.7.weight', 'backbone.7.bias'], 0.0005, [0.8, 0.99]],
      [['backbone.3.weight', 'backbone.3.bias'], 0.00025, [0.8, 0.99]],
    ]);
  });

  it('no-decay globs match the full name or its last part; each group splits into a decaying and a weight-decay-0 part', () => {
    expect(isNoDecay('head.bias', ['bias'])).to.equal(true);
    expect(isNoDecay('encoder.layernorm.weight', ['*norm*'])).to.equal(true);
    expect(isNoDecay('encoder.layer.0.weight', ['bias', '*norm*'])).to.equal(false);
    const names = parametersInGraphOrder(digits.model);
    const groups = resolveGroups(noDecayGroups([{ params: 'head.*', lr: 0.01, weightDecay: 0.05 }, { params: 'backbone.7.bias', lr: 0.001 }], names, ['bias']), names, { weightDecay: 0.01 });
    expect(groups.map((g) => [g.params, g.lr, g.weightDecay])).to.deep.equal([
      [['head.weight'], 0.01, 0.05], [['head.bias'], 0.01, 0], [['backbone.7.bias'], 0.001, 0],
    ]);
  });
});
