// PyTorch's CPU default generator, bit for bit, for what the project draws from it: manual_seed (mt19937),
// rand/uniform_, randn (the scalar Box-Muller path below 16 elements and the AVX2 vectorized path from 16 up),
// random_() on int64, randperm, and what DataLoader(shuffle=True) and nn.Linear's init make of them.
// Written from PyTorch's C++ (ATen/core/MT19937RNGEngine.h, DistributionsHelper.h, TransformationHelper.h,
// native/cpu/DistributionTemplates.h, avx_mathfun.h) and checked against torch's own output
// (test/fixtures/torch-rng, scripts/make-torch-rng-fixtures.py).

const N = 624;
const f32 = Math.fround;

/** One torch.Generator on the CPU: its mt19937 state, the cached second Box-Muller sample, and how far it has drawn. */
export class TorchGenerator {
  private readonly mt = new Uint32Array(N);
  private index = N;
  /** The second sample of the last scalar (double) Box-Muller pair, as CPUGeneratorImpl caches it. */
  private nextNormal: number | undefined;
  /** 32-bit words drawn since the last manual_seed: with the seed, this is the whole state between draws. */
  drawn = 0;
  seed = 0;

  constructor(seed: number) {
    this.manualSeed(seed);
  }

  /** torch.manual_seed / Generator.manual_seed: mt19937 keeps the low 32 bits of the seed. */
  manualSeed(seed: number): this {
    const s = seed >>> 0;
    this.seed = s;
    this.mt[0] = s;
    for (let i = 1; i < N; i++) {
      const prev = this.mt[i - 1];
      this.mt[i] = (Math.imul(1812433253, prev ^ (prev >>> 30)) + i) >>> 0;
    }
    this.index = N;
    this.nextNormal = undefined;
    this.drawn = 0;
    return this;
  }

  /** A generator at `drawn` words past manual_seed(seed), with no cached normal (the state between loader epochs). */
  static at(seed: number, drawn: number): TorchGenerator {
    const g = new TorchGenerator(seed);
    g.skip(drawn);
    return g;
  }

  skip(words: number): void {
    for (let i = 0; i < words; i++) this.random();
  }

