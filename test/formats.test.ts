// NPY, NPZ and Parquet through the command: the same data in every format trains to the same bytes, and bad
// files get one line naming the file, the array or column, and the problem. Also the streaming CSV scanner's
// numbers and quoting, chunk by chunk.
import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { zipSync } from 'fflate';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { saveModel } from '../src/onnx/io.js';
import { parseDecimal } from '../src/decimal.js';
import { CsvScanner, decimalFromBytes } from '../src/data/csv-scan.js';
import { Rng } from '../src/train/rng.js';
import { cli } from './util/cli.js';
import { fixturePath } from './util/fixtures.js';
import { textExamples, textModel } from './util/multi-input-models.js';

type Dtype = '<f4' | '<f8' | '<i8' | '<i4' | '|u1' | '<f2';
const ITEM: Record<Dtype, number> = { '<f4': 4, '<f8': 8, '<i8': 8, '<i4': 4, '|u1': 1, '<f2': 2 };

/** An .npy file (version 1), as np.save writes it. */
function npy(values: ArrayLike<number>, shape: number[], dtype: Dtype, extra = ''): Uint8Array {
  let header = `{'descr': '${dtype}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), ${extra}}`;
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';
  const data = new Uint8Array(values.length * ITEM[dtype]);
  const view = new DataView(data.buffer);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (dtype === '<f4') view.setFloat32(i * 4, v, true);
    else if (dtype === '<f8') view.setFloat64(i * 8, v, true);
    else if (dtype === '<i8') view.setBigInt64(i * 8, BigInt(v), true);
    else if (dtype === '<i4') view.setInt32(i * 4, v, true);
    else if (dtype === '|u1') view.setUint8(i, v);
  }
  const head = new Uint8Array(10);
  head.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(head.buffer).setUint16(8, header.length, true);
  return Buffer.concat([head, Buffer.from(header, 'latin1'), data]);
}

/** The torch-seed CSV's header, feature rows and labels, as the CSV reader parses them. */
function readSeedCsv(name: string) {
  const [header, ...rows] = readFileSync(fixturePath('torch-seed', name), 'utf8').trim().split('\n').map((l) => l.split(','));
  const x = rows.map((r) => r.slice(0, 10).map(Number));
  const y = rows.map((r) => Number(r[10]));
  return { header, x, y };
}

