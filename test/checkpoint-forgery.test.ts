// Forged checkpoints (issue 11, family 6): a checkpoint's checksum is a SHA-256 anyone can recompute, so each
// edit below is re-sealed as checkpoint.ts seals it and must still be refused on --resume, in one line naming
// the file and the field, with exit 1; an unedited re-sealed checkpoint resumes to the same weights. At the
// library level, every snapshot that real runs offer passes the checks, and train({ resume }) refuses a forged one.
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeModel, encodeModel, loadModel } from '../src/onnx/io.js';
import { DataType, onnx, type ModelProto, type TensorProto } from '../src/onnx/proto.js';
import { decodeCheckpoint, encodeCheckpoint } from '../src/checkpoint/checkpoint.js';
import { checkSnapshot } from '../src/checkpoint/check-state.js';
import { train, DEFAULT_TRAIN_CONFIG, type RunSnapshot, type TrainConfig } from '../src/train/trainer.js';
import { fullFineTune, partialUnfreeze, type Plan } from '../src/train/strategies.js';
import { describeModel } from '../src/model/describe.js';
import { runningStatistics } from '../src/artifacts/batch-norm-mode.js';
import { elementCount } from '../src/onnx/tensor.js';
import { LOSSES } from '../src/losses/index.js';
import { cli } from './util/cli.js';
import { fixturePath, loadFixture } from './util/fixtures.js';

const files = ['--model', fixturePath('torch-seed', 'model.onnx'), '--train', fixturePath('torch-seed', 'train.csv'), '--test', fixturePath('torch-seed', 'test.csv')];
// Two stages of two epochs of 15 batches; killed after step 40, the newest checkpoint is step 35: stage 1
// ('unfrozen', training head.* and backbone.2.*), epoch 0, batch 5, two epoch losses, Adam at step 5.
const PARTIAL = ['partial-unfreeze', ...files, '--head-epochs', '2', '--epochs', '2', '--checkpoint-every', '7', '--json'];
const NEWEST = 'partial_unfreeze-step-00000035.onnx';

/**
 * Rewrites a checkpoint with its state edited (and its model, if the edit touches it), sealed as checkpoint.ts
 * seals one: the SHA-256 of every byte before the checksum entry, which ends the file.
 */
function forge(file: string, edit: (state: any, model: ModelProto) => void): void {
  const model = decodeModel(readFileSync(file), file);
  const entry = (key: string) => model.metadataProps.find((e) => e.key === key)!;
  const state = JSON.parse(entry('onnx_finetune.state').value!);
  edit(state, model);
  entry('onnx_finetune.state').value = JSON.stringify(state);
  model.metadataProps = model.metadataProps.filter((e) => e.key !== 'onnx_finetune.checksum');
  const body = encodeModel(model);
  const checksum = createHash('sha256').update(body).digest('hex');
  writeFileSync(file, Buffer.concat([body, onnx.ModelProto.encode({ metadataProps: [{ key: 'onnx_finetune.checksum', value: checksum }] }).finish()]));
}

/** The state's tensors (order, optimizer moments) in the checkpoint's training_info graph. */
const stateTensors = (model: ModelProto) => model.trainingInfo![0].algorithm!.initializer as TensorProto[];
const tensor = (model: ModelProto, name: string) => stateTensors(model).find((t) => t.name === name)!;
const valuesOf = (t: TensorProto) => new (t.dataType === DataType.INT32 ? Int32Array : Float32Array)(Uint8Array.from(t.rawData!).buffer);
/** A state tensor's values replaced (length and all). */
function setValues(t: TensorProto, values: Int32Array | Float32Array): void {
  t.rawData = new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength));
  t.dims = [values.length];
}
const addTensor = (model: ModelProto, name: string, values: Float32Array) => {
  const t = onnx.TensorProto.create({ name, dataType: DataType.FLOAT }) as unknown as TensorProto;
  setValues(t, values);
  model.trainingInfo![0].algorithm!.initializer = [...stateTensors(model), t];
};
const removeTensor = (model: ModelProto, name: string) => (model.trainingInfo![0].algorithm!.initializer = stateTensors(model).filter((t) => t.name !== name));

