// A loss is a graph fragment from (logits, labels) to a scalar with mean reduction, plus the closed-form
// gradient of that scalar with respect to the logits, which seeds the backward pass.
import type { Dim } from '../onnx/builder.js';
import type { NodeProto } from '../onnx/proto.js';
import type { Emitter } from '../graph/emitter.js';

export type LossName = 'bce' | 'ce' | 'mse';

export interface LossIO {
  logits: string;
  labels: string;
  /** Shape of the logits, [batch, classes]. */
  logitsShape: Dim[];
}

export interface Loss {
  name: LossName;
  /** 'float' labels are fed as the logits' float type; 'int64' as class indices. */
  labelType: 'float' | 'int64';
  /** Cross-entropy's label smoothing ε (PyTorch's label_smoothing), where it is not 0. */
  labelSmoothing?: number;
  labelShape(logitsShape: Dim[]): Dim[];
  forward(e: Emitter, io: LossIO, loss: string): NodeProto[];
  /** Writes d(loss)/d(logits) to `out`. It may read what `forward` made: a train graph holds both. */
  gradient(e: Emitter, io: LossIO, out: string): NodeProto[];
}

/** The element count of a tensor, as a float scalar (mean reduction divides by it). */
export function floatSize(e: Emitter, x: string, out: string): NodeProto[] {
  return [
    e.make('Size', [x], [`${out}_int`]),
    e.make('Cast', [`${out}_int`], [out], { to: e.dtype }),
  ];
}
