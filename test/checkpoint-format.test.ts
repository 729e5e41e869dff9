// Checkpoint format version 2 (checkpoint.ts) and its writer thread (background-writer.ts): the optimizer
// state and the data order come back bit for bit; what the writer thread writes is byte for byte what
// encodeCheckpoint seals, in step order; older format versions and damaged files are refused in one line;
// and a run checkpointing every step, killed from outside at any moment, resumes bit-identically.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeCheckpoint, encodeCheckpoint, checkpointPieces, type RunIdentity } from '../src/checkpoint/checkpoint.js';
import { RunCheckpoints } from '../src/cli/checkpoint-files.js';
import { encodeModel, loadModel } from '../src/onnx/io.js';
import { onnx } from '../src/onnx/proto.js';
import { train, DEFAULT_TRAIN_CONFIG, type RunSnapshot, type TrainConfig } from '../src/train/trainer.js';
import { fullFineTune, partialUnfreeze } from '../src/train/strategies.js';
import { LOSSES } from '../src/losses/index.js';
import { cli, CLI } from './util/cli.js';
import { fixturePath, loadFixture } from './util/fixtures.js';

const bits = (a: Float32Array | Int32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
const identity: RunIdentity = { strategy: 'partial_unfreeze', plan: [], settings: {}, model: 'm', data: 'd' };

describe('checkpoint format 2', function () {
  this.timeout(120_000);
  const seed = loadFixture('torch-seed');
  const data = { train: seed.train, test: seed.test };
  const plan = partialUnfreeze({ headLr: 0.01, headEpochs: 1, unfreeze: 'backbone.2.*', backboneLr: 0.001, epochs: 1 });
  const tmp = mkdtempSync(join(tmpdir(), 'onnx-finetune-format-'));

  it('gives back the optimizer state, the data order and the parameters bit for bit (Adam, and SGD with momentum)', async () => {
    for (const config of [{ optimizer: 'adam' }, { optimizer: 'sgd' }] as const) {
      const groups = plan.stages.map((st) => ({ ...st, groups: st.groups.map((g) => ({ ...g, momentum: config.optimizer === 'sgd' ? 0.9 : 0 })) }));
      const snapshots: RunSnapshot[] = [];
      await train(seed.model, { ...plan, stages: groups }, data, { ...DEFAULT_TRAIN_CONFIG, ...config, loss: LOSSES.bce, snapshotEvery: 4, onSnapshot: (s) => snapshots.push(s) });
      expect(snapshots.length).to.be.greaterThan(4);
      for (const s of snapshots) {
        const back = decodeCheckpoint(encodeCheckpoint(seed.model, s, identity), 'c.onnx').snapshot;
        expect(bits(back.order).equals(bits(s.order))).to.equal(true);
        expect([...back.optimizerState.keys()]).to.deep.equal([...s.optimizerState.keys()]);
        for (const [name, state] of s.optimizerState) {
          const got = back.optimizerState.get(name)!;
          expect(got.step).to.equal(state.step);
          for (const key of ['expAvg', 'expAvgSq', 'momentumBuffer'] as const) {
            expect(got[key] === undefined, `${name}.${key}`).to.equal(state[key] === undefined);
            if (state[key]) expect(bits(got[key]!).equals(bits(state[key]!)), `${name}.${key}`).to.equal(true);
          }
        }
        for (const [name, values] of s.parameters) expect(bits(back.parameters.get(name)!).equals(bits(values)), name).to.equal(true);
      }
    }
  });

  it('the writer thread writes what encodeCheckpoint seals, every checkpoint, in step order', async () => {
    mkdirSync(join(tmp, 'threaded'));
    const checkpoints = new RunCheckpoints(join(tmp, 'threaded'));
    const expected = new Map<number, string>();
    const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
    const onSnapshot = (s: RunSnapshot) => {
      expected.set(s.steps, sha(encodeCheckpoint(seed.model, s, identity)));
      checkpoints.write('partial_unfreeze', s.steps, checkpointPieces(seed.model, s, identity), 1000);
    };
    await train(seed.model, plan, data, { ...DEFAULT_TRAIN_CONFIG, loss: LOSSES.bce, snapshotEvery: 1, onSnapshot });
    await checkpoints.settle();
    const written = readdirSync(checkpoints.folder).sort();
    expect(written).to.have.length(expected.size);
    for (const name of written) {
      const steps = Number(/step-(\d+)/.exec(name)![1]);
      expect(sha(readFileSync(join(checkpoints.folder, name))), name).to.equal(expected.get(steps));
    }
    expect(checkpoints.newestWritten('partial_unfreeze')).to.equal(join(checkpoints.folder, written[written.length - 1]));
    await checkpoints.close();
  });

  it('a model of 1.9M parameters with Adam state: the file from the writer thread decodes to the snapshot', async () => {
    const { attachLinearHead } = await import('../src/model/attach-head.js');
    const { buildMlpBackbone } = await import('../src/model/seed-backbone.js');
    const { Rng } = await import('../src/train/rng.js');
    const model = attachLinearHead(buildMlpBackbone([784, 1024, 1024], new Rng(1), 0), 10, new Rng(2));
    const rng = new Rng(4);
    const rows = 64;
    const big = { source: 'generated', count: rows, inputs: { x: { shape: [784], values: Float32Array.from({ length: rows * 784 }, () => rng.normal()) } }, labels: Float64Array.from({ length: rows }, () => rng.int(10)) };
    const config: TrainConfig = { ...DEFAULT_TRAIN_CONFIG, loss: LOSSES.ce, batchSize: 32, snapshotEvery: 1 };
    mkdirSync(join(tmp, 'large'));
    const checkpoints = new RunCheckpoints(join(tmp, 'large'));
    const kept: RunSnapshot[] = [];
    await train(model, fullFineTune({ lr: 1e-3, epochs: 1 }), { train: big, test: big }, { ...config, onSnapshot: (s) => {
      // a copy to compare with, the snapshot itself to the writer thread
      kept.push(structuredClone({ ...s, optimizerState: new Map([...s.optimizerState].map(([k, v]) => [k, { ...v, expAvg: v.expAvg!.slice(), expAvgSq: v.expAvgSq!.slice() }])), parameters: new Map([...s.parameters].map(([k, v]) => [k, v.slice()])) }));
      checkpoints.write('full_fine_tune', s.steps, checkpointPieces(model, s, { ...identity, strategy: 'full_fine_tune' }), 1);
    } });
    await checkpoints.settle();
    const [name] = readdirSync(checkpoints.folder);
    expect(name).to.equal('full_fine_tune-step-00000002.onnx');
    const back = decodeCheckpoint(readFileSync(join(checkpoints.folder, name)), name).snapshot;
    const last = kept[1];
    for (const [param, state] of last.optimizerState) {
      expect(bits(back.optimizerState.get(param)!.expAvgSq!).equals(bits(state.expAvgSq!)), param).to.equal(true);
      expect(bits(back.parameters.get(param)!).equals(bits(last.parameters.get(param)!)), param).to.equal(true);
    }
    await checkpoints.close();
  });

  it('refuses a checkpoint of format version 1, and a truncated one, in one line', () => {
    const v1 = loadModel(fixturePath('torch-seed', 'model.onnx'));
    v1.metadataProps = [
      onnx.StringStringEntryProto.create({ key: 'onnx_finetune.format', value: 'onnx-finetune-checkpoint' }),
      onnx.StringStringEntryProto.create({ key: 'onnx_finetune.state', value: JSON.stringify({ version: 1, order: 'AAAA' }) }),
      onnx.StringStringEntryProto.create({ key: 'onnx_finetune.checksum', value: '0'.repeat(64) }),
    ];
    expect(() => decodeCheckpoint(encodeModel(v1), 'old.onnx')).to.throw(/^old\.onnx: checkpoint format version 1, this onnx-finetune reads version 2; finish that run with the onnx-finetune that wrote it, or start afresh with --overwrite$/);
    const whole = encodeCheckpoint(seed.model, { strategy: 'full_fine_tune', stage: 0, epoch: 0, batch: 0, steps: 0, epochLosses: [], validation: [], epochLossSum: 0, epochBatches: 0, skippedBatches: 0,
      rngState: 1, dropoutRngState: 2, order: new Int32Array(3), parameters: new Map(), buffers: new Map(), optimizerState: new Map() }, identity);
    expect(() => decodeCheckpoint(whole.subarray(0, whole.length - 10), 'cut.onnx')).to.throw(/^cut\.onnx: checkpoint is corrupted \(checksum mismatch\)/);
    expect(() => decodeCheckpoint(encodeModel(loadModel(fixturePath('torch-seed', 'model.onnx'))), 'plain.onnx')).to.throw(/^plain\.onnx: not an onnx-finetune checkpoint$/);
  });

  it('a run checkpointing every step, killed from outside at any moment, resumes to the weights of a run never stopped', async () => {
    const files = ['--model', fixturePath('torch-seed', 'model.onnx'), '--train', fixturePath('torch-seed', 'train.csv'), '--test', fixturePath('torch-seed', 'test.csv')];
    const args = ['full-finetune', ...files, '--epochs', '20', '--checkpoint-every', '1', '--json'];
    const weights = (dir: string) => Buffer.concat(loadModel(join(dir, 'full_fine_tune.onnx')).graph.initializer.map((t) => Buffer.from(t.rawData)));
    const whole = await cli([...args, '--out', join(tmp, 'every-whole')], tmp);
    expect(whole.code, whole.stderr).to.equal(0);
    for (const wait of [5, 40, 120]) {
      const out = join(tmp, `every-killed-${wait}`);
      const child = spawn(process.execPath, [CLI, ...args, '--out', out], { cwd: tmp, stdio: 'ignore' });
      const checkpoints = join(out, 'checkpoints');
      while (!existsSync(checkpoints) || !readdirSync(checkpoints).some((name) => name.endsWith('.onnx'))) await new Promise((r) => setTimeout(r, 2));
      await new Promise((r) => setTimeout(r, wait));
      child.kill('SIGKILL');
      await new Promise((r) => child.on('close', r));
      // Whole checkpoints, and perhaps one temporary file the kill cut short: never a partial .onnx file.
      for (const name of readdirSync(checkpoints)) {
        if (name.endsWith('.tmp')) continue;
        expect(() => decodeCheckpoint(readFileSync(join(checkpoints, name)), name), name).to.not.throw();
      }
      const resumed = await cli([...args, '--resume', out], tmp);
      expect(resumed.code, resumed.stderr).to.equal(0);
      expect(weights(out).equals(weights(join(tmp, 'every-whole'))), `killed after ${wait} ms`).to.equal(true);
    }
  });
});
