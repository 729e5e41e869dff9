// CSV datasets: csv-parse reads the file, csv.ts checks every cell and the label column.
import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCsvDataset } from '../src/data/csv.js';
import { singleInput } from '../src/data/dataset.js';

const dir = mkdtempSync(join(tmpdir(), 'onnx-finetune-csv-'));
const file = (name: string, text: string) => {
  writeFileSync(join(dir, name), text);
  return join(dir, name);
};

describe('CSV datasets', () => {
  it('reads mixed line endings and a byte-order mark', () => {
    const d = readCsvDataset(file('mixed.csv', '\ufeffa,b,y\r\n1,2,0\n3,4,1\r\n'));
    expect(d.count).to.equal(2);
    expect(Array.from(singleInput(d).values as Float32Array)).to.deep.equal([1, 2, 3, 4]);
    expect(Array.from(d.labels)).to.deep.equal([0, 1]);
  });

  it("takes the label from 'y', else the last column, else the --label column", () => {
    expect(Array.from(singleInput(readCsvDataset(file('y-first.csv', 'y,a\n1,5\n'))).values as Float32Array)).to.deep.equal([5]);
    expect(Array.from(readCsvDataset(file('last.csv', 'a,target\n5,1\n')).labels)).to.deep.equal([1]);
    expect(Array.from(singleInput(readCsvDataset(file('named.csv', 'k,a,b\n1,5,6\n'), { label: 'k' })).values as Float32Array)).to.deep.equal([5, 6]);
  });

  it('names the line and column of a bad cell', () => {
    const path = file('bad.csv', 'a,b,y\n1,2,0\n3,x,1\n');
    expect(() => readCsvDataset(path)).to.throw(`${path}: line 3, column 'b': 'x' (not a number)`);
    const inf = file('inf.csv', 'a,b,y\n1,Infinity,0\n');
    expect(() => readCsvDataset(inf)).to.throw(`${inf}: line 2, column 'b': 'Infinity' (not finite)`);
  });

  it("names the file's own line when blank lines come before it", () => {
    const path = file('blank.csv', 'a,b,y\n\n1,2,0\n\n\n3,x,1\n');
    expect(() => readCsvDataset(path)).to.throw(`${path}: line 6, column 'b': 'x' (not a number)`);
    expect(Array.from(readCsvDataset(file('blank-ok.csv', 'a,y\n\n1,0\n\n2,1\n')).lines!)).to.deep.equal([3, 5]);
  });

  it('refuses values float32 cannot hold, and numbers that are not decimal', () => {
    const big = file('big.csv', 'a,y\n1e39,0\n');
    expect(() => readCsvDataset(big)).to.throw(`${big}: line 2, column 'a': '1e39' (beyond float32's range)`);
    const hex = file('hex.csv', 'a,y\n0x10,0\n');
    expect(() => readCsvDataset(hex)).to.throw(`${hex}: line 2, column 'a': '0x10' (not a number)`);
  });

  it('reshapes rows to the example shape and refuses a mismatch', () => {
    expect(readCsvDataset(file('img.csv', 'p0,p1,p2,p3,y\n1,2,3,4,0\n'), { featureShape: [1, 2, 2] }).inputs.x.shape).to.deep.equal([1, 2, 2]);
    expect(() => readCsvDataset(file('img3.csv', 'p0,p1,p2,y\n1,2,3,0\n'), { featureShape: [1, 2, 2] })).to.throw(/3 feature columns, but the model's input takes 4 values per example \(shape \[1,2,2\]\)/);
  });
});
