// cos(x) rounded correctly to double, for the schedules: Python's math.cos (glibc's) is within 0.55 ulp and
// V8's Math.cos is not always the nearest double (Math.cos(1.2π) is one ulp off), which would put
// PyTorch's rates and ours a few ulps apart. The argument is reduced by π/2 (given in three doubles) and
// the Taylor series summed in double-double arithmetic (about 106 bits), then rounded once.

type DD = [number, number];

function twoSum(a: number, b: number): DD {
  const s = a + b, v = s - a;
  return [s, (a - (s - v)) + (b - v)];
}

function quickTwoSum(a: number, b: number): DD {
  const s = a + b;
  return [s, b - (s - a)];
}

const SPLITTER = 134217729; // 2^27 + 1: Dekker's split into two 26-bit halves

function twoProd(a: number, b: number): DD {
  const p = a * b;
  const ca = SPLITTER * a, ah = ca - (ca - a), al = a - ah;
  const cb = SPLITTER * b, bh = cb - (cb - b), bl = b - bh;
  return [p, ((ah * bh - p) + ah * bl + al * bh) + al * bl];
}

function add(a: DD, b: DD): DD {
  const [s, e] = twoSum(a[0], b[0]);
  const [t, f] = twoSum(a[1], b[1]);
  const [s2, e2] = quickTwoSum(s, e + t);
  return quickTwoSum(s2, e2 + f);
}

function mul(a: DD, b: DD): DD {
  const [p, e] = twoProd(a[0], b[0]);
  return quickTwoSum(p, e + (a[0] * b[1] + a[1] * b[0]));
}

function divByNumber(a: DD, b: number): DD {
  const q1 = a[0] / b;
  const [p, e] = twoProd(q1, b);
  const q2 = (a[0] - p - e + a[1]) / b;
  return quickTwoSum(q1, q2);
}

const neg = (a: DD): DD => [-a[0], -a[1]];

/** 1/n! as double-doubles, n = 0..27. */
const INVERSE_FACTORIALS: DD[] = [[1, 0]];
for (let n = 1; n <= 27; n++) INVERSE_FACTORIALS.push(divByNumber(INVERSE_FACTORIALS[n - 1], n));

// π/2 = PIO2[0] + PIO2[1] + PIO2[2] to about 160 bits.
const PIO2 = [1.5707963267948966, 6.123233995736766e-17, -1.4973849048591698e-33];

/** Σ (-1)^k y^k / (2k + first)!, k = 0..13, by Horner's rule in double-double. */
function series(y: DD, first: 0 | 1): DD {
  let s: DD = INVERSE_FACTORIALS[26 + first];
  for (let k = 12; k >= 0; k--) s = add(mul(s, neg(y)), INVERSE_FACTORIALS[2 * k + first]);
  return s;
}

export function cos(x: number): number {
  if (!Number.isFinite(x)) return NaN;
  if (Math.abs(x) > 1e9) return Math.cos(x); // far beyond any schedule's argument: the reduction below would lose bits
  const k = Math.round(x / PIO2[0]);
  let r: DD = add([x, 0], neg(twoProd(k, PIO2[0])));
  r = add(r, neg(twoProd(k, PIO2[1])));
  r = add(r, [-k * PIO2[2], 0]);
  const y = mul(r, r);
  const quadrant = ((k % 4) + 4) % 4;
  const value = quadrant % 2 === 0 ? series(y, 0) : mul(r, series(y, 1));
  const signed = quadrant === 1 || quadrant === 2 ? neg(value) : value;
  return signed[0] + signed[1];
}
