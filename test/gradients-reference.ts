// Float64 forwards in plain JavaScript for the ops onnxruntime-node has no double kernel for (Conv, AveragePool,
// GlobalAveragePool, GlobalMaxPool, Erf, Gelu): direct loops over the definition, written apart from the gradient
// rules. The gradient checker differentiates them numerically and checks onnxruntime's float32 forward against
// them, so any disagreement about pads, auto_pad, ceil_mode or divisors shows up as a failure.
import type { Reference } from './util/gradcheck.js';

export interface WindowSpec {
  kernel: number[];
  strides?: number[];
  dilations?: number[];
  pads?: number[];
  autoPad?: 'NOTSET' | 'VALID' | 'SAME_UPPER' | 'SAME_LOWER';
  ceilMode?: boolean;
}

interface Axis { size: number; k: number; s: number; d: number; head: number; tail: number; out: number }

/**
 * onnxruntime's window layout on one axis. SAME: needed = (ceil(size / s) - 1) s + k - size with k undilated,
 * head = needed / 2 (UPPER) or (needed + 1) / 2 (LOWER) rounded toward zero. ceil_mode drops a last window that
 * would start inside the end padding.
 */
function layout(spec: WindowSpec, i: number, size: number): Axis {
  const n = spec.kernel.length;
  const k = spec.kernel[i], s = spec.strides?.[i] ?? 1, d = spec.dilations?.[i] ?? 1;
  let head = spec.pads?.[i] ?? 0, tail = spec.pads?.[i + n] ?? 0;
  const auto = spec.autoPad ?? 'NOTSET';
  if (auto === 'VALID') [head, tail] = [0, 0];
  if (auto === 'SAME_UPPER' || auto === 'SAME_LOWER') {
    const needed = (Math.ceil(size / s) - 1) * s + k - size;
    head = Math.trunc((auto === 'SAME_UPPER' ? needed : needed + 1) / 2);
    tail = needed - head;
  }
  const room = size + head + tail - ((k - 1) * d + 1);
  let out = (spec.ceilMode ? Math.ceil(room / s) : Math.floor(room / s)) + 1;
  if (spec.ceilMode && (out - 1) * s >= size + head) out--;
  return { size, k, s, d, head, tail, out };
}

const product = (v: number[]) => v.reduce((a, b) => a * b, 1);

/** All multi-indices of a box, the last axis fastest. */
function* box(dims: number[]): Generator<number[]> {
  const index = dims.map(() => 0);
  if (dims.some((d) => d === 0)) return;
  for (;;) {
    yield [...index];
    let a = dims.length - 1;
    while (a >= 0 && ++index[a] === dims[a]) index[a--] = 0;
    if (a < 0) return;
  }
}

const flat = (index: number[], dims: number[]) => index.reduce((f, v, a) => f * dims[a] + v, 0);

/** Y = Conv(X, W, B): Y[n, m, o] = Σ_c Σ_j W[m, c, j] · X[n, g·Cg + c, o·s - head + j·d] (out-of-range taps read 0) + B[m]. */
export function convReference(xDims: number[], wDims: number[], spec: WindowSpec & { group?: number }, names = ['x', 'w', 'b']): Reference {
  const [N, C] = xDims, [M, Cg] = wDims;
  const spatial = xDims.slice(2), kernel = wDims.slice(2);
  const axes = spatial.map((size, i) => layout({ ...spec, kernel }, i, size));
  const out = axes.map((a) => a.out);
  const G = spec.group ?? 1;
  if (Cg * G !== C) throw new Error('conv reference: channels do not match the group');
  // For each output position and kernel tap, the input position it reads (-1: padding), computed once.
  const [area, outArea, taps] = [product(spatial), product(out), product(kernel)];
  const reads = new Int32Array(outArea * taps);
  let r = 0;
  for (const o of box(out)) {
    for (const j of box(kernel)) {
      const at = axes.map((a, i) => o[i] * a.s - a.head + j[i] * a.d);
      reads[r++] = at.some((p, i) => p < 0 || p >= spatial[i]) ? -1 : flat(at, spatial);
    }
  }
  return (inputs) => {
    const [x, w, b] = names.map((n) => inputs[n]);
    const y = new Float64Array(N * M * outArea);
    for (let n = 0; n < N; n++) {
      for (let m = 0; m < M; m++) {
        const g = Math.floor(m / (M / G));
        for (let o = 0; o < outArea; o++) {
          let acc = b ? b[m] : 0;
          for (let c = 0; c < Cg; c++) {
            const xBase = (n * C + g * Cg + c) * area, wBase = (m * Cg + c) * taps;
            for (let j = 0; j < taps; j++) {
              const at = reads[o * taps + j];
              if (at >= 0) acc += w[wBase + j] * x[xBase + at];
            }
          }
          y[(n * M + m) * outArea + o] = acc;
        }
      }
    }
    return y;
  };
}

