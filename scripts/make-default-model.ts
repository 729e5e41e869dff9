// Writes models/seed-backbone.onnx, the built-in default backbone (see src/model/seed-backbone.ts): the seed
// notebook's backbone as PyTorch draws it after torch.manual_seed(17) (test/torch-notebook.test.ts checks the bits).
// Deterministic: running it again writes the same bytes, and test/cli.test.ts checks the committed file is current.
//   npx tsc -p . && node dist/scripts/make-default-model.js [out.onnx]
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { saveModel } from '../src/onnx/io.js';
import { buildSeedBackbone, DEFAULT_BACKBONE_PATH } from '../src/model/seed-backbone.js';

const out = process.argv[2] ?? DEFAULT_BACKBONE_PATH;
mkdirSync(dirname(out), { recursive: true });
saveModel(out, buildSeedBackbone());
console.log(`wrote ${out}`);
