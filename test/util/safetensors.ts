// A strict reader of the safetensors files the project writes, to check them without Python: the header's
// length and padding, F32 tensors only, and data offsets that cover the data exactly, in order, without gaps.
import { expect } from 'chai';

export interface ReadSafetensors {
  headerLength: number;
  /** Header keys in file order, __metadata__ included. */
  keys: string[];
  metadata?: Record<string, string>;
  tensors: Map<string, { dims: number[]; values: Float32Array }>;
}

export function readSafetensors(bytes: Uint8Array): ReadSafetensors {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  const text = new TextDecoder().decode(bytes.subarray(8, 8 + headerLength));
  expect(text.startsWith('{'), 'header starts with {').to.equal(true);
  expect(/^[^ ]*\} *$/.test(text.replace(/"[^"]*"/g, '""')), 'only spaces after the JSON').to.equal(true);
  const header = JSON.parse(text) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const data = bytes.subarray(8 + headerLength);
  const tensors = new Map<string, { dims: number[]; values: Float32Array }>();
  let end = 0;
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    expect(entry.dtype, name).to.equal('F32');
    const [begin, stop] = entry.data_offsets;
    expect(begin, `${name} starts where the previous tensor ends`).to.equal(end);
    expect(stop - begin, `${name}: bytes for its shape`).to.equal(4 * entry.shape.reduce((a, b) => a * b, 1));
    const values = new Float32Array(new Uint8Array(data.subarray(begin, stop)).buffer); // a copy: aligned, and not a Buffer's pool
    tensors.set(name, { dims: entry.shape, values });
    end = stop;
  }
  expect(end, 'the tensors cover the data exactly').to.equal(data.length);
  return { headerLength, keys: Object.keys(header), metadata: header.__metadata__ as unknown as Record<string, string> | undefined, tensors };
}
