// JSONL datasets: one object per line, one key per model input plus the label; every error names the file,
// the line and the key.
import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readJsonlDataset, type JsonlInput } from '../src/data/jsonl.js';
import { readDataset } from '../src/data/read.js';
import { DataType } from '../src/onnx/builder.js';

const dir = mkdtempSync(join(tmpdir(), 'onnx-finetune-jsonl-'));
const file = (name: string, lines: string[]) => {
  writeFileSync(join(dir, name), lines.join('\n'));
  return join(dir, name);
};
const TEXT: JsonlInput[] = [
  { name: 'input_ids', type: 'int64', shape: ['sequence'] },
  { name: 'attention_mask', type: 'int64', shape: ['sequence'] },
];
const IMAGE: JsonlInput[] = [{ name: 'x', type: 'float32', shape: [1, 2, 2] }];

describe('JSONL datasets', () => {
  it('reads one typed array per input, reshaped to its example shape, and the labels', () => {
    const path = file('text.jsonl', [
      '{"input_ids": [5, 6, 7], "attention_mask": [1, 1, 0], "y": 2}',
      '',
      '{"y": 0, "attention_mask": [1, 0, 0], "input_ids": [9, 0, 0]}',
    ]);
    const d = readJsonlDataset(path, { inputs: TEXT });
    expect(d.count).to.equal(2);
    expect(d.inputs.input_ids.shape).to.deep.equal([3]); // 'sequence' from the data
    expect(d.inputs.input_ids.values).to.deep.equal(BigInt64Array.from([5n, 6n, 7n, 9n, 0n, 0n]));
    expect(d.inputs.attention_mask.values).to.deep.equal(BigInt64Array.from([1n, 1n, 0n, 1n, 0n, 0n]));
    expect(Array.from(d.labels)).to.deep.equal([2, 0]);
    expect(Array.from(d.lines!)).to.deep.equal([1, 3]); // the blank line skipped, but counted
  });

  it('casts to float32 and int32, takes a fixed shape and another label key', () => {
    const img = readJsonlDataset(file('img.jsonl', ['{"x": [0.5, -1, 2e3, 3], "label": 1}', '\r', '{"x": [1, 2, 3, 4], "label": 0}']), { inputs: IMAGE, label: 'label' });
    expect(img.inputs.x.shape).to.deep.equal([1, 2, 2]);
    expect(img.inputs.x.values).to.deep.equal(Float32Array.from([0.5, -1, 2000, 3, 1, 2, 3, 4]));
    const ids = readJsonlDataset(file('int32.jsonl', ['{"ids": [-2147483648, 2147483647], "y": 1}']), { inputs: [{ name: 'ids', type: 'int32', shape: [2] }] });
    expect(ids.inputs.ids.values).to.deep.equal(Int32Array.from([-2147483648, 2147483647]));
    const flat = readJsonlDataset(file('unknown-rank.jsonl', ['{"v": [1, 2, 3], "y": 0}']), { inputs: [{ name: 'v', type: 'float32', shape: null }] });
    expect(flat.inputs.v.shape).to.deep.equal([3]);
    const partly = readJsonlDataset(file('partly.jsonl', ['{"v": [1, 2, 3, 4, 5, 6], "y": 0}']), { inputs: [{ name: 'v', type: 'float32', shape: [null, 2] }] });
    expect(partly.inputs.v.shape).to.deep.equal([3, 2]);
  });

  const errors: [string, string[], JsonlInput[], string | RegExp][] = [
    ['bad JSON', ['{"input_ids": [1], "attention_mask": [1], "y": 0}', '{"input_ids": [1], '], TEXT, /: line 2: not valid JSON \(/],
    ['a line that is not an object', ['[1, 2]'], TEXT, ': line 1: an array, not a JSON object'],
    ['a missing input key', ['{"input_ids": [1], "y": 0}'], TEXT, ": line 1: no key 'attention_mask' (an input of the model)"],
    ['a missing label', ['{"input_ids": [1], "attention_mask": [1]}'], TEXT, ": line 1: no key 'y' (the label; choose another key with --label)"],
    ['an extra key', ['{"input_ids": [1], "attention_mask": [1], "token_type_ids": [0], "y": 0}'], TEXT, ": line 1, key 'token_type_ids': not an input of the model ('input_ids', 'attention_mask') nor the label 'y'"],
    ['a wrong length for a fixed shape', ['{"x": [1, 2, 3], "y": 0}'], IMAGE, ": line 1, key 'x': 3 values, but the input takes 4 per example (shape [1,2,2])"],
    ['a length that differs from the first line\'s', ['{"v": [1, 2], "y": 0}', '{"v": [1, 2, 3], "y": 0}'], [{ name: 'v', type: 'float32', shape: [null] }],
      ": line 2, key 'v': 3 values, but the input takes 2 per example (shape [2], its length fixed by the file's first example)"],
    ['a named dim that differs between inputs', ['{"input_ids": [1, 2, 3], "attention_mask": [1, 1], "y": 0}'], TEXT,
      ": line 1, key 'attention_mask': 2 values do not fill the example shape [3] ('sequence' is 3 in this file, from line 1, key 'input_ids')"],
    ['a named dim that differs between lines', ['{"input_ids": [1, 2], "attention_mask": [1, 1], "y": 0}', '{"input_ids": [1], "attention_mask": [1], "y": 0}'], TEXT,
      ": line 2, key 'input_ids': 1 values, but the input takes 2 per example (shape [2], 'sequence' fixed at 2 by line 1, key 'input_ids')"],
    ['a length that does not fill the known dims', ['{"v": [1, 2, 3], "y": 0}'], [{ name: 'v', type: 'float32', shape: [null, 2] }], ": line 1, key 'v': 3 values do not fill the example shape [?,2]"],
    ['a string value', ['{"x": [1, "2", 3, 4], "y": 0}'], IMAGE, ": line 1, key 'x': element 1 is \"2\", not a number"],
    ['a nested array', ['{"x": [[1, 2], [3, 4]], "y": 0}'], IMAGE, ": line 1, key 'x': nested arrays; give the example's values as one flat array, row-major"],
    ['a value that is not an array', ['{"x": 7, "y": 0}'], IMAGE, ": line 1, key 'x': 7, not an array of numbers"],
    ['a value beyond float32', ['{"x": [1, 2, 3, 1e39], "y": 0}'], IMAGE, ": line 1, key 'x': element 3 is 1e+39, beyond float32's range"],
    ['a fraction for an integer input', ['{"input_ids": [1.5], "attention_mask": [1], "y": 0}'], TEXT, ": line 1, key 'input_ids': element 0 is 1.5, not an integer (the input is int64)"],
    ['an integer beyond int32', ['{"ids": [2147483648], "y": 0}'], [{ name: 'ids', type: 'int32', shape: [1] }], ": line 1, key 'ids': element 0 is 2147483648, outside int32's range [-2147483648, 2147483647]"],
    ['an integer beyond what JSON keeps exactly', ['{"input_ids": [9007199254740993], "attention_mask": [1], "y": 0}'], TEXT, /: line 1, key 'input_ids': element 0 is 9007199254740992, outside the integers a JSON number holds exactly/],
    ['a label that is neither a number nor a class name', ['{"x": [1, 2, 3, 4], "y": true}'], IMAGE, ": line 1, key 'y': label true, not a number or a class name"],
    ['an empty file', ['', '  '], IMAGE, ': no examples (the file is empty)'],
    ['two unknown dims', ['{"v": [1], "y": 0}'], [{ name: 'v', type: 'float32', shape: ['h', 'w'] }], ": input 'v' has 2 dimensions of unknown size (example shape [h,w]); a flat array fixes only one"],
    ['a label key that is an input', ['{"y": [1], "x": 0}'], [{ name: 'y', type: 'float32', shape: [1] }], ": the label key 'y' is also the name of a model input; choose another with --label"],
  ];
  for (const [what, lines, inputs, message] of errors) {
    it(`names the file, line and key: ${what}`, () => {
      const path = file(`${what.replace(/\W+/g, '-')}.jsonl`, lines);
      const expected = typeof message === 'string' ? `${path}${message}` : new RegExp(path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') + message.source);
      expect(() => readJsonlDataset(path, { inputs })).to.throw(expected as never);
    });
  }

  it('a missing file', () => {
    expect(() => readJsonlDataset(join(dir, 'nope.jsonl'), { inputs: IMAGE })).to.throw(`${join(dir, 'nope.jsonl')}: cannot read JSONL file (no such file or folder, ENOENT)`);
  });

  it('readDataset picks the format by extension, and a CSV file for several inputs gets one error suggesting JSONL', () => {
    const inputs = [
      { name: 'input_ids', elemType: DataType.INT64, shape: ['batch', 'sequence'] },
      { name: 'attention_mask', elemType: DataType.INT64, shape: ['batch', 'sequence'] },
    ];
    const path = file('upper.JSONL', ['{"input_ids": [1, 2], "attention_mask": [1, 1], "y": 1}']);
    expect(readDataset(path, inputs).inputs.input_ids.shape).to.deep.equal([2]);
    const csv = join(dir, 'text.csv');
    writeFileSync(csv, 'a,b,y\n1,2,0\n');
    expect(() => readDataset(csv, inputs)).to.throw(`${csv}: a CSV file feeds one float input, but the model has 2 inputs (input_ids, attention_mask); give the data as JSONL`);
    expect(() => readDataset(csv, inputs.slice(0, 1))).to.throw(`${csv}: a CSV file feeds one float input, but the model has the INT64 input 'input_ids'; give the data as JSONL`);
    expect(readDataset(csv, [{ name: 'features', elemType: DataType.FLOAT, shape: ['n', 2] }]).inputs.features.shape).to.deep.equal([2]);
  });
});
