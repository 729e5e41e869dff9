// The safetensors format, which PyTorch loads with safetensors.torch.load_file: an 8-byte little-endian header
// length, a JSON header naming each tensor's dtype, shape and byte range, then the tensors' bytes back to back.
// Float32 only: what the project trains. No Node APIs, so it runs in a browser too.
import { UserError } from '../errors.js';

export interface NamedTensor {
  name: string;
  dims: number[];
  values: Float32Array;
}

/** The file's bytes as chunks to write in order: header length, header, then each tensor, sorted by name. */
export function encodeSafetensors(tensors: NamedTensor[], metadata: Record<string, string> = {}): Uint8Array[] {
  const sorted = [...tensors].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const entries: string[] = [];
  if (Object.keys(metadata).length > 0) entries.push(`"__metadata__":${JSON.stringify(metadata)}`);
  let offset = 0;
  for (const t of sorted) {
    const end = offset + t.values.byteLength;
    entries.push(`${JSON.stringify(t.name)}:${JSON.stringify({ dtype: 'F32', shape: t.dims, data_offsets: [offset, end] })}`);
    offset = end;
  }
  // Spaces pad the header so the data starts 8-byte aligned, as the format recommends.
  const json = new TextEncoder().encode(`{${entries.join(',')}}`);
  const headerBytes = new Uint8Array(Math.ceil(json.length / 8) * 8).fill(0x20);
  headerBytes.set(json);
  const length = new Uint8Array(8);
  new DataView(length.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  // Float32Array bytes are the host's order: little-endian, as everywhere in the project (raw_data too).
  return [length, headerBytes, ...sorted.map((t) => new Uint8Array(t.values.buffer, t.values.byteOffset, t.values.byteLength))];
}

/**
 * The tensors of a safetensors file, F32 only (what PEFT saves for float32 models), each checked against the
 * header's shape and byte range; `source` names the file in errors. `metadata` is the header's __metadata__.
 */
export function decodeSafetensors(bytes: Uint8Array, source: string): { tensors: NamedTensor[]; metadata: Record<string, string> } {
  const bad = (why: string): never => {
    throw new UserError(`${source}: not a safetensors file (${why})`);
  };
  if (bytes.length < 8) bad('shorter than its 8-byte header length');
  const headerLength = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  if (headerLength > bytes.length - 8) bad(`a header of ${headerLength} bytes in a file of ${bytes.length}`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLength)));
  } catch {
    return bad('its header is not JSON');
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) bad('its header is not a JSON object');
  const data = bytes.subarray(8 + headerLength);
  const tensors: NamedTensor[] = [];
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const { dtype, shape, data_offsets: offsets } = (entry ?? {}) as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (dtype !== 'F32') bad(`tensor '${name}' is ${String(dtype)}; only F32 is read`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) bad(`tensor '${name}' has no valid shape`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((d) => Number.isSafeInteger(d))) bad(`tensor '${name}' has no valid data_offsets`);
    const [begin, end] = offsets as number[];
    const count = (shape as number[]).reduce((a, b) => a * b, 1);
    if (begin < 0 || end > data.length || end - begin !== count * 4) bad(`tensor '${name}': bytes ${begin}..${end} do not hold shape [${shape}] in a data section of ${data.length}`);
    // Copy: the bytes may not be 4-aligned for a Float32Array view.
    const values = new Float32Array(count);
    new Uint8Array(values.buffer).set(data.subarray(begin, end));
    tensors.push({ name, dims: shape as number[], values });
  }
  const metadata = (header.__metadata__ ?? {}) as Record<string, string>;
  return { tensors, metadata };
}

