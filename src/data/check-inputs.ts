// A dataset must fit the model's data inputs before training starts: values for every input, of the input's
// element type, in example shapes that its fixed dims allow (a named dim the same size wherever it appears), and
// token ids within the embedding table they index (ONNX Runtime would fail mid-training, naming no example).
import type { DataInputInfo } from '../model/describe.js';
import { UserError } from '../errors.js';
import { exampleLocation, exampleSize, INPUT_TYPES, inputsFor, inputType, type Dataset, type InputValues } from './dataset.js';
import type { EmbeddingTable } from '../model/embedding-tables.js';

export function checkDataInputs(data: Dataset, modelInputs: readonly DataInputInfo[]): void {
  const inputs = inputsFor(data, modelInputs.map((i) => i.name));
  const symbols = new Map<string, { size: number; input: string }>();
  for (const model of modelInputs) {
    if (model.name === data.lazy?.inputName) continue; // made per batch, in the shape its reader took from this input
    const { shape, values } = inputs[model.name];
    const where = `${data.source}: input '${model.name}'`;
    const type = INPUT_TYPES[model.elemType]?.type;
    if (type !== inputType(values)) throw new UserError(`${where} is ${type ?? model.elemType} in the model, but the data holds ${inputType(values)} values`);
    if (values.length !== data.count * exampleSize({ shape })) throw new UserError(`${where}: ${values.length} values for ${data.count} examples of shape [${shape}]`);
    if (model.embedding) checkTokenIds(data, model.name, values, exampleSize({ shape }), model.embedding);
    const dims = model.shape?.slice(1);
    if (!dims) continue;
    const fits = dims.length === shape.length && dims.every((d, i) => typeof d !== 'number' || d === shape[i]);
    if (!fits) throw new UserError(`${where}: examples of shape [${shape}] (${exampleSize({ shape })} values), but the model's input takes [${dims.map((d) => d ?? '?')}] per example`);
    dims.forEach((d, i) => {
      if (typeof d !== 'string') return;
      const seen = symbols.get(d);
      if (seen && seen.size !== shape[i]) throw new UserError(`${where}: dimension '${d}' is ${shape[i]}, but ${seen.size} in input '${seen.input}'`);
      symbols.set(d, { size: shape[i], input: model.name });
    });
  }
}

/** Every id a row of the table: the first that is not names its example, the id and the table's size. */
function checkTokenIds(data: Dataset, input: string, values: InputValues, perExample: number, embedding: EmbeddingTable): void {
  if (values instanceof Float32Array) return;
  const rows = embedding.rows;
  for (let k = 0; k < values.length; k++) {
    const id = Number(values[k]);
    if (id >= 0 && id < rows) continue;
    const example = Math.floor(k / perExample);
    throw new UserError(`${data.source}: ${exampleLocation(data, example)}, input '${input}': token id ${id} is ${id < 0 ? 'negative' : 'past the vocabulary'}; the model's embedding table '${embedding.table}' has ${rows} rows (ids 0 to ${rows - 1})`);
  }
}
