// Models with several data inputs and integer inputs: every input is batched and fed by name, a frozen prefix
// may read any of them while the rest reads the others directly, and training gives the same parameters as a
// twin model that takes the same values through one float input or float inputs.
import { expect } from 'chai';
import { buildArtifacts } from '../src/artifacts/build.js';
import { splitFrozenPrefix } from '../src/artifacts/frozen-prefix.js';
import { indexGraph } from '../src/graph/graph-index.js';
import { inferShapes } from '../src/graph/shapes.js';
import { LOSSES } from '../src/losses/index.js';
import { describeModel } from '../src/model/describe.js';
import { DataType, makeGraph, makeModel, makeNode, makeTensor, makeValueInfo } from '../src/onnx/builder.js';
import { StageRunner } from '../src/train/stage-runner.js';
import { Rng } from '../src/train/rng.js';
import { fullFineTune, linearProbe, partialUnfreeze, type Plan } from '../src/train/strategies.js';
import { DEFAULT_TRAIN_CONFIG, initialParameters, train, type TrainConfig, type TrainResult } from '../src/train/trainer.js';
import type { Dataset } from '../src/data/dataset.js';
import type { ModelProto } from '../src/onnx/proto.js';
import { textData, textModel, twoInputData, twoInputModel } from './util/multi-input-models.js';

const config: TrainConfig = { ...DEFAULT_TRAIN_CONFIG, loss: LOSSES.ce, batchSize: 8, testBatchSize: 16, shuffle: false };
const partial = (unfreeze: string) => partialUnfreeze({ headLr: 1e-2, headEpochs: 2, unfreeze, backboneLr: 1e-2, epochs: 2 });

function expectSameTraining(a: TrainResult, b: TrainResult, names: string[]) {
  expect(a.accuracy).to.equal(b.accuracy);
  a.epochLosses.forEach((l, i) => expect(l, `epoch ${i + 1} loss`).to.be.closeTo(b.epochLosses[i], 1e-6));
  for (const name of names) {
    const x = a.parameters.get(name)!, y = b.parameters.get(name)!;
    x.forEach((v, i) => expect(v, `${name}[${i}]`).to.be.closeTo(y[i], 1e-6));
  }
}

const run = (model: ModelProto, plan: Plan, data: { train: Dataset; test: Dataset }) => train(model, plan, data, config);

