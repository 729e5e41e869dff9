// The WebAssembly Adam kernel: the module is the one its text assembles to, and it gives the JavaScript
// loop's bits on arrays that span several chunks and end mid-vector.
import { expect } from 'chai';
import { Optimizer } from '../src/optim/optimizer.js';
import { AdamKernel, allFinite, CHUNK } from '../src/optim/adam-kernel.js';
import { ADAM_KERNEL_WASM } from '../src/optim/adam-kernel-wasm.js';
import { assembleAdamKernel } from '../scripts/wasm.js';
import { Rng } from '../src/train/rng.js';

const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

describe('the WebAssembly Adam kernel', () => {
  it('is what adam-kernel.wat assembles to (npm run wasm regenerates it)', async () => {
    expect(Buffer.from(await assembleAdamKernel()).toString('base64')).to.equal(ADAM_KERNEL_WASM);
  });

  it('gives the JavaScript loop\'s bits: adam and adamw, with and without weight decay, two groups', () => {
    const rng = new Rng(5);
    // 'a' spans 3 chunks and ends mid-vector, 'd' fits one chunk; values from tiny (subnormal products) to
    // large, and exact zeros.
    const shapes = new Map([['a', CHUNK * 2 + 4093], ['b', 7], ['c', 1], ['d', 1001]]);
    const random = (n: number) => Float32Array.from({ length: n }, (_, i) => (i % 97 === 0 ? 0 : rng.normal() * 10 ** Math.floor(rng.next() * 12 - 8)));
    for (const kind of ['adam', 'adamw'] as const) {
      for (const weightDecay of [0, 0.05]) {
        const groups = [{ params: 'a', lr: 3e-3 }, { params: ['b', 'c', 'd'], lr: 0.1, betas: [0.8, 0.99] as [number, number] }];
        const loop = new Optimizer(kind, groups, [...shapes.keys()], { weightDecay });
        const kernel = new Optimizer(kind, groups, [...shapes.keys()], { weightDecay });
        kernel.kernel = AdamKernel.create(shapes);
        expect(kernel.kernel).to.not.equal(undefined);
        const initial = new Map([...shapes].map(([name, n]) => [name, random(n)]));
        const [p1, p2] = [0, 1].map(() => new Map([...initial].map(([name, values]) => [name, values.slice()])));
        for (let step = 0; step < 3; step++) {
          const grads = new Map([...shapes].map(([name, n]) => [name, random(n)]));
          loop.step(p1, grads);
          kernel.step(p2, grads);
        }
        for (const name of shapes.keys()) {
          const label = `${kind} wd=${weightDecay} ${name}`;
          expect(bits(p2.get(name)!).equals(bits(p1.get(name)!)), label).to.equal(true);
          expect(bits(kernel.state.get(name)!.expAvg!).equals(bits(loop.state.get(name)!.expAvg!)), `${label} m`).to.equal(true);
          expect(bits(kernel.state.get(name)!.expAvgSq!).equals(bits(loop.state.get(name)!.expAvgSq!)), `${label} v`).to.equal(true);
        }
      }
    }
  });

  it('allFinite finds a NaN or an infinity anywhere, the last element too', () => {
    const n = CHUNK * 3 + 5;
    const values = Float32Array.from({ length: n }, (_, i) => (i % 2 ? 3.4e38 : -1e-45));
    expect(allFinite(values)).to.equal(true);
    for (const bad of [NaN, Infinity, -Infinity]) {
      for (const at of [0, CHUNK - 1, CHUNK, n - 1]) {
        const copy = values.slice();
        copy[at] = bad;
        expect(allFinite(copy), `${bad} at ${at}`).to.equal(false);
      }
    }
  });
});
