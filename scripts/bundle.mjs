// The command as one file (dist/src/cli/onnx-finetune.mjs, the package's bin): yargs and our ~100 modules
// loaded as one, which saves Node about 100 ms of module loading at every start. Native packages stay outside.
// It sits beside main.js, so the paths it reads relative to itself (package.json, models/) are the same.
//
// The browser builds (dist/browser/): the library (onnx-finetune/web, onnxruntime-web left to the app's bundler),
// and the page's scripts with everything inside. See webRuntime below for how the runtime boundary is crossed.
import { build } from 'esbuild';
import { builtinModules } from 'node:module';
import { chmodSync, copyFileSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

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

/**
 * The runtime boundary for browsers: a module of ours with a `<name>.web.ts` beside it is replaced by that
 * file (session.ts by onnxruntime-web's session.web.ts, and so on). Node's built-in modules, which only the
 * file-system paths of shared modules reach (loading a model from a path, external data), become modules whose
 * every function throws one clear error, so that such a path fails by name instead of breaking the bundle.
 */
const webRuntime = {
  name: 'onnx-finetune-web-runtime',
  setup(b) {
    b.onResolve({ filter: /^\.\.?\// }, (args) => {
      if (!args.importer.includes(`${resolve('src')}/`) || !args.path.endsWith('.js')) return undefined;
      const web = resolve(dirname(args.importer), args.path.replace(/\.js$/, '.web.ts'));
      return existsSync(web) ? { path: web } : undefined;
    });
    const builtins = new RegExp(`^(node:.*|${builtinModules.map((m) => m.replace(/[/.]/g, '\\$&')).join('|')})$`);
    b.onResolve({ filter: builtins }, (args) => ({ path: args.path.replace(/^node:/, ''), namespace: 'node-builtin' }));
    b.onLoad({ filter: /.*/, namespace: 'node-builtin' }, async (args) => {
      const names = Object.keys(await import(`node:${args.path}`)).filter((n) => /^[A-Za-z_$][\w$]*$/.test(n) && n !== 'default');
      const unavailable = `(name) => function () { throw new Error('node:${args.path} ' + name + ' is not available in the browser (onnx-finetune/web takes models and data as bytes)'); }`;
      return { contents: `const unavailable = ${unavailable};\n${names.map((n) => `export const ${n} = unavailable('${n}');`).join('\n')}\nexport default {};`, loader: 'js' };
    });
  },
};

const web = { bundle: true, platform: 'browser', format: 'esm', target: 'es2022', logLevel: 'warning', plugins: [webRuntime] };
// The library: onnxruntime-web stays an import, resolved by the app's bundler (an optional peer dependency).
await build({ ...web, entryPoints: ['src/web/index.ts'], outfile: 'dist/browser/index.mjs', external: ['onnxruntime-web'] });
// The page's scripts (web/): the worker carries the engine and onnxruntime-web; the page only draws.
await build({ ...web, entryPoints: { 'page': 'web/page.ts', 'worker': 'web/worker.ts', 'onnx-finetune-web': 'src/web/index.ts' }, outdir: 'dist/browser/app', outExtension: { '.js': '.mjs' } });
// onnxruntime-web's WebAssembly (SIMD, threads, and the JSEP build that also runs WebGPU) beside the scripts
// that load it: the copy that matches the JavaScript bundled above, so `serve` needs no onnxruntime-web installed.
const wasm = 'ort-wasm-simd-threaded.jsep.wasm';
copyFileSync(join('node_modules/onnxruntime-web/dist', wasm), join('dist/browser/app', wasm));