describe('NPY, NPZ and Parquet data', function () {
  this.timeout(300_000);
  let tmp: string;
  before(() => { tmp = mkdtempSync(join(tmpdir(), 'onnx-finetune-formats-')); });
  after(() => rmSync(tmp, { recursive: true, force: true }));
  const file = (name: string, data: Uint8Array | ArrayBuffer | string) => {
    writeFileSync(join(tmp, name), data instanceof ArrayBuffer ? new Uint8Array(data) : data);
    return join(tmp, name);
  };

  /** Trains and returns the exported weights' bytes. */
  async function train(args: string[], out: string): Promise<Buffer> {
    const run = await cli(['linear-probe', ...args, '--epochs', '2', '--batch-size', '16', '--out', join(tmp, out), '--json'], tmp);
    expect(run.code, run.stderr).to.equal(0);
    return readFileSync(join(tmp, out, 'linear_probe.safetensors'));
  }

  it('the same data as CSV, JSONL, NPY, NPZ (stored and deflated) and Parquet trains to bit-identical weights', async () => {
    const model = fixturePath('torch-seed', 'model.onnx');
    const sets = { train: readSeedCsv('train.csv'), test: readSeedCsv('test.csv') };
    const files: Record<string, Record<'train' | 'test', string[]>> = { csv: { train: [fixturePath('torch-seed', 'train.csv')], test: [fixturePath('torch-seed', 'test.csv')] }, jsonl: { train: [], test: [] }, npy: { train: [], test: [] }, npz: { train: [], test: [] }, 'npz-stored': { train: [], test: [] }, parquet: { train: [], test: [] } };
    for (const part of ['train', 'test'] as const) {
      const { header, x, y } = sets[part];
      const flat = x.flat();
      files.jsonl[part] = ['--' + part, file(`${part}.jsonl`, x.map((row, i) => JSON.stringify({ x: row, y: y[i] })).join('\n'))];
      files.npy[part] = ['--' + part, file(`${part}-x.npy`, npy(flat, [x.length, 10], '<f4')), `--${part}-labels`, file(`${part}-y.npy`, npy(y, [y.length], '<i8'))];
      const arrays = { 'x.npy': npy(flat, [x.length, 10], '<f8'), 'y.npy': npy(y, [y.length], '|u1') };
      files.npz[part] = ['--' + part, file(`${part}.npz`, zipSync(arrays, { level: 6 }))];
      files['npz-stored'][part] = ['--' + part, file(`${part}-stored.npz`, zipSync(arrays, { level: 0 }))];
      const columnData = header.map((name, c) => ({ name, data: c < 10 ? x.map((r) => r[c]) : y, type: c < 10 ? 'DOUBLE' as const : 'INT32' as const }));
      files.parquet[part] = ['--' + part, file(`${part}.parquet`, parquetWriteBuffer({ columnData, rowGroupSize: 100 }))];
    }
    files.csv.train.unshift('--train');
    files.csv.test.unshift('--test');
    const weights: Record<string, Buffer> = {};
    for (const [format, f] of Object.entries(files)) weights[format] = await train(['--model', model, ...f.train, ...f.test], `parity-${format}`);
    for (const format of Object.keys(files)) expect(weights[format].equals(weights.csv), `${format} differs from CSV`).to.equal(true);
  });

  it('a two-input int64 model: JSONL, NPZ and Parquet list columns train to bit-identical weights', async () => {
    const model = file('text.onnx', '');
    saveModel(model, textModel());
    const args: Record<string, string[]> = { jsonl: [], npz: [], parquet: [] };
    for (const [part, seed] of [['train', 1], ['test', 2]] as const) {
      const { ids, mask, labels } = textExamples(part === 'train' ? 48 : 24, 6, seed);
      args.jsonl.push(`--${part}`, file(`text-${part}.jsonl`, ids.map((r, i) => JSON.stringify({ input_ids: r, attention_mask: mask[i], y: labels[i] })).join('\n')));
      args.npz.push(`--${part}`, file(`text-${part}.npz`, zipSync({ 'input_ids.npy': npy(ids.flat(), [ids.length, 6], '<i8'), 'attention_mask.npy': npy(mask.flat(), [ids.length, 6], '<i4'), 'y.npy': npy(labels, [labels.length], '<i8') })));
      const list = (name: string) => [
        { name, repetition_type: 'REQUIRED' as const, converted_type: 'LIST' as const, num_children: 1 },
        { name: 'list', repetition_type: 'REPEATED' as const, num_children: 1 },
        { name: 'element', type: 'INT64' as const, repetition_type: 'REQUIRED' as const },
      ];
      const buffer = parquetWriteBuffer({
        columnData: [
          { name: 'input_ids', data: ids.map((r) => r.map(BigInt)) },
          { name: 'attention_mask', data: mask.map((r) => r.map(BigInt)) },
          { name: 'y', data: labels.map(BigInt) },
        ],
        schema: [{ name: 'root', num_children: 3 }, ...list('input_ids'), ...list('attention_mask'), { name: 'y', type: 'INT64', repetition_type: 'REQUIRED' }],
      });
      args.parquet.push(`--${part}`, file(`text-${part}.parquet`, buffer));
    }
    const common = ['--model', model, '--head', 'head.*'];
    const jsonl = await train([...common, ...args.jsonl], 'text-jsonl');
    expect((await train([...common, ...args.npz], 'text-npz')).equals(jsonl), 'NPZ differs from JSONL').to.equal(true);
    expect((await train([...common, ...args.parquet], 'text-parquet')).equals(jsonl), 'Parquet differs from JSONL').to.equal(true);
  });

  describe('bad files get one line naming the problem', () => {
    const model = fixturePath('torch-seed', 'model.onnx');
    const test = fixturePath('torch-seed', 'test.csv');
    const x = Array.from({ length: 40 }, (_, i) => (i % 7) / 7);
    const cases: [string, () => string[], RegExp][] = [
      ['an NPZ array with the wrong length', () => ['--train', file('short.npz', zipSync({ 'x.npy': npy(x.slice(0, 30), [3, 10], '<f4'), 'y.npy': npy([0, 1, 0, 1], [4], '<i8') }))],
        /short\.npz: array 'x' has 3 rows, expected 4 \(the length of 'y'\)$/],
      ['a Parquet column of text', () => ['--train', file('text.parquet', parquetWriteBuffer({ columnData: [{ name: 'a', data: ['1', '2'], type: 'STRING' }, { name: 'y', data: [0, 1], type: 'INT32' }] }))],
        /text\.parquet: column 'a' is BYTE_ARRAY \((UTF8|STRING)\), not numbers \(FLOAT, DOUBLE, INT32, INT64 or BOOLEAN\)$/],
      ['an NPY dtype that is not supported', () => ['--train', file('half.npy', npy([], [4, 10], '<f2')), '--train-labels', file('y4.npy', npy([0, 1, 0, 1], [4], '<i8'))],
        /half\.npy: dtype '<f2' is not supported \(little-endian float32, float64, int64, int32, uint8 or bool\)$/],
      ['a truncated NPY file', () => ['--train', file('cut.npy', npy(x, [4, 10], '<f4').subarray(0, 200)), '--train-labels', file('y4b.npy', npy([0, 1, 0, 1], [4], '<i8'))],
        /cut\.npy: truncated \.npy data: shape \(4, 10\) of float32 needs 160 bytes, the file has \d+$/],
      ['labels that do not match the features', () => ['--train', file('x4.npy', npy(x, [4, 10], '<f4')), '--train-labels', file('y3.npy', npy([0, 1, 0], [3], '<i8'))],
        /y3\.npy: 3 labels for the 4 examples of .*x4\.npy$/],
      ['NPY features without labels', () => ['--train', file('x4b.npy', npy(x, [4, 10], '<f4'))], /x4b\.npy: an \.npy file holds the features only; give the labels as a second \.npy file \(--train-labels, --test-labels\)/],
    ];
    cases.push(['a Fortran-order array', () => {
      const bytes = Buffer.from(npy(x, [4, 10], '<f4'));
      bytes.write("'fortran_order': True, ", bytes.indexOf("'fortran_order'"), 'latin1');
      return ['--train', file('f.npy', bytes), '--train-labels', file('y4c.npy', npy([0, 1, 0, 1], [4], '<i8'))];
    }, /f\.npy: Fortran-order \(column-major\) array; save it in C order/]);
    for (const [what, args, message] of cases) {
      it(what, async () => {
        const run = await cli(['linear-probe', '--model', model, ...args(), '--test', test, '--out', join(tmp, 'bad')], tmp);
        expect(run.code, run.stderr).to.equal(1);
        expect(run.stderr.trim().split('\n')).to.have.length(1);
        expect(run.stderr.trim()).to.match(message);
      });
    }
  });
});