/**
 * Y = AveragePool(X): the sum of the taps inside X, divided by the number of taps inside [-head, size + tail)
 * with count_include_pad, inside X without (onnxruntime's rule); 0 for a window with no tap inside X.
 */
export function averagePoolReference(xDims: number[], spec: WindowSpec & { countIncludePad?: boolean }): Reference {
  const [N, C] = xDims, spatial = xDims.slice(2);
  const axes = spatial.map((size, i) => layout(spec, i, size));
  const out = axes.map((a) => a.out);
  const [area, outArea] = [product(spatial), product(out)];
  // Per window: the input positions it sums and its divisor, computed once.
  const windows: { reads: number[]; divisor: number }[] = [];
  for (const o of box(out)) {
    const reads: number[] = [];
    let padded = 0;
    for (const j of box(spec.kernel)) {
      const at = axes.map((a, i) => o[i] * a.s - a.head + j[i] * a.d);
      if (at.every((p, i) => p >= 0 && p < spatial[i])) reads.push(flat(at, spatial));
      if (at.every((p, i) => p < axes[i].size + axes[i].tail)) padded++;
    }
    windows.push({ reads, divisor: spec.countIncludePad ? padded : reads.length });
  }
  return ({ x }) => {
    const y = new Float64Array(N * C * outArea);
    for (let nc = 0; nc < N * C; nc++) {
      windows.forEach((w, o) => {
        let sum = 0;
        for (const at of w.reads) sum += x[nc * area + at];
        y[nc * outArea + o] = w.reads.length === 0 ? 0 : sum / w.divisor;
      });
    }
    return y;
  };
}

/** GlobalAveragePool / GlobalMaxPool over the spatial axes of [N, C, ...]. */
export function globalPoolReference(xDims: number[], kind: 'average' | 'max'): Reference {
  const [N, C] = xDims, area = product(xDims.slice(2));
  return ({ x }) => Float64Array.from({ length: N * C }, (_, nc) => {
    const window = x.subarray(nc * area, (nc + 1) * area);
    return kind === 'max' ? Math.max(...window) : window.reduce((a, b) => a + b, 0) / area;
  });
}

/** erf by its Taylor series, good to ~1e-15 for |x| <= 3 (the only range the cases use). */
export function erf(x: number): number {
  if (Math.abs(x) > 3) throw new Error('reference erf: |x| > 3 is outside the range it is accurate on');
  let term = x, sum = x;
  for (let n = 1; n < 200 && Math.abs(term) > 1e-17 * Math.abs(sum); n++) {
    term *= (-x * x) / n;
    sum += term / (2 * n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}

export function gelu(x: number, approximate: 'none' | 'tanh'): number {
  if (approximate === 'tanh') return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
  return 0.5 * x * (1 + erf(x / Math.SQRT2));
}

export const elementwiseReference = (fn: (v: number) => number): Reference => ({ x }) => x.map(fn);
