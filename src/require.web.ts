// The browser bundle's requirePackage: the CommonJS packages the engine loads with require() in Node
// (require.ts), imported here so that esbuild bundles them. A package not listed is one the browser build
// has no use for, and saying so beats an undefined module.
import * as picomatch from 'picomatch';
import * as onnxProto from 'onnx-proto';
import * as yaml from 'yaml';

const PACKAGES: Record<string, unknown> = {
  picomatch: (picomatch as { default?: unknown }).default ?? picomatch,
  'onnx-proto': (onnxProto as { default?: unknown }).default ?? onnxProto,
  yaml,
};

export function requirePackage(name: string): any {
  if (!(name in PACKAGES)) throw new Error(`${name} is not part of onnx-finetune's browser build`);
  return PACKAGES[name];
}
