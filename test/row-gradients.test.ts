// An embedding table's gradient fetched as the ScatterND's rows and summed in JavaScript: the same bits as the
// dense gradient onnxruntime computes, repeated and negative ids included, and zero again after clearRows.
import { expect } from 'chai';
import { buildArtifacts, FLAT_GRADIENTS_MAX_ELEMENTS, LABELS } from '../src/artifacts/build.js';
import { LOSSES } from '../src/losses/index.js';
import { createSession, ort } from '../src/runtime/session.js';
import { clearRows, scatterRows, withRowGradients } from '../src/train/row-gradients.js';
import { initialParameters } from '../src/train/trainer.js';
import { DataType, makeGraph, makeModel, makeNode, makeTensor, makeValueInfo } from '../src/onnx/builder.js';
import { Rng } from '../src/train/rng.js';

/** ids -> embedding rows -> mean over the sequence -> a linear head; the table is past the flat-gradient size. */
function embeddingModel() {
  const [vocab, width] = [Math.ceil(FLAT_GRADIENTS_MAX_ELEMENTS / 64), 64];
  const rng = new Rng(3);
  const values = (n: number) => Float32Array.from({ length: n }, () => rng.normal() * 0.1);
  const graph = makeGraph([
    makeNode('Gather', ['embed.weight', 'input_ids'], ['embedded'], { axis: 0 }, 'embed'),
    makeNode('ReduceMean', ['embedded'], ['pooled'], { axes: [1], keepdims: 0 }, 'pool'),
    makeNode('Gemm', ['pooled', 'head.weight', 'head.bias'], ['logits'], { transB: 1 }, 'head'),
  ], 'embedding', [makeValueInfo('input_ids', DataType.INT64, ['batch', 5])], [makeValueInfo('logits', DataType.FLOAT, ['batch', 2])], [
    makeTensor('embed.weight', DataType.FLOAT, [vocab, width], values(vocab * width)),
    makeTensor('head.weight', DataType.FLOAT, [2, width], values(2 * width)), makeTensor('head.bias', DataType.FLOAT, [2], values(2)),
  ]);
  return makeModel(graph, { opset: 17 });
}

describe('embedding gradients as scattered rows', () => {
  it('ScatterND-add rows summed in JavaScript equal the dense gradient bit for bit, and clear back to zeros', async () => {
    const model = embeddingModel();
    const parameters = initialParameters(model);
    const artifacts = buildArtifacts(model, [...parameters.keys()], LOSSES.ce);
    const { model: sparse, rows } = withRowGradients(artifacts.train, artifacts.trainable);
    expect(rows.map((r) => r.name)).to.deep.equal(['embed.weight']);
    expect(sparse.graph.node.some((n) => n.opType === 'ScatterND')).to.equal(false);
    expect(artifacts.train.graph.node.some((n) => n.opType === 'ScatterND'), 'the artifacts keep theirs').to.equal(true);

    const embed = artifacts.trainable.find((p) => p.name === 'embed.weight')!;
    const ids = [1, 2, 2, 1, -1, 3, 3, 3, 0, -2];
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [2, 5]),
      [LABELS]: artifacts.labelType === 'int64' ? new ort.Tensor('int64', BigInt64Array.from([0n, 1n]), [2]) : new ort.Tensor('float32', Float32Array.from([0, 1]), [2]),
    };
    for (const p of artifacts.trainable) feeds[p.name] = new ort.Tensor('float32', parameters.get(p.name)!, p.dims);
    const dense = (await (await createSession(artifacts.train)).run(feeds))[embed.gradient].data as Float32Array;
    const row = rows[0];
    const out = await (await createSession(sparse)).run(feeds);
    const indices = out[row.indices], updates = out[row.updates];
    expect(scatterRows(row, indices.data as BigInt64Array, indices.dims, updates.data as Float32Array)).to.equal(true);
    expect(dense.some((v) => v !== 0)).to.equal(true);
    expect(Buffer.from(row.gradient.buffer).equals(Buffer.from(dense.buffer, dense.byteOffset, dense.byteLength))).to.equal(true);
    clearRows(row, indices.data as BigInt64Array, indices.dims);
    expect(row.gradient.every((v) => v === 0)).to.equal(true);
  });
});