// Each forgery, and the field the refusal must name (as a regular expression's text).
const FORGERIES: [string, RegExp, (s: any, model: ModelProto) => void][] = [
  ['a negative epoch', /field 'position\.epoch' is -1, not an epoch index of the plan's stage 'unfrozen' \(0\.\.1\)$/, (s) => (s.position.epoch = -1)],
  ['an epoch past the stage', /field 'position\.epoch' is 2/, (s) => (s.position.epoch = 2)],
  ['a stage past the plan', /field 'position\.stage' is 2/, (s) => (s.position.stage = 2)],
  ['a batch past the end of the epoch', /field 'position\.batch' is 16, not a count of batches run in an epoch of 15 \(0\.\.15\)$/, (s) => (s.position.batch = 16)],
  ['a fractional batch', /field 'position\.batch' is 4\.5/, (s) => (s.position.batch = 4.5)],
  ['steps that do not follow from the position', /field 'position\.steps' is 34; stage 'unfrozen', epoch 0, batch 5 of 15 is step 35 of the run$/, (s) => (s.position.steps = 34)],
  ['a batch moved along with its step count', /field 'epochBatches' is 5, not a count of this epoch's batches not skipped, with 0 skipped in the run \(6\.\.6\)$/,
    (s) => Object.assign(s.position, { batch: 6, steps: 36 })],
  ['a string position', /field 'position\.epoch' is "0"/, (s) => (s.position.epoch = '0')],
  ['a string rngState', /field 'rngState' is "12", not a generator state \(0\.\.4294967295\)$/, (s) => (s.rngState = '12')],
  ['rngState 2^40', /field 'rngState' is 1099511627776/, (s) => (s.rngState = 2 ** 40)],
  ['rngState -1', /field 'rngState' is -1/, (s) => (s.rngState = -1)],
  ['a fractional dropoutRngState', /field 'dropoutRngState' is 0\.5/, (s) => (s.dropoutRngState = 0.5)],
  ['an epoch loss too few', /field 'epochLosses' holds 1 epoch losses; the run has completed 2 epochs at this position$/, (s) => s.epochLosses.pop()],
  ['an epoch loss too many', /field 'epochLosses' holds 3 epoch losses/, (s) => s.epochLosses.push(0.5)],
  ['string epoch losses', /field 'epochLosses\[0\]' is "a", not a number$/, (s) => (s.epochLosses = ['a', 'b'])],
  ['epoch losses not an array', /field 'epochLosses' is not an array$/, (s) => (s.epochLosses = { 0: 1, 1: 2 })],
  ['a non-number loss sum', /field 'epochLossSum' is "x"/, (s) => (s.epochLossSum = 'x')],
  ['more loss batches than batches run', /field 'epochBatches' is 6/, (s) => (s.epochBatches = 6)],
  ['negative skipped batches', /field 'skippedBatches' is -1/, (s) => (s.skippedBatches = -1)],
  ['an order with an index twice', /field 'order' is not a permutation of the 900 examples \(index \d+ at position 1\)$/,
    (_s, m) => setValues(tensor(m, 'order'), valuesOf(tensor(m, 'order')).map((v, i, a) => (i === 1 ? a[0] : v)))],
  ['an order one index short', /field 'order' holds 899 example indices; the training data has 900 examples$/, (_s, m) => setValues(tensor(m, 'order'), valuesOf(tensor(m, 'order')).subarray(1))],
  ['an order of 3599 bytes', /field 'order' holds 3599 bytes of raw data for 900 int32 values$/, (_s, m) => (tensor(m, 'order').rawData = tensor(m, 'order').rawData!.subarray(1))],
  ['an order of float32 values', /field 'order' is not int32 values \(tensor 'order' has element type FLOAT\)$/, (_s, m) => (tensor(m, 'order').dataType = DataType.FLOAT)],
  ['an order of two dimensions', /field 'order' has dims \[30,30\], not one dimension$/, (_s, m) => (tensor(m, 'order').dims = [30, 30])],
  ['no order', /field 'order' is missing/, (_s, m) => removeTensor(m, 'order')],
  ['a state tensor that no field names', /field 'stray' is a tensor of training_info graph 'onnx_finetune\.state' that no field of the state names$/, (_s, m) => addTensor(m, 'stray', new Float32Array(2))],
  ['optimizer state that is a number', /field 'optimizer' is not an object$/, (s) => (s.optimizer = 5)],
  ["a parameter's optimizer state that is an array", /field 'optimizer\['head\.weight'\]' is not an object$/, (s) => (s.optimizer['head.weight'] = [])],
  ['a short optimizer array', /field 'optimizer\['backbone\.2\.weight'\]\.expAvg' has 511 values; parameter 'backbone\.2\.weight' has 512$/,
    (_s, m) => setValues(tensor(m, 'expAvg/backbone.2.weight'), valuesOf(tensor(m, 'expAvg/backbone.2.weight')).subarray(1))],
  ['a too-long optimizer array (was exit 70)', /field 'optimizer\['head\.weight'\]\.expAvgSq' has 17 values; parameter 'head\.weight' has 16$/,
    (_s, m) => setValues(tensor(m, 'expAvgSq/head.weight'), Float32Array.from([...valuesOf(tensor(m, 'expAvgSq/head.weight')), 0]))],
  ['a missing optimizer parameter', /field 'optimizer' lacks parameter 'head\.bias', which stage 'unfrozen' trains$/, (s, m) => {
    delete s.optimizer['head.bias'];
    for (const key of ['expAvg', 'expAvgSq']) removeTensor(m, `${key}/head.bias`);
  }],
  ["a parameter's moments without its state", /field 'expAvg\/head\.bias' is a tensor of training_info graph 'onnx_finetune\.state' that no field of the state names$/, (s) => delete s.optimizer['head.bias']],
  ['an extra optimizer parameter', /field 'optimizer' has state for parameter "backbone\.0\.bias", which stage 'unfrozen' does not train$/,
    (s, m) => {
      s.optimizer['backbone.0.bias'] = { ...s.optimizer['backbone.2.bias'] };
      addTensor(m, 'expAvg/backbone.0.bias', new Float32Array(32));
      addTensor(m, 'expAvgSq/backbone.0.bias', new Float32Array(32));
    }],
  ['a missing second moment', /field 'optimizer\['head\.bias'\]\.expAvgSq' is missing; adam keeps it after its first update$/, (_s, m) => removeTensor(m, 'expAvgSq/head.bias')],
  ['a momentum buffer under Adam', /field 'optimizer\['head\.bias'\]\.momentumBuffer' is there, and adam keeps no such state$/,
    (_s, m) => addTensor(m, 'momentumBuffer/head.bias', valuesOf(tensor(m, 'expAvg/head.bias')) as Float32Array)],
  ['an optimizer step past the stage', /field 'optimizer\['head\.weight'\]\.step' is 999, not the stage's update count \(5\.\.5\)$/, (s) => (s.optimizer['head.weight'].step = 999)],
  ['one parameter a step behind', /field 'optimizer\['backbone\.2\.bias'\]\.step' is 4, not the other parameters' 5$/, (s) => (s.optimizer['backbone.2.bias'].step = 4)],
  ['a negative second moment', /field 'optimizer\['head\.bias'\]\.expAvgSq' holds -1 at index 0$/, (_s, m) => setValues(tensor(m, 'expAvgSq/head.bias'), new Float32Array([-1]))],
  ['a position that is a string', /field 'position' is not an object$/, (s) => (s.position = 'x')],
  ['an identity that is a number', /field 'identity' is not an object$/, (s) => (s.identity = 3)],
  ['a parameter of another size in the model', /checkpoint parameter 'head\.bias' has 2 values; the model's has 1$/, (_s, model) => {
    const t = model.graph.initializer.find((i) => i.name === 'head.bias')!;
    t.dims = [2];
    t.rawData = new Uint8Array(8);
  }],
];

function weights(dir: string): Buffer {
  const model = loadModel(join(dir, 'partial_unfreeze.onnx'));
  return Buffer.concat(model.graph.initializer.map((t) => Buffer.from(t.rawData)));
}

describe('forged checkpoints (re-sealed) are refused field by field', function () {
  this.timeout(120_000);
  const tmp = mkdtempSync(join(tmpdir(), 'onnx-finetune-forgery-'));
  const killed = join(tmp, 'killed');
  let forgeries = 0;
  /** A copy of the killed run's folder whose newest checkpoint is forged by `edit`. */
  const forgedRun = (edit: (s: any, model: ModelProto) => void) => {
    const dir = join(tmp, `forged-${++forgeries}`);
    cpSync(killed, dir, { recursive: true });
    forge(join(dir, 'checkpoints', NEWEST), edit);
    return dir;
  };

  before(async () => {
    const run = await cli([...PARTIAL, '--out', killed], tmp, { ONNX_FINETUNE_FAULT: 'after-step:40' });
    expect(run.signal).to.equal('SIGKILL');
    expect(readdirSync(join(killed, 'checkpoints')).sort().pop()).to.equal(NEWEST);
  });

  it('an unedited checkpoint, re-sealed, resumes to the weights of a run never stopped (the forging is exact)', async () => {
    const dir = forgedRun(() => {});
    const resumed = await cli([...PARTIAL, '--resume', dir], tmp);
    expect(resumed.code, resumed.stderr).to.equal(0);
    const whole = await cli([...PARTIAL, '--out', join(tmp, 'whole')], tmp);
    expect(whole.code, whole.stderr).to.equal(0);
    expect(weights(dir).equals(weights(join(tmp, 'whole')))).to.equal(true);
  });

  for (const [label, message, edit] of FORGERIES) {
    it(`refuses ${label}`, async () => {
      const dir = forgedRun(edit);
      const resumed = await cli([...PARTIAL, '--resume', dir], tmp);
      expect(resumed.code, resumed.stderr).to.equal(1);
      const lines = resumed.stderr.trim().split('\n');
      expect(lines, resumed.stderr).to.have.length(1);
      expect(lines[0]).to.contain(join(dir, 'checkpoints', NEWEST) + ': checkpoint ');
      expect(lines[0]).to.match(message);
    });
  }
});

describe('snapshot checks at the library level', () => {
  const seed = loadFixture('torch-seed');
  const data = { train: seed.train, test: seed.test };
  const config: TrainConfig = { ...DEFAULT_TRAIN_CONFIG, loss: LOSSES.bce, seed: 5 };
  const summary = describeModel(seed.model);
  const identity = { strategy: '', plan: [], settings: {}, model: '', data: '' };
  const check = (s: RunSnapshot, plan: Plan, c: TrainConfig) => checkSnapshot(s, {
    plan, examples: data.train.count, config: c,
    parameters: new Map(summary.parameters.map((p) => [p.name, elementCount(p.dims)])),
    buffers: new Map([...runningStatistics(seed.model.graph)].map(([name, v]) => [name, v.length])),
  });
  /** Every snapshot of a run, through a checkpoint file's bytes and back. */
  const snapshotsOf = async (plan: Plan, c: TrainConfig) => {
    const snapshots: RunSnapshot[] = [];
    const result = await train(seed.model, plan, data, { ...c, snapshotEvery: 1, onSnapshot: (s) => snapshots.push(s) });
    const decoded = snapshots.map((s) => decodeCheckpoint(encodeCheckpoint(seed.model, s, { ...identity, strategy: plan.strategy }), `step-${s.steps}.onnx`).snapshot);
    return { result, decoded };
  };

  it('accepts every snapshot of Adam, SGD with and without momentum, and a run that skips batches', async () => {
    const unfreeze = partialUnfreeze({ headLr: 0.01, headEpochs: 2, unfreeze: 'backbone.2.*', backboneLr: 0.001, epochs: 1 });
    const momentum: Plan = { strategy: 'partial_unfreeze', stages: unfreeze.stages.map((st) => ({ ...st, groups: st.groups.map((g, i) => ({ ...g, momentum: i === 0 ? 0.9 : 0 })) })) };
    const runs: [Plan, TrainConfig][] = [
      [unfreeze, config], [unfreeze, { ...config, optimizer: 'adamw', weightDecay: 0.01, shuffle: false }], [momentum, { ...config, optimizer: 'sgd' }],
      [fullFineTune({ lr: 1e6, epochs: 3 }), { ...config, optimizer: 'sgd', onNonFinite: 'skip-batch' }],
    ];
    for (const [plan, c] of runs) {
      const { decoded } = await snapshotsOf(plan, c);
      for (const s of decoded) check(s, plan, c);
    }
  });

  it('a checkpoint of a run with all-skipped epochs (NaN losses, written as null) resumes to the same losses and weights', async () => {
    const plan = fullFineTune({ lr: 1e6, epochs: 3 }), c: TrainConfig = { ...config, optimizer: 'sgd', onNonFinite: 'skip-batch' };
    const { result, decoded } = await snapshotsOf(plan, c);
    expect(result.epochLosses.some(Number.isNaN), 'an all-skipped epoch').to.equal(true);
    const resumed = await train(seed.model, plan, data, { ...c, resume: decoded[decoded.length - 10] });
    expect(resumed.epochLosses).to.deep.equal(result.epochLosses);
    expect([...resumed.parameters.values()].map((v) => Buffer.from(v.buffer).toString('base64'))).to.deep.equal([...result.parameters.values()].map((v) => Buffer.from(v.buffer).toString('base64')));
  });

  it('train({ resume }) refuses a snapshot whose optimizer array is too long, naming the field', async () => {
    const plan = fullFineTune({ lr: 0.01, epochs: 1 });
    const snapshots: RunSnapshot[] = [];
    await train(seed.model, plan, data, { ...config, snapshotEvery: 3, onSnapshot: (s) => snapshots.push(s) });
    const forged = snapshots[0];
    const state = forged.optimizerState.get('head.weight')!;
    state.expAvg = new Float32Array(17);
    try {
      await train(seed.model, plan, data, { ...config, resume: forged });
      expect.fail('expected a refusal');
    } catch (e) {
      expect((e as Error).name).to.equal('UserError');
      expect((e as Error).message).to.equal("resume snapshot field 'optimizer['head.weight'].expAvg' has 17 values; parameter 'head.weight' has 16");
    }
  });
});