  /** One 32-bit output of mt19937 (CPUGeneratorImpl::random). */
  random(): number {
    if (this.index >= N) this.twist();
    let y = this.mt[this.index++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    this.drawn++;
    return y >>> 0;
  }

  private twist(): void {
    const mt = this.mt;
    for (let i = 0; i < N; i++) {
      const y = (mt[i] & 0x80000000) | (mt[(i + 1) % N] & 0x7fffffff);
      mt[i] = mt[(i + 397) % N] ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
    }
    this.index = 0;
  }

  /** random_() on an int64 tensor: random64() (first word high) modulo 2^63. */
  int64(): bigint {
    const hi = this.random(), lo = this.random();
    return (BigInt(hi & 0x7fffffff) << 32n) | BigInt(lo);
  }

  /**
   * `torch.Generator().manual_seed(int(torch.empty((), dtype=torch.int64).random_()))`, as RandomSampler does:
   * mt19937 keeps the low 32 bits of that int64, the second word drawn.
   */
  forkedSeed(): number {
    this.random();
    return this.random();
  }

  /** uniform_real_distribution<float>(from, to): 24 random bits, then x·(to − from) + from in float, fused as the AVX2 build compiles it. */
  uniform(from: number, to: number): number {
    const x = (this.random() & 0xffffff) / 16777216;
    return fmaf(x, f32(to - from), from);
  }

  /** torch.rand / Tensor.uniform_(from, to) on a float32 tensor (the bounds are cast to float32 first). */
  uniformFill(out: Float32Array, from = 0, to = 1): Float32Array {
    const lo = f32(from), hi = f32(to);
    for (let i = 0; i < out.length; i++) out[i] = this.uniform(lo, hi);
    return out;
  }

  /** uniform_real_distribution<double>(0, 1): 53 random bits of random64(). */
  private uniformDouble(): number {
    const hi = this.random(), lo = this.random();
    return ((hi & 0x1fffff) * 4294967296 + lo) / 9007199254740992;
  }

  /** normal_distribution<double>: Box-Muller in double, the sine kept for the next call. */
  private normalDouble(): number {
    if (this.nextNormal !== undefined) {
      const cached = this.nextNormal;
      this.nextNormal = undefined;
      return cached;
    }
    const u1 = this.uniformDouble(), u2 = this.uniformDouble();
    const r = Math.sqrt(-2 * Math.log1p(-u2));
    const theta = 2 * Math.PI * u1;
    this.nextNormal = r * Math.sin(theta);
    return r * Math.cos(theta);
  }

  /** torch.randn / Tensor.normal_(mean, std) on a contiguous float32 tensor. */
  normalFill(out: Float32Array, mean = 0, std = 1): Float32Array {
    const size = out.length;
    if (size < 16) {
      for (let i = 0; i < size; i++) out[i] = this.normalDouble() * std + mean;
      return out;
    }
    // AVX2 normal_fill: every uniform first, then Box-Muller on blocks of 16 (8 radii, 8 angles);
    // a ragged tail redraws the last 16 values and transforms them again.
    for (let i = 0; i < size; i++) out[i] = this.uniform(0, 1);
    const m = f32(mean), s = f32(std);
    for (let i = 0; i + 16 <= size; i += 16) boxMuller16(out, i, m, s);
    if (size % 16 !== 0) {
      for (let i = size - 16; i < size; i++) out[i] = this.uniform(0, 1);
      boxMuller16(out, size - 16, m, s);
    }
    return out;
  }

  /** torch.randperm(n, generator=this) for n below 2^32/20: a forward swap with random() % (n − i). */
  randperm(n: number, out: Int32Array = new Int32Array(n)): Int32Array {
    for (let i = 0; i < n; i++) out[i] = i;
    for (let i = 0; i < n - 1; i++) {
      const z = this.random() % (n - i);
      const t = out[i];
      out[i] = out[i + z];
      out[i + z] = t;
    }
    return out;
  }
}

/** The order of one DataLoader(shuffle=True) epoch: the loader's base seed, then RandomSampler's own generator. */
export function dataLoaderEpoch(global: TorchGenerator, n: number, out?: Int32Array): Int32Array {
  global.int64(); // _BaseDataLoaderIter's _base_seed, drawn even with no workers
  return new TorchGenerator(global.forkedSeed()).randperm(n, out);
}

/** Words one DataLoader pass draws from the global generator without shuffling (the base seed). */
export const LOADER_PASS_WORDS = 2;
/** Words one shuffled DataLoader epoch draws from the global generator (base seed + sampler seed). */
export const SHUFFLED_EPOCH_WORDS = 4;

/** nn.Linear(inFeatures, outFeatures)'s reset_parameters: kaiming_uniform_(a=√5) on the weight, then the bias. */
export function torchLinear(g: TorchGenerator, inFeatures: number, outFeatures: number): { weight: Float32Array; bias: Float32Array } {
  // Python's arithmetic in init.kaiming_uniform_ and calculate_gain('leaky_relu', √5), in double.
  const a = Math.sqrt(5);
  const gain = Math.sqrt(2.0 / (1 + a * a));
  const weightBound = Math.sqrt(3.0) * (gain / Math.sqrt(inFeatures));
  const biasBound = 1 / Math.sqrt(inFeatures);
  const weight = g.uniformFill(new Float32Array(outFeatures * inFeatures), -weightBound, weightBound);
  const bias = g.uniformFill(new Float32Array(outFeatures), -biasBound, biasBound);
  return { weight, bias };
}

/** Words nn.Linear's initialization draws. */
export const linearWords = (inFeatures: number, outFeatures: number) => (inFeatures + 1) * outFeatures;

/** Words randn/normal_ of `size` elements draws. */
export function normalWords(size: number): number {
  if (size < 16) throw new Error('normalWords: the scalar path caches samples; count only sizes of 16 or more');
  return size + (size % 16 === 0 ? 0 : 16);
}

// ---- avx_mathfun.h's log256_ps and sincos256_ps (Cephes single precision), one lane at a time in float32 ----
// The AVX2 build fuses each multiply whose only use is an add into one fused multiply-add (GCC's
// -ffp-contract=fast with -mfma); the fixtures tell the fused and unfused roundings apart.

const i32 = new Int32Array(1);
const asFloat = new Float32Array(i32.buffer);
const bitsOf = (x: number) => ((asFloat[0] = x), i32[0]);
const fromBits = (b: number) => ((i32[0] = b), asFloat[0]);

/** fmaf(a, b, c) for float32 a, b, c: a·b is exact in double; a double sum that lands on a float tie is settled by its error. */
function fmaf(a: number, b: number, c: number): number {
  const p = a * b, s = p + c;
  const r = f32(s);
  if (r === s || r === 0) return r;
  const bv = s - p, err = (p - (s - bv)) + (c - bv);
  if (err === 0) return r;
  const other = fromBits(bitsOf(r) + ((r < s) === (r >= 0) ? 1 : -1));
  if (Math.abs(s - r) !== Math.abs(other - s)) return r;
  return (err > 0) === (other > r) ? other : r;
}

const SQRTHF = f32(0.707106781186547524);
const LOG_P = [7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1, 1.4249322787e-1, -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1].map(f32);
const LOG_Q1 = f32(-2.12194440e-4), LOG_Q2 = f32(0.693359375);
const MIN_NORM_POS = fromBits(0x00800000);

function log256(v: number): number {
  let x = Math.max(v, MIN_NORM_POS);
  const bits = bitsOf(x);
  let e = f32(((bits >>> 23) - 0x7f) + 1);
  x = fromBits((bits & ~0x7f800000) | bitsOf(0.5));
  const below = x < SQRTHF;
  const tmp = below ? x : 0;
  x = f32(x - 1);
  e = f32(e - (below ? 1 : 0));
  x = f32(x + tmp);
  const z = f32(x * x);
  let y = LOG_P[0];
  for (let k = 1; k < LOG_P.length; k++) y = fmaf(y, x, LOG_P[k]);
  y = f32(y * x);
  y = fmaf(y, z, f32(e * LOG_Q1));
  y = f32(y - f32(z * 0.5));
  x = f32(x + y);
  x = fmaf(e, LOG_Q2, x);
  return v <= 0 ? NaN : x;
}

const FOPI = f32(1.27323954473516);
const DP1 = f32(-0.78515625), DP2 = f32(-2.4187564849853515625e-4), DP3 = f32(-3.77489497744594108e-8);
const SIN_P = [-1.9515295891e-4, 8.3321608736e-3, -1.6666654611e-1].map(f32);
const COS_P = [2.443315711809948e-5, -1.388731625493765e-3, 4.166664568298827e-2].map(f32);
const sincosOut = { sin: 0, cos: 0 };

/** sincos256_ps for one lane (the angles here are never negative, but the sign logic is kept). */
function sincos256(theta: number): typeof sincosOut {
  let x = Math.abs(theta);
  let signSin = theta < 0 || Object.is(theta, -0);
  let j = Math.trunc(f32(x * FOPI));
  j = (j + 1) & ~1;
  const y = j;
  if (j & 4) signSin = !signSin;
  const sinPoly = (j & 2) === 0;
  const signCos = (~(j - 2) & 4) !== 0;
  x = fmaf(y, DP1, x);
  x = fmaf(y, DP2, x);
  x = fmaf(y, DP3, x);
  const z = f32(x * x);
  let c = COS_P[0];
  c = fmaf(c, z, COS_P[1]);
  c = fmaf(c, z, COS_P[2]);
  c = f32(c * z);
  c = fmaf(c, z, -f32(z * 0.5));
  c = f32(c + 1);
  let s = SIN_P[0];
  s = fmaf(s, z, SIN_P[1]);
  s = fmaf(s, z, SIN_P[2]);
  s = f32(s * z);
  s = fmaf(s, x, x);
  const sinValue = sinPoly ? s : c, cosValue = sinPoly ? c : s;
  sincosOut.sin = signSin ? -sinValue : sinValue;
  sincosOut.cos = signCos ? -cosValue : cosValue;
  return sincosOut;
}

const TWO_PI = f32(2 * Math.PI);

function boxMuller16(data: Float32Array, at: number, mean: number, std: number): void {
  for (let j = 0; j < 8; j++) {
    const u1 = f32(1 - data[at + j]);
    const u2 = data[at + j + 8];
    const radius = f32(Math.sqrt(f32(-2 * log256(u1))));
    const { sin, cos } = sincos256(f32(TWO_PI * u2));
    data[at + j] = fmaf(f32(radius * cos), std, mean);
    data[at + j + 8] = fmaf(f32(radius * sin), std, mean);
  }
}