describe('several data inputs', function () {
  this.timeout(30_000);

  describe('two float inputs', () => {
    const train1 = twoInputData(40, 1), test1 = twoInputData(24, 2);
    const split = { train: train1.split, test: test1.split }, joined = { train: train1.joined, test: test1.joined };
    const NAMES = ['body.weight', 'body.bias', 'head.weight', 'head.bias', 'side.weight'];

    it('ModelSummary lists both inputs, in graph order', () => {
      expect(describeModel(twoInputModel()).inputs).to.deep.equal([
        { name: 'a', elemType: DataType.FLOAT, shape: ['batch', 3] },
        { name: 'b', elemType: DataType.FLOAT, shape: ['batch', 2] },
      ]);
    });

    it('a frozen prefix reads one input while the rest reads the other directly', () => {
      const a = buildArtifacts(twoInputModel(), ['head.weight', 'head.bias', 'side.weight'], LOSSES.ce);
      expect(a.prefix!.graph.input.map((i) => i.name)).to.deep.equal(['a']);
      expect(a.prefix!.graph.output.map((o) => o.name)).to.deep.equal(['relu']);
      expect(a.inputs).to.deep.equal(['relu', 'b']);
      expect(a.train.graph.input.map((i) => i.name)).to.deep.equal(['relu', 'b', 'head.weight', 'head.bias', 'side.weight', 'labels']);
      // With side.weight frozen, both inputs go through the prefix: two boundary tensors.
      expect(buildArtifacts(twoInputModel(), ['head.weight', 'head.bias'], LOSSES.ce).inputs).to.deep.equal(['relu', 'side']);
      // A full fine-tune has no prefix: both inputs are fed to the train graph.
      const full = buildArtifacts(twoInputModel(), NAMES, LOSSES.ce);
      expect(full.prefix).to.equal(undefined);
      expect(full.inputs).to.deep.equal(['a', 'b']);
    });

    for (const [what, plan] of [
      ['linear probe (both inputs through the prefix)', linearProbe({ lr: 1e-2, epochs: 3 })],
      ['partial unfreeze (the rest reads b directly)', partial('side.*')],
      ['full fine-tune (no prefix)', fullFineTune({ lr: 1e-2, epochs: 3 })],
    ] as const) {
      it(`trains as the twin that slices one input: ${what}`, async () => {
        expectSameTraining(await run(twoInputModel(), plan, split), await run(twoInputModel(true), plan, joined), NAMES);
      });
    }
  });

  describe('int64 input_ids into a Gather embedding, and an int64 attention_mask', () => {
    const ints = { train: textData(48, 5, 1).ints, test: textData(24, 5, 2).ints };
    const floats = { train: textData(48, 5, 1).floats, test: textData(24, 5, 2).floats };
    const NAMES = ['layer.weight', 'layer.bias', 'head.weight', 'head.bias'];

    it('the prefix ends where the trainable layers start: the pooled features, or the embeddings and the float mask', () => {
      expect(buildArtifacts(textModel(), ['head.weight', 'head.bias'], LOSSES.ce).inputs).to.deep.equal(['pooled']);
      const a = buildArtifacts(textModel(), NAMES, LOSSES.ce);
      expect(a.prefix!.graph.input.map((i) => i.name)).to.deep.equal(['input_ids', 'attention_mask']);
      expect(a.inputs).to.deep.equal(['embedded', 'mask_3d']);
      expect(a.prefix!.graph.node.map((n) => n.opType)).to.deep.equal(['Gather', 'Cast', 'Unsqueeze']);
    });

    for (const [what, plan] of [
      ['linear probe', linearProbe({ lr: 1e-2, epochs: 3 })],
      ['partial unfreeze', partial('layer.*')],
    ] as const) {
      it(`trains as its twin with float inputs: ${what}`, async () => {
        const a = await run(textModel(), plan, ints), b = await run(textModel({ floatTwin: true }), plan, floats);
        expectSameTraining(a, b, NAMES);
        expect(a.epochLosses[a.epochLosses.length - 1]).to.be.below(a.epochLosses[0]);
      });
    }

    it('int32 ids train too', async () => {
      const data32 = { train: textData(48, 5, 1, 'int32').ints, test: textData(24, 5, 2, 'int32').ints };
      const plan = partial('layer.*');
      expectSameTraining(await run(textModel({ ids: DataType.INT32 }), plan, data32), await run(textModel(), plan, ints), NAMES);
    });

    it('the trained model is the source model with new weights: same inputs, int64 included', async () => {
      const result = await run(textModel(), linearProbe({ lr: 1e-2, epochs: 1 }), ints);
      expect(result.model.graph.input.map((i) => [i.name, i.type!.tensorType!.elemType])).to.deep.equal([['input_ids', DataType.INT64], ['attention_mask', DataType.INT64]]);
    });
  });

  describe('data that does not fit the model: one clear error', () => {
    const ints = { train: textData(8, 5, 1).ints, test: textData(8, 5, 2).ints };
    const plan = linearProbe({ lr: 1e-2, epochs: 1 });
    const variant = (change: (d: Dataset) => Dataset) => ({ train: change(ints.train), test: ints.test });
    const twoInputVariant = (inputs: Dataset['inputs']) => {
      const { split } = twoInputData(8, 1);
      return { train: { ...split, inputs: { ...split.inputs, ...inputs } }, test: split };
    };
    const cases: [string, () => Promise<unknown>, RegExp][] = [
      ['a missing input', () => run(textModel(), plan, variant((d) => ({ ...d, inputs: { input_ids: d.inputs.input_ids } }))),
        /text \(seed 1\): no values for the model's input 'attention_mask' \(the data has 'input_ids'\)/],
      ['float values for an int64 input', () => run(textModel(), plan, variant((d) => ({ ...d, inputs: { ...d.inputs, input_ids: { shape: [5], values: new Float32Array(40) } } }))),
        /input 'input_ids' is int64 in the model, but the data holds float32 values/],
      ['a sequence length that differs between inputs', () => run(textModel(), plan, variant((d) => ({ ...d, inputs: { ...d.inputs, attention_mask: { shape: [4], values: new BigInt64Array(32) } } }))),
        /input 'attention_mask': dimension 'sequence' is 4, but 5 in input 'input_ids'/],
      ['examples of the wrong shape', () => run(twoInputModel(), plan, twoInputVariant({ a: { shape: [4], values: new Float32Array(32) } })),
        /input 'a': examples of shape \[4\] \(4 values\), but the model's input takes \[3\] per example/],
      ['too few values', () => run(twoInputModel(), plan, twoInputVariant({ b: { shape: [2], values: new Float32Array(15) } })),
        /input 'b': 15 values for 8 examples of shape \[2\]/],
    ];
    for (const [what, attempt, message] of cases) {
      it(what, async () => {
        const error = await attempt().then(() => undefined, (e: Error) => e);
        expect(error?.name).to.equal('UserError');
        expect(error!.message).to.match(message);
      });
    }

    it('an input of another element type', async () => {
      const model = textModel();
      model.graph.input[1].type!.tensorType!.elemType = DataType.UINT8;
      const error = await run(model, plan, ints).then(() => undefined, (e: Error) => e);
      expect(error?.message).to.equal("model: input 'attention_mask' is UINT8; onnx-finetune feeds float32, int64 or int32 inputs");
    });
  });

  describe('the frozen prefix boundary', () => {
    it('a Shape the rest reads is computed in the rest, from a tensor with one value per example', () => {
      const graph = makeGraph([
        makeNode('Relu', ['x'], ['e'], {}, 'relu'),
        makeNode('Shape', ['e'], ['s'], {}, 'shape'),
        makeNode('MatMul', ['e', 'w'], ['m'], {}, 'mm'),
        makeNode('Reshape', ['m', 's'], ['y'], {}, 'reshape'),
      ], 'g', [makeValueInfo('x', DataType.FLOAT, ['batch', 4])], [makeValueInfo('y', DataType.FLOAT, ['batch', 4])], [makeTensor('w', DataType.FLOAT, [4, 4], new Float32Array(16))]);
      const split = splitFrozenPrefix(graph, ['x'], new Set(['w']), inferShapes(graph, indexGraph(graph), 17))!;
      expect(split.boundary).to.deep.equal(['e']);
      expect(split.rest.map((n) => n.name)).to.deep.equal(['shape', 'mm', 'reshape']);
      expect(split.prefix.map((n) => n.name)).to.deep.equal(['relu']);
    });

    it('a guessed boundary that running the prefix shows is not one row per example is computed in the trained part', async () => {
      // relu [batch, 3, 2] -> r [batch * 3, 2]: shape inference cannot tell r's first dim, the prefix run can.
      const model = (declared: boolean) => {
        const graph = makeGraph([
          makeNode('Relu', ['x'], ['relu'], {}, 'relu'),
          makeNode('Reshape', ['relu', 'rows'], ['r'], {}, 'rows'),
          makeNode('MatMul', ['r', 'mix.weight'], ['m'], {}, 'mix'),
          makeNode('Reshape', ['m', 'examples'], ['flat'], {}, 'examples'),
          makeNode('Gemm', ['flat', 'head.weight', 'head.bias'], ['logits'], { transB: 1 }, 'head'),
        ], 'g', [makeValueInfo('x', DataType.FLOAT, ['batch', 3, 2])], [makeValueInfo('logits', DataType.FLOAT, ['batch', 2])], [
          makeTensor('rows', DataType.INT64, [2], [-1, 2]), makeTensor('examples', DataType.INT64, [2], [-1, 6]),
          makeTensor('mix.weight', DataType.FLOAT, [2, 2], [0.5, -0.3, 0.2, 0.8]),
          makeTensor('head.weight', DataType.FLOAT, [2, 6], [0.1, -0.2, 0.3, 0.4, -0.5, 0.6, 0.7, 0.1, -0.1, 0.2, 0.3, -0.4]), makeTensor('head.bias', DataType.FLOAT, [2], [0, 0.1]),
        ]);
        if (declared) graph.valueInfo.push(makeValueInfo('r', DataType.FLOAT, ['rows', 2]));
        return makeModel(graph);
      };
      expect(buildArtifacts(model(false), ['mix.weight', 'head.weight', 'head.bias'], LOSSES.ce).inputs).to.deep.equal(['r']); // the guess
      expect(buildArtifacts(model(true), ['mix.weight', 'head.weight', 'head.bias'], LOSSES.ce).inputs).to.deep.equal(['relu']);
      const { split } = twoInputData(20, 1);
      const data = { source: 'x', count: 20, inputs: { x: { shape: [3, 2], values: Float32Array.from({ length: 120 }, (_, i) => Math.sin(i)) } }, labels: split.labels };
      const runner = await StageRunner.create(model(false), initialParameters(model(false)), fullFineTune({ lr: 1e-2, epochs: 1 }).stages[0], data, config, new Rng(1));
      expect(runner.artifacts.inputs).to.deep.equal(['relu']);
      await runner.release();
      const plan = fullFineTune({ lr: 1e-2, epochs: 2 });
      expectSameTraining(await run(model(false), plan, { train: data, test: data }), await run(model(true), plan, { train: data, test: data }), ['mix.weight', 'head.weight', 'head.bias']);
    });

    it('indices holding batch positions (GPT-2\'s last-token GatherND, Range over the batch size) are computed in the trained part', async () => {
      // picked[i] = h[i, argmax_j sum(x[i, j, :])]: by GatherND on [position, last] rows, or (the twin) by
      // GatherElements on last alone. Staged once for all 20 examples, the positions would run 0..19 and the
      // second batch of 8 would gather rows 8..15 of itself.
      const model = (byPosition: boolean) => {
        const pick = byPosition ? [
          makeNode('Shape', ['x'], ['batch'], { end: 1 }, 'batch'),
          makeNode('Squeeze', ['batch'], ['count'], {}, 'count'),
          makeNode('Range', ['zero', 'count', 'one'], ['positions'], {}, 'positions'),
          makeNode('Shape', ['last'], ['last_shape'], {}, 'last_shape'), // as the dynamo exporter writes it: positions of shape [batch]
          makeNode('Expand', ['positions', 'last_shape'], ['batch_positions'], {}, 'batch_positions'),
          makeNode('Unsqueeze', ['batch_positions', 'minus_one'], ['position_col'], {}, 'position_col'),
          makeNode('Unsqueeze', ['last', 'minus_one'], ['last_col'], {}, 'last_col'),
          makeNode('Concat', ['position_col', 'last_col'], ['indices'], { axis: -1 }, 'indices'),
          makeNode('GatherND', ['h', 'indices'], ['picked'], {}, 'pick'),
        ] : [
          makeNode('Unsqueeze', ['last', 'last_axes'], ['last_3d'], {}, 'last_3d'),
          makeNode('Expand', ['last_3d', 'pick_shape'], ['indices'], {}, 'indices'),
          makeNode('GatherElements', ['h', 'indices'], ['picked_3d'], { axis: 1 }, 'pick'),
          makeNode('Reshape', ['picked_3d', 'rows'], ['picked'], {}, 'flatten'),
        ];
        return makeModel(makeGraph([
          makeNode('ReduceSum', ['x', 'last_axis'], ['scores'], { keepdims: 0 }, 'scores'),
          makeNode('ArgMax', ['scores'], ['last'], { axis: 1, keepdims: 0 }, 'last'),
          makeNode('MatMul', ['x', 'mix.weight'], ['h'], {}, 'mix'),
          ...pick,
          makeNode('Gemm', ['picked', 'head.weight', 'head.bias'], ['logits'], { transB: 1 }, 'head'),
        ], 'g', [makeValueInfo('x', DataType.FLOAT, ['batch', 3, 2])], [makeValueInfo('logits', DataType.FLOAT, ['batch', 2])], [
          makeTensor('last_axis', DataType.INT64, [1], [2]), makeTensor('zero', DataType.INT64, [], [0]), makeTensor('one', DataType.INT64, [], [1]),
          makeTensor('minus_one', DataType.INT64, [1], [-1]), makeTensor('last_axes', DataType.INT64, [2], [1, 2]),
          makeTensor('pick_shape', DataType.INT64, [3], [1, 1, 2]), makeTensor('rows', DataType.INT64, [2], [-1, 2]),
          makeTensor('mix.weight', DataType.FLOAT, [2, 2], [0.5, -0.3, 0.2, 0.8]),
          makeTensor('head.weight', DataType.FLOAT, [2, 2], [0.1, -0.2, 0.3, 0.4]), makeTensor('head.bias', DataType.FLOAT, [2], [0, 0.1]),
        ]));
      };
      const trainable = ['mix.weight', 'head.weight', 'head.bias'];
      // Once the run has shown that 'indices' is no boundary, the positions it is built from are none either:
      // their first dim is the batch, but they come from shapes alone.
      const graph = model(true).graph;
      const split = splitFrozenPrefix(graph, ['x'], new Set(trainable), inferShapes(graph, indexGraph(graph), 17), new Set(['indices']))!;
      expect(split.boundary).to.deep.equal(['last', 'last_col']);
      expect(split.rest.map((n) => n.name)).to.deep.equal(['mix', 'batch', 'count', 'positions', 'last_shape', 'batch_positions', 'position_col', 'indices', 'pick', 'head']);
      const { split: labelled } = twoInputData(20, 1);
      const data = { source: 'x', count: 20, inputs: { x: { shape: [3, 2], values: Float32Array.from({ length: 120 }, (_, i) => Math.sin(i * 1.7)) } }, labels: labelled.labels };
      const runner = await StageRunner.create(model(true), initialParameters(model(true)), fullFineTune({ lr: 1e-2, epochs: 1 }).stages[0], data, config, new Rng(1));
      expect(runner.artifacts.inputs).to.deep.equal(['last', 'last_col', 'x']);
      await runner.release();
      const plan = fullFineTune({ lr: 1e-2, epochs: 2 });
      expectSameTraining(await run(model(true), plan, { train: data, test: data }), await run(model(false), plan, { train: data, test: data }), trainable);
    });

    it('the rest leaves out the constant nodes only the prefix reads (a frozen weight transposed, as torch.export writes Linear)', () => {
      const graph = makeGraph([
        makeNode('Transpose', ['frozen.weight'], ['frozen_t'], { perm: [1, 0] }, 'transpose'),
        makeNode('MatMul', ['x', 'frozen_t'], ['h'], {}, 'frozen'),
        makeNode('Relu', ['dead_input'], ['dead'], {}, 'dead'),
        makeNode('MatMul', ['h', 'head.weight'], ['y'], {}, 'head'),
      ], 'g', [makeValueInfo('x', DataType.FLOAT, ['batch', 2])], [makeValueInfo('y', DataType.FLOAT, ['batch', 2])],
      [makeTensor('frozen.weight', DataType.FLOAT, [2, 2], new Float32Array(4)), makeTensor('head.weight', DataType.FLOAT, [2, 2], new Float32Array(4)), makeTensor('dead_input', DataType.FLOAT, [1], [1])]);
      const split = splitFrozenPrefix(graph, ['x'], new Set(['head.weight']), inferShapes(graph, indexGraph(graph), 17))!;
      expect(split.prefix.map((n) => n.name)).to.deep.equal(['transpose', 'frozen']);
      expect(split.rest.map((n) => n.name)).to.deep.equal(['head']);
    });

    it('so is a shape computed from a tensor whose shape is unknown', () => {
      const graph = makeGraph([
        makeNode('Gather', ['table', 'ids'], ['e'], {}, 'embed'),
        makeNode('Shape', ['e'], ['s'], {}, 'shape'),
        makeNode('Reshape', ['w', 's'], ['wide'], {}, 'reshape'),
        makeNode('Mul', ['e', 'wide'], ['y'], {}, 'mul'),
      ], 'g', [makeValueInfo('ids', DataType.INT64, ['batch', 3])], [makeValueInfo('y', DataType.FLOAT, null)],
      [makeTensor('w', DataType.FLOAT, [6], new Float32Array(6)), makeTensor('table', DataType.FLOAT, [5, 2], new Float32Array(10))]);
      const split = splitFrozenPrefix(graph, ['ids'], new Set(['w']), inferShapes(graph, indexGraph(graph), 17))!;
      expect(split.boundary).to.deep.equal(['e']);
      expect(split.rest.map((n) => n.name)).to.deep.equal(['shape', 'reshape', 'mul']);
    });
  });
});
