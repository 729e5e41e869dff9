// An embedding table's gradient is a ScatterND-add of the looked-up rows' gradients into zeros of the whole
// table (rules/gather.ts). Fetched dense from onnxruntime, that is a copy of the zeros, the scatter, and a
// copy of the table into a new JavaScript array every step (7.7 ms of BERT-Tiny's 83 ms run, its
// 30522x128 table). The training session fetches the ScatterND's indices and updates instead and does the
// same float32 additions, in the same order, into a buffer kept zero between steps: the same bits.
import type { ModelProto } from '../onnx/proto.js';
import { constantValues } from '../graph/shapes.js';
import { UserError } from '../errors.js';
import { DataType, makeValueInfo } from '../onnx/builder.js';

export interface RowGradient {
  /** The trainable parameter and its dense gradient buffer (zero outside a step's scattered rows). */
  name: string;
  dims: number[];
  gradient: Float32Array;
  /** The ScatterND's index and update inputs, fetched in place of the dense gradient. */
  indices: string;
  updates: string;
}

/**
 * The train graph without the ScatterND-adds into zeros that write trainable gradient outputs, and those
 * outputs' rows. The graph is copied where it changes; `trainable` lists the gradient outputs.
 */
export function withRowGradients(model: ModelProto, trainable: { name: string; dims: number[]; gradient: string; size: number }[]):
  { model: ModelProto; rows: RowGradient[] } {
  const { graph } = model;
  const consumers = (name: string) => graph.node.filter((n) => n.input.includes(name)).length;
  const rows: RowGradient[] = [];
  const removed = new Set<string>();
  for (const p of trainable) {
    const scatter = graph.node.find((n) => n.opType === 'ScatterND' && n.output[0] === p.gradient);
    const reduction = scatter?.attribute.find((a) => a.name === 'reduction')?.s;
    if (!scatter || !reduction || new TextDecoder().decode(reduction) !== 'add' || consumers(p.gradient) > 0) continue;
    const zeros = graph.node.find((n) => n.output[0] === scatter.input[0]);
    if (zeros?.opType !== 'Expand' || !constantValues(graph, zeros.input[0])?.every((v) => v === 0) || consumers(zeros.output[0]) > 1) continue;
    removed.add(scatter.name).add(zeros.name);
    rows.push({ name: p.name, dims: p.dims, gradient: new Float32Array(p.size), indices: scatter.input[1], updates: scatter.input[2] });
  }
  if (rows.length === 0) return { model, rows };
  const dense = new Set(rows.map((r) => trainable.find((p) => p.name === r.name)!.gradient));
  return {
    model: { ...model, graph: { ...graph, node: graph.node.filter((n) => !removed.has(n.name)), output: [
      ...graph.output.filter((o) => !dense.has(o.name)),
      ...rows.flatMap((r) => [makeValueInfo(r.indices, DataType.INT64, null), makeValueInfo(r.updates, DataType.FLOAT, null)]),
    ] } },
    rows,
  };
}

/**
 * ScatterND with reduction 'add' into `row.gradient` (zero before): indices [..., k] address slices of dims[k:].
 * Whether every sum is finite (the rest of the buffer is zero).
 */
export function scatterRows(row: RowGradient, indices: BigInt64Array, indexDims: readonly number[], updates: Float32Array): boolean {
  const k = indexDims[indexDims.length - 1];
  const slice = row.dims.slice(k).reduce((a, d) => a * d, 1);
  const { gradient } = row;
  for (let u = 0, at = 0; at < indices.length; u += slice, at += k) {
    let offset = 0;
    for (let j = 0; j < k; j++) {
      let i = Number(indices[at + j]);
      if (i < 0) i += row.dims[j];
      if (i < 0 || i >= row.dims[j]) throw new UserError(`index ${Number(indices[at + j])} out of range for '${row.name}' of shape [${row.dims.join(', ')}]`);
      offset = offset * row.dims[j] + i;
    }
    offset *= slice;
    for (let e = 0; e < slice; e++) gradient[offset + e] += updates[u + e];
  }
  for (let at = 0; at < indices.length; at += k) {
    const offset = sliceOffset(row, indices, at, k) * slice;
    for (let e = 0; e < slice; e++) if (!Number.isFinite(gradient[offset + e])) return false;
  }
  return true;
}

function sliceOffset(row: RowGradient, indices: BigInt64Array, at: number, k: number): number {
  let offset = 0;
  for (let j = 0; j < k; j++) {
    const i = Number(indices[at + j]);
    offset = offset * row.dims[j] + (i < 0 ? i + row.dims[j] : i);
  }
  return offset;
}

/** Zeros the slices scatterRows wrote, so the buffer is zero for the next step. */
export function clearRows(row: RowGradient, indices: BigInt64Array, indexDims: readonly number[]): void {
  const k = indexDims[indexDims.length - 1];
  const slice = row.dims.slice(k).reduce((a, d) => a * d, 1);
  for (let at = 0; at < indices.length; at += k) {
    const offset = sliceOffset(row, indices, at, k) * slice;
    row.gradient.fill(0, offset, offset + slice);
  }
}
