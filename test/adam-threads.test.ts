// Adam over several threads (adam-kernel-threads.ts) gives the single-threaded kernel's bits, and the
// JavaScript loop's: parameters split mid-vector between threads, tiny ones, weight decay both ways.
import { expect } from 'chai';
import { Optimizer } from '../src/optim/optimizer.js';
import { AdamKernel } from '../src/optim/adam-kernel.js';
import { ThreadedAdamKernel } from '../src/optim/adam-kernel-threads.js';
import { ADAM_KERNEL_SHARED_WASM } from '../src/optim/adam-kernel-wasm.js';
import { assembleAdamKernel } from '../scripts/wasm.js';
import { Rng } from '../src/train/rng.js';

const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

describe('Adam over several threads', () => {
  it('its module is what adam-kernel.wat assembles to over a shared memory (npm run wasm regenerates it)', async () => {
    expect(Buffer.from(await assembleAdamKernel(true)).toString('base64')).to.equal(ADAM_KERNEL_SHARED_WASM);
  });

  it('gives the single-threaded kernel\'s bits and the JavaScript loop\'s, on 2 and 3 threads', async () => {
    const rng = new Rng(9);
    // 'a' splits mid-vector between threads (odd length), 'b'..'d' are smaller than one vector per thread.
    const shapes = new Map([['a', 300_001], ['b', 7], ['c', 1], ['d', 13]]);
    const random = (n: number) => Float32Array.from({ length: n }, (_, i) => (i % 89 === 0 ? 0 : rng.normal() * 10 ** Math.floor(rng.next() * 12 - 8)));
    for (const threads of [2, 3]) {
      for (const kind of ['adam', 'adamw'] as const) {
        for (const weightDecay of [0, 0.05]) {
          const groups = [{ params: 'a', lr: 3e-3 }, { params: ['b', 'c', 'd'], lr: 0.1, betas: [0.8, 0.99] as [number, number] }];
          const make = () => new Optimizer(kind, groups, [...shapes.keys()], { weightDecay });
          const [loop, single, several] = [make(), make(), make()];
          single.kernel = AdamKernel.create(shapes);
          several.kernel = ThreadedAdamKernel.create(shapes, threads);
          expect(several.kernel, 'WebAssembly threads').to.not.equal(undefined);
          const initial = new Map([...shapes].map(([name, n]) => [name, random(n)]));
          const copies = [0, 1, 2].map(() => new Map([...initial].map(([name, values]) => [name, values.slice()])));
          for (let step = 0; step < 3; step++) {
            const grads = new Map([...shapes].map(([name, n]) => [name, random(n)]));
            [loop, single, several].forEach((o, i) => o.step(copies[i], grads));
          }
          await several.kernel!.release();
          for (const name of shapes.keys()) {
            const label = `${threads} threads ${kind} wd=${weightDecay} ${name}`;
            for (const [i, other] of [loop, single].entries()) {
              expect(bits(copies[2].get(name)!).equals(bits(copies[i].get(name)!)), `${label} p`).to.equal(true);
              expect(bits(several.state.get(name)!.expAvg!).equals(bits(other.state.get(name)!.expAvg!)), `${label} m`).to.equal(true);
              expect(bits(several.state.get(name)!.expAvgSq!).equals(bits(other.state.get(name)!.expAvgSq!)), `${label} v`).to.equal(true);
            }
          }
        }
      }
    }
  });

  it('continues from a snapshot\'s moments as the single-threaded kernel does', async () => {
    const rng = new Rng(3);
    const shapes = new Map([['w', 70_003]]);
    const random = () => Float32Array.from({ length: 70_003 }, () => rng.normal());
    const make = () => new Optimizer('adam', [{ params: 'w', lr: 1e-2 }], ['w']);
    const [single, several] = [make(), make()];
    const m = random().map((v) => v / 10), v = random().map((x) => x * x);
    for (const o of [single, several]) o.state.set('w', { step: 4, expAvg: m.slice(), expAvgSq: v.slice() });
    single.kernel = AdamKernel.create(shapes);
    several.kernel = ThreadedAdamKernel.create(shapes, 2);
    const p = random(), g = random();
    const [p1, p2] = [p.slice(), p.slice()];
    single.step(new Map([['w', p1]]), new Map([['w', g]]));
    several.step(new Map([['w', p2]]), new Map([['w', g]]));
    await several.kernel!.release();
    expect(bits(p2).equals(bits(p1))).to.equal(true);
    expect(bits(several.state.get('w')!.expAvgSq!).equals(bits(single.state.get('w')!.expAvgSq!))).to.equal(true);
  });
});
