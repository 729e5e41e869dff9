// The run's generators. `Rng` is a small seeded PRNG (mulberry32) for reproducible shuffles and synthetic data
// from one integer seed; `--rng torch` draws instead from PyTorch's CPU generator (torch-rng.ts), so that data,
// heads and shuffles are the ones a PyTorch script seeded with torch.manual_seed(seed) gets.
import { dataLoaderEpoch, LOADER_PASS_WORDS, SHUFFLED_EPOCH_WORDS, TorchGenerator } from './torch-rng.js';
import { UserError } from '../errors.js';

export class Rng {
  /** The whole generator state: a snapshot of it continues the same stream. */
  state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  uniform(low: number, high: number): number {
    return low + (high - low) * this.next();
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Standard normal (Box-Muller). */
  normal(): number {
    const u = 1 - this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }

  /** Fisher-Yates shuffle of 0..n-1 into `out`. */
  permutation(n: number, out: Int32Array = new Int32Array(n)): Int32Array {
    for (let i = 0; i < n; i++) out[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      const tmp = out[i];
      out[i] = out[j];
      out[j] = tmp;
    }
    return out;
  }
}

/** Which generator a run draws its data order (and the built-in job its data and weights) from. */
export const RNG_KINDS = ['torch', 'mulberry32'] as const;
export type RngKind = (typeof RNG_KINDS)[number];

/** What initialization draws from: either generator (init.ts draws each as its PyTorch counterpart does). */
export type InitRng = Rng | TorchGenerator;

/**
 * The row order of each epoch, and the generator state a snapshot keeps (RunSnapshot.rngState): mulberry32's
 * state, or for torch the words PyTorch's global generator has drawn since torch.manual_seed(seed), which
 * replays it exactly (a few thousand mt19937 steps).
 */
export interface EpochOrders {
  /** The next epoch's order into `order`: a shuffle, or file order left as it is. */
  next(order: Int32Array, shuffle: boolean): void;
  /** A later stage starts: a PyTorch loop evaluates on the test loader first, which draws its base seed. */
  stageBoundary(): void;
  readonly state: number;
}

export function epochOrders(kind: RngKind, seed: number, state: number): EpochOrders {
  if (kind === 'mulberry32') {
    const rng = new Rng(state);
    return {
      next: (order, shuffle) => void (shuffle && rng.permutation(order.length, order)),
      stageBoundary: () => {},
      get state() { return rng.state; },
    };
  }
  const global = TorchGenerator.at(seed, state);
  return {
    // DataLoader draws its base seed every epoch, shuffled or not; RandomSampler draws its generator's seed.
    next: (order, shuffle) => void (shuffle ? dataLoaderEpoch(global, order.length, order) : global.skip(LOADER_PASS_WORDS)),
    stageBoundary: () => global.skip(LOADER_PASS_WORDS),
    get state() { return global.drawn; },
  };
}

/**
 * A resumed torch state is replayed word by word, so a forged one must not ask for billions: it has to lie
 * between the run's start and the most a run of these stages draws.
 */
export function checkOrderState(kind: RngKind, state: number, start: number, stages: readonly { epochs: number }[], source = 'resume snapshot'): void {
  if (kind !== 'torch') return;
  const most = start + stages.reduce((sum, stage) => sum + stage.epochs * SHUFFLED_EPOCH_WORDS, 0) + (stages.length - 1) * LOADER_PASS_WORDS;
  if (!(state >= start && state <= most)) throw new UserError(`${source}: rngState ${state} is not a position of this run's generator (${start} to ${most} words after torch.manual_seed)`);
}

/** The state a fresh run starts from: the seed itself, or the words drawn before training (the head, the built-in job's data). */
export function initialOrderState(kind: RngKind, seed: number, torchWordsDrawn = 0): number {
  return kind === 'mulberry32' ? seed >>> 0 : torchWordsDrawn;
}
