// The safetensors format, which PyTorch loads with safetensors.torch.load_file: an 8-byte little-endian header
// length, a JSON header naming each tensor's dtype, shape and byte range, then the tensors' bytes back to back.
// Float32 only: what the project trains. No Node APIs, so it runs in a browser too.

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
