// CommonJS packages (onnxruntime-node, onnx-proto, picomatch, cli-progress, csv-parse's CommonJS build) are
// loaded with require(). An ESM import of one makes Node scan its source for export names first (and the
// sources it re-exports): over 100 ms for onnx-proto's 330 KB and onnxruntime-common, at every start.
import { createRequire } from 'node:module';

export const requirePackage = createRequire(import.meta.url);
