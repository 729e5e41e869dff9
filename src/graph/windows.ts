// Sliding-window geometry shared by Conv and the pools, as onnxruntime computes it. Per spatial axis:
//
//   explicit pads:   out = floor((in + head + tail - ((k - 1) d + 1)) / s) + 1
//   ceil_mode (pools): the same with ceil, less one window when the last one would start in the end padding
//                    ((out - 1) s >= in + head), as PyTorch does
//   VALID:           head = tail = 0
//   SAME_UPPER/LOWER: needed = (ceil(in / s) - 1) s + k - in, split head = needed / 2 (UPPER) or
//                    (needed + 1) / 2 (LOWER), rounded toward zero; k is the undilated kernel, as in
//                    onnxruntime (its Conv refuses dilations with SAME; its pools then give fewer outputs)
import { toNumber, type AttributeProto } from '../onnx/proto.js';

export interface WindowAttributes {
  kernel: number[];
  strides: number[];
  dilations: number[];
  /** [begin_0, ..., begin_n, end_0, ..., end_n], as the ONNX attribute. */
  pads: number[];
  autoPad: 'NOTSET' | 'VALID' | 'SAME_UPPER' | 'SAME_LOWER';
  ceilMode: boolean;
}

export interface AxisWindows {
  /** Spatial size of the input. */
  size: number;
  kernel: number;
  stride: number;
  dilation: number;
  /** Padding actually applied before and after the input (tail may be negative under SAME with k < s). */
  head: number;
  tail: number;
  /** Number of windows: the output's size. */
  out: number;
}

/** Reads the window attributes of a Conv or pool node; kernel comes from kernel_shape or the caller (Conv's weight). */
export function windowAttributes(attr: (name: string) => AttributeProto | undefined, kernel: number[]): WindowAttributes {
  const ints = (name: string) => attr(name)?.ints.map((v) => toNumber(v));
  const n = kernel.length;
  const pads = ints('pads');
  const autoPadBytes = attr('auto_pad')?.s;
  const autoPad = (autoPadBytes && autoPadBytes.length > 0 ? new TextDecoder().decode(autoPadBytes) : 'NOTSET') as WindowAttributes['autoPad'];
  if (!['NOTSET', 'VALID', 'SAME_UPPER', 'SAME_LOWER'].includes(autoPad)) throw new Error(`unknown auto_pad '${autoPad}'`);
  return {
    kernel,
    strides: ints('strides')?.length ? ints('strides')! : new Array<number>(n).fill(1),
    dilations: ints('dilations')?.length ? ints('dilations')! : new Array<number>(n).fill(1),
    pads: pads?.length ? pads : new Array<number>(2 * n).fill(0),
    autoPad,
    ceilMode: toNumber(attr('ceil_mode')?.i) === 1,
  };
}

export function axisWindows(w: WindowAttributes, axis: number, size: number): AxisWindows {
  const n = w.kernel.length;
  const [k, s, d] = [w.kernel[axis], w.strides[axis], w.dilations[axis]];
  let head = w.pads[axis], tail = w.pads[axis + n];
  if (w.autoPad === 'VALID') {
    head = 0;
    tail = 0;
  } else if (w.autoPad === 'SAME_UPPER' || w.autoPad === 'SAME_LOWER') {
    const needed = (Math.ceil(size / s) - 1) * s + k - size;
    head = Math.trunc(w.autoPad === 'SAME_UPPER' ? needed / 2 : (needed + 1) / 2);
    tail = needed - head;
  }
  const span = (k - 1) * d + 1;
  const steps = (size + head + tail - span) / s;
  let out = (w.ceilMode ? Math.ceil(steps) : Math.floor(steps)) + 1;
  if (w.ceilMode && (out - 1) * s >= size + head) out -= 1;
  return { size, kernel: k, stride: s, dilation: d, head, tail, out };
}

/**
 * The inverse placement: a transposed convolution over the windows' outputs, with the same strides and
 * dilations, gives back a tensor of the input's size when its pads are [head, end] and output_padding is
 * `extra` (the input's trailing positions no window reaches).
 */
export function transposedPlacement(a: AxisWindows): { head: number; end: number; extra: number } {
  const reach = a.stride * (a.out - 1) + (a.kernel - 1) * a.dilation + 1 - a.head;
  return reach >= a.size ? { head: a.head, end: reach - a.size, extra: 0 } : { head: a.head, end: 0, extra: a.size - reach };
}
