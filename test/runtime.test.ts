// The runtime: sessions on onnxruntime-node, a clear message where CUDA or a WebGPU adapter is missing, and exported models
// giving the same outputs in onnxruntime-web (WASM backend, run here in Node).
import { expect } from 'chai';
import * as ortWeb from 'onnxruntime-web';
import { availableParallelism, tmpdir } from 'node:os';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { cli } from './util/cli.js';
import { fixturePath } from './util/fixtures.js';
import { createSession, cudaProviderInstalled, defaultThreads, MULTI_THREAD_MIN_PARAMETERS, ort, CUDA_INSTALL_HINT } from '../src/runtime/session.js';
import { encodeModel } from '../src/onnx/io.js';
import { inferenceModel } from '../src/artifacts/build.js';
import { train, DEFAULT_TRAIN_CONFIG } from '../src/train/trainer.js';
import { linearProbe } from '../src/train/strategies.js';
import { LOSSES } from '../src/losses/index.js';
import { initialParameters } from '../src/train/trainer.js';
import { loadFixture } from './util/fixtures.js';
import { singleInput } from '../src/data/dataset.js';

const seed = loadFixture('torch-seed');

describe('runtime', () => {
  it('says in one line how to install the CUDA provider when it is missing', async function () {
    if (cudaProviderInstalled()) this.skip();
    const model = inferenceModel(seed.model, initialParameters(seed.model));
    try {
      await createSession(model, { device: 'cuda' });
      expect.fail('expected an error');
    } catch (e) {
      expect((e as Error).name).to.equal('UserError');
      expect((e as Error).message).to.include(CUDA_INSTALL_HINT);
      expect((e as Error).message).to.not.include('\n');
    }
  });

  it('--device webgpu without a WebGPU adapter: one line through the command, nothing else on stderr', async function () {
    this.timeout(60_000);
    const gpu = ['/usr/lib/x86_64-linux-gnu', '/usr/lib64', '/usr/lib'].some((d) => existsSync(join(d, 'libvulkan.so.1')));
    if (gpu) {
      console.log('      (skipped: this machine has a Vulkan loader; the no-adapter message is for machines without one)');
      this.skip();
    }
    const run = await cli(['linear-probe', '--model', fixturePath('torch-seed', 'model.onnx'), '--train', fixturePath('torch-seed', 'train.csv'), '--test', fixturePath('torch-seed', 'test.csv'), '--device', 'webgpu'], tmpdir());
    expect(run.code).to.equal(1);
    expect(run.stderr).to.equal("onnx-finetune: --device webgpu: no WebGPU adapter on this machine (the Vulkan loader, libvulkan.so.1, is not installed); install the GPU's Vulkan driver (Debian: libvulkan1 and the vendor's ICD), or use --device cpu or cuda\n");
  });

  it('defaults to 1 intra-op thread for a small model, every core from 2^20 parameters', () => {
    expect(defaultThreads(897)).to.equal(1);
    expect(defaultThreads(MULTI_THREAD_MIN_PARAMETERS - 1)).to.equal(1);
    expect(defaultThreads(MULTI_THREAD_MIN_PARAMETERS)).to.equal(availableParallelism());
  });

  it('rejects an unknown device', async () => {
    const model = inferenceModel(seed.model, initialParameters(seed.model));
    try {
      await createSession(model, { device: 'tpu' as never });
      expect.fail('expected an error');
    } catch (e) {
      expect((e as Error).message).to.match(/unknown device 'tpu'/);
    }
  });

  it('a trained, exported model gives the same outputs in onnxruntime-web as in onnxruntime-node', async () => {
    const result = await train(seed.model, linearProbe({ lr: 0.01, epochs: 2 }), { train: seed.train, test: seed.test }, { ...DEFAULT_TRAIN_CONFIG, loss: LOSSES.bce });
    const bytes = encodeModel(result.model);
    const x = (singleInput(seed.test).values as Float32Array).slice(0, 300 * 10);
    const node = await (await createSession(bytes)).run({ x: new ort.Tensor('float32', x, [300, 10]) });
    ortWeb.env.wasm.numThreads = 1;
    const web = await (await ortWeb.InferenceSession.create(bytes)).run({ x: new ortWeb.Tensor('float32', x, [300, 10]) });
    const a = node.logits.data as Float32Array, b = web.logits.data as Float32Array;
    expect(b.length).to.equal(300);
    for (let i = 0; i < a.length; i++) expect(b[i]).to.be.closeTo(a[i], 1e-5 * Math.max(1, Math.abs(a[i])));
    expect(Array.from(b, (z) => z > 0)).to.deep.equal(Array.from(a, (z) => z > 0));
  });
});
