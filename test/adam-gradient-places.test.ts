// A large model's gradients are written by the train session straight into the Adam kernel's memory and
// updated there (src/optim/adam-kernel.ts `gradients`): the same bits as gradients copied in, and a whole
// run the same as the JavaScript loop's, which reads the session's own output arrays.
import { expect } from 'chai';
import { Optimizer } from '../src/optim/optimizer.js';
import { AdamKernel, CHUNK } from '../src/optim/adam-kernel.js';
import { Rng } from '../src/train/rng.js';
import { train, DEFAULT_TRAIN_CONFIG } from '../src/train/trainer.js';
import { fullFineTune } from '../src/train/strategies.js';
import { LOSSES } from '../src/losses/index.js';
import { FLAT_GRADIENTS_MAX_ELEMENTS } from '../src/artifacts/build.js';
import { attachLinearHead } from '../src/model/attach-head.js';
import { buildMlpBackbone } from '../src/model/seed-backbone.js';
import type { Dataset } from '../src/data/dataset.js';

const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

describe('gradients in the Adam kernel\'s memory', () => {
  it('update as gradients copied in do: adam and adamw, with and without weight decay, over several chunks', () => {
    const rng = new Rng(11);
    const shapes = new Map([['a', 2 * CHUNK + 5], ['b', 7], ['c', 1]]);
    const random = (n: number) => Float32Array.from({ length: n }, (_, i) => (i % 97 === 0 ? 0 : rng.normal() * 10 ** Math.floor(rng.next() * 10 - 6)));
    for (const kind of ['adam', 'adamw'] as const) {
      for (const weightDecay of [0, 0.05]) {
        const make = () => new Optimizer(kind, [{ params: 'a', lr: 3e-3 }, { params: ['b', 'c'], lr: 0.1 }], [...shapes.keys()], { weightDecay });
        const [copied, placed] = [make(), make()];
        copied.kernel = AdamKernel.create(shapes);
        const kernel = AdamKernel.create(shapes)!;
        placed.kernel = kernel;
        const places = kernel.gradients;
        const initial = new Map([...shapes].map(([name, n]) => [name, random(n)]));
        const [p1, p2] = [0, 1].map(() => new Map([...initial].map(([name, values]) => [name, values.slice()])));
        for (let step = 0; step < 3; step++) {
          const grads = new Map([...shapes].map(([name, n]) => [name, random(n)]));
          copied.step(p1, grads);
          for (const [name, g] of grads) places.get(name)!.set(g);
          placed.step(p2, places);
        }
        for (const name of shapes.keys()) {
          expect(bits(p2.get(name)!).equals(bits(p1.get(name)!)), `${kind} wd=${weightDecay} ${name}`).to.equal(true);
          expect(bits(placed.state.get(name)!.expAvgSq!).equals(bits(copied.state.get(name)!.expAvgSq!))).to.equal(true);
        }
      }
    }
  });

  it('finds a NaN or an infinity in a gradient where it lies, the last element too', () => {
    const kernel = AdamKernel.create(new Map([['w', CHUNK + 3]]))!;
    const g = kernel.gradients.get('w')!;
    g.fill(0.5);
    expect(kernel.gradientFinite('w')).to.equal(true);
    for (const bad of [NaN, Infinity, -Infinity]) {
      g[g.length - 1] = bad;
      expect(kernel.gradientFinite('w'), String(bad)).to.equal(false);
      g[g.length - 1] = 0.5;
    }
  });

  it('a large model trains to the JavaScript loop\'s bits (the session writes its gradients into the kernel)', async () => {
    const model = attachLinearHead(buildMlpBackbone([512, 256], new Rng(1), 0), 10, new Rng(2));
    const rng = new Rng(4);
    const rows = 96;
    const data: Dataset = { source: 'generated', count: rows, inputs: { x: { shape: [512], values: Float32Array.from({ length: rows * 512 }, () => rng.normal()) } }, labels: Float64Array.from({ length: rows }, () => rng.int(10)) };
    const config = { ...DEFAULT_TRAIN_CONFIG, loss: LOSSES.ce, batchSize: 32 };
    const plan = fullFineTune({ lr: 1e-3, epochs: 2 });
    const [loop, kernel] = [await train(model, plan, { train: data, test: data }, { ...config, adamInJavaScript: true }), await train(model, plan, { train: data, test: data }, config)];
    const elements = [...kernel.parameters.values()].reduce((n, v) => n + v.length, 0);
    expect(elements).to.be.above(FLAT_GRADIENTS_MAX_ELEMENTS);
    for (const [name, values] of loop.parameters) expect(bits(kernel.parameters.get(name)!).equals(bits(values)), name).to.equal(true);
    expect(kernel.epochLosses).to.deep.equal(loop.epochLosses);
  });
});
