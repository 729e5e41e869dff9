// NumPy's .npz archives (np.savez, np.savez_compressed): a zip of .npy arrays, one per model input, named
// after it, plus the labels ('y', or --label). Every array has one row per example.
import { unzipSync } from 'fflate';
import { UserError } from '../errors.js';
import { readRegularFile } from '../runtime/files.js';
import { npyCount, parseNpy, type NpyArray } from './npy.js';

/** An archive is read whole, then its members inflated: a zip is at most 4 GiB without Zip64. */
const NPZ_LIMIT = 2 ** 32 - 1;

/** `labelled` false (predict on new data): the labels array may be missing, and is left out if there. */
export function readNpzArrays(path: string, label: string, labelled = true): { arrays: Map<string, NpyArray>; labels?: NpyArray } {
  const bytes = readRegularFile(path, '.npz file', { limit: NPZ_LIMIT });
  let members: Record<string, Uint8Array>;
  try {
    members = unzipSync(bytes);
  } catch (e) {
    throw new UserError(`${path}: not a valid .npz (zip) file (${(e as Error).message})`);
  }
  const arrays = new Map<string, NpyArray>();
  for (const [member, data] of Object.entries(members)) {
    if (member.endsWith('/')) continue;
    if (!member.endsWith('.npy')) throw new UserError(`${path}: member '${member}' is not an .npy array`);
    const name = member.slice(0, -4);
    arrays.set(name, parseNpy(data, `${path}: array '${name}'`));
  }
  const labels = labelled ? arrays.get(label) : undefined;
  if (labelled && !labels) throw new UserError(`${path}: no array '${label}' for the labels (arrays: ${[...arrays.keys()].join(', ') || 'none'}); choose another with --label`);
  arrays.delete(label);
  const [first] = arrays;
  const [countOf, count] = labels ? [label, npyCount(labels)] : first ? [first[0], npyCount(first[1])] : ['', 0];
  for (const [name, array] of arrays) {
    if (npyCount(array) !== count) throw new UserError(`${path}: array '${name}' has ${npyCount(array)} rows, expected ${count} (the length of '${countOf}')`);
  }
  return { arrays, labels };
}
