// Hostile and broken model files: mutated bytes of the fixtures' real models (truncations, bit flips, byte
// rewrites that change field lengths, spliced chunks) must each end in a clean UserError or a valid model —
// never a crash, a hang or an allocation far beyond the file. Seeded, so a failure names a reproducible case.
import { expect } from 'chai';
import { copyFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeModel } from '../src/onnx/io.js';
import { describeModel } from '../src/model/describe.js';
import { initialParameters } from '../src/train/trainer.js';
import { UserError } from '../src/errors.js';
import { Rng } from '../src/train/rng.js';
import { fixturePath } from './util/fixtures.js';

const CASES_PER_MODEL = 1500;
const MAX_MS_PER_CASE = 1000;
const MAX_EXTRA_BYTES = 64 * 1024 * 1024;

function mutate(source: Uint8Array, rng: Rng): Uint8Array {
  const bytes = Uint8Array.from(source);
  const at = () => rng.int(bytes.length);
  switch (rng.int(5)) {
    case 0: return bytes.slice(0, at()); // truncated
    case 1: { // bit flips
      for (let k = 1 + rng.int(8); k > 0; k--) bytes[at()] ^= 1 << rng.int(8);
      return bytes;
    }
    case 2: { // a byte rewritten: in a varint length or tag, this changes what the rest of the file means
      for (let k = 1 + rng.int(3); k > 0; k--) bytes[at()] = [0x00, 0x7f, 0x80, 0xff, 0x01][rng.int(5)];
      return bytes;
    }
    case 3: { // a chunk deleted
      const a = at(), b = Math.min(bytes.length, a + 1 + rng.int(64));
      return Uint8Array.from([...bytes.slice(0, a), ...bytes.slice(b)]);
    }
    default: { // a chunk duplicated
      const a = at(), b = Math.min(bytes.length, a + 1 + rng.int(64));
      return Uint8Array.from([...bytes.slice(0, b), ...bytes.slice(a)]);
    }
  }
}

/** What a user's run does with a model file first: decode and check it, describe it, read its parameters. */
function readAsTheCommandDoes(bytes: Uint8Array, path: string): void {
  const model = decodeModel(bytes, path);
  describeModel(model, path);
  initialParameters(model);
}

describe('hostile model files (fuzz)', function () {
  this.timeout(120_000);
  for (const [name, withData] of [['torch-seed', false], ['torch-digits-cnn', true]] as const) {
    it(`${CASES_PER_MODEL} mutations of ${name}/model.onnx each end in a clean error or a valid model`, () => {
      // The digits model keeps its weights in model.onnx.data beside it: mutated offsets and lengths point into it.
      const dir = mkdtempSync(join(tmpdir(), 'onnx-finetune-fuzz-'));
      if (withData) copyFileSync(fixturePath(name, 'model.onnx.data'), join(dir, 'model.onnx.data'));
      const source = readFileSync(fixturePath(name, 'model.onnx'));
      const path = join(dir, 'model.onnx');
      const rng = new Rng(name.length * 7919);
      const baseline = process.memoryUsage().arrayBuffers;
      const outcomes = { valid: 0, refused: 0 };
      for (let i = 0; i < CASES_PER_MODEL; i++) {
        const bytes = mutate(source, rng);
        const started = performance.now();
        try {
          readAsTheCommandDoes(bytes, path);
          outcomes.valid++;
        } catch (e) {
          if (!(e instanceof UserError)) throw new Error(`case ${i} (seed ${name.length * 7919}): ${(e as Error).name}: ${(e as Error).message}`);
          expect((e as Error).message, `case ${i}`).to.not.include('\n');
          outcomes.refused++;
        }
        expect(performance.now() - started, `case ${i} took too long`).to.be.below(MAX_MS_PER_CASE);
        expect(process.memoryUsage().arrayBuffers - baseline, `case ${i} allocated too much`).to.be.below(MAX_EXTRA_BYTES);
      }
      expect(outcomes.valid + outcomes.refused).to.equal(CASES_PER_MODEL);
      expect(outcomes.refused).to.be.greaterThan(CASES_PER_MODEL / 2);
    });
  }
});