describe('the streaming CSV scanner', () => {
  it('reads numbers bit for bit as parseDecimal does', () => {
    const rng = new Rng(7);
    const samples = ['0', '-0', '+1.5', '1.', '.5', '1e5', '1E-5', '-2.5e+3', '123456789012345', '1234567890123456789', '0.1', '3.4028235e38', '1e39', '1e-400',
      '00000000000000000001.5', '.', '', '-', 'e5', '1e', '1e+', '0x10', '1,5', ' 1', 'NaN', 'Infinity', '1.2.3', '٣'];
    for (let i = 0; i < 2000; i++) samples.push((rng.next() * 10 ** Math.floor(rng.next() * 20 - 10)).toPrecision(1 + Math.floor(rng.next() * 17)), String(rng.next() - 0.5));
    for (const text of samples) {
      const bytes = Buffer.from(text);
      expect(Object.is(decimalFromBytes(bytes, 0, bytes.length), parseDecimal(text)), text).to.equal(true);
    }
  });

  it('reads a feature as the float32 that parseDecimal rounds to, also for 16 to 19 digits and at float32 rounding boundaries', () => {
    const rng = new Rng(8);
    const f32 = new Float32Array(2), bits = new Uint32Array(f32.buffer);
    const samples: string[] = [];
    for (let i = 0; i < 20000; i++) {
      const f = Math.fround((rng.next() - 0.5) * 10 ** Math.floor(rng.next() * 12 - 6));
      samples.push(String(f), f.toPrecision(16), f.toPrecision(19 - Math.floor(rng.next() * 3)));
      // Exactly halfway between two float32s, and a hair either side: where a sloppy parse would round the wrong way.
      f32[0] = f;
      bits[1] = bits[0] + 1;
      const half = (f32[0] + f32[1]) / 2;
      samples.push(String(half), half.toPrecision(17), half.toPrecision(18), (half * (1 + 2 ** -50)).toPrecision(17), (half * (1 - 2 ** -50)).toPrecision(17));
    }
    for (const text of samples) {
      const bytes = Buffer.from(text);
      expect(Object.is(Math.fround(decimalFromBytes(bytes, 0, bytes.length, true)), Math.fround(parseDecimal(text))), text).to.equal(true);
    }
  });

  it('gives the same records fed whole or a byte at a time: quotes, doubled quotes, line breaks in quotes, blank lines', () => {
    const text = '\ufeffa, "b ""q""",y\r\n\n1,"2\n3",0\r4 ,\t5,"1"\r\n"",7,8\n';
    const scan = (chunkSize: number) => {
      const records: { line: number; cells: string[] }[] = [];
      let current: { line: number; cells: string[] } = { line: 0, cells: [] };
      const scanner = new CsvScanner('t.csv', {
        beginRecord: (line) => { current = { line, cells: [] }; },
        cell: (b, s, e) => current.cells.push(Buffer.from(b.subarray(s, e)).toString()),
        quotedCell: (t) => current.cells.push(`[${t}]`),
        endRecord: () => records.push(current),
      }, 1000);
      const bytes = Buffer.from(text);
      for (let i = 0; i < bytes.length; i += chunkSize) scanner.feed(Uint8Array.from(bytes.subarray(i, i + chunkSize)));
      scanner.end();
      return records;
    };
    const whole = scan(1 << 20);
    expect(whole).to.deep.equal([
      { line: 1, cells: ['a', '[b "q"]', 'y'] },
      { line: 3, cells: ['1', '[2\n3]', '0'] },
      { line: 5, cells: ['4', '5', '[1]'] },
      { line: 6, cells: ['[]', '7', '8'] },
    ]);
    expect(scan(1)).to.deep.equal(whole);
    expect(scan(3)).to.deep.equal(whole);
  });

  it('refuses a quote inside a field and a quote never closed, naming the line', () => {
    const run = (text: string) => () => {
      const scanner = new CsvScanner('t.csv', { beginRecord() {}, cell() {}, quotedCell() {}, endRecord() {} }, 1000);
      scanner.feed(Buffer.from(text));
      scanner.end();
    };
    expect(run('a,y\n1,2"3\n')).to.throw('t.csv: not a valid CSV file (line 2: a quote inside an unquoted field; quote the whole field and double the quotes in it)');
    expect(run('a,y\n1,"2\n\n')).to.throw('t.csv: not a valid CSV file (line 2: a quoted field is not closed before the end of the file)');
    expect(run('a,y\n"1"x,2\n')).to.throw('t.csv: not a valid CSV file (line 2: characters after the closing quote of a field)');
  });
});
