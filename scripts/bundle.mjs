// The command as one file (dist/src/cli/onnx-finetune.mjs, the package's bin): yargs and our ~100 modules
// loaded as one, which saves Node about 100 ms of module loading at every start. Native packages stay outside.
// It sits beside main.js, so the paths it reads relative to itself (package.json, models/) are the same.
import { build } from 'esbuild';
import { chmodSync } from 'node:fs';

const outfile = 'dist/src/cli/onnx-finetune.mjs';
await build({
  entryPoints: ['src/cli/main.ts'],
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['sharp', 'onnxruntime-node'],
  outfile,
  logLevel: 'warning',
  // Bundled CommonJS code calls require(); an ES module has none of its own.
  banner: { js: "import { createRequire as createRequireForBundle } from 'node:module'; const require = createRequireForBundle(import.meta.url);" },
});
chmodSync(outfile, 0o755);
chmodSync('dist/src/cli/main.js', 0o755);
