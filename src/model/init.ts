// PyTorch's default initialization of nn.Linear(inFeatures, outFeatures): the weight by kaiming_uniform_ with
// a = √5 and the bias uniformly, which both come to U(−1/√fan_in, 1/√fan_in). Values are drawn weight first
// (row-major [out, in]), then bias, as nn.Linear.reset_parameters does. From PyTorch's own generator
// (--rng torch) the values are PyTorch's, bit for bit; from mulberry32 they have the same distribution.
import type { InitRng } from '../train/rng.js';
import { TorchGenerator, torchLinear } from '../train/torch-rng.js';

export interface LinearParameters {
  /** [outFeatures, inFeatures], row-major, as nn.Linear stores it (Gemm with transB = 1). */
  weight: Float32Array;
  bias: Float32Array;
}

export function torchLinearInit(rng: InitRng, inFeatures: number, outFeatures: number): LinearParameters {
  if (rng instanceof TorchGenerator) return torchLinear(rng, inFeatures, outFeatures);
  const bound = 1 / Math.sqrt(inFeatures);
  const weight = new Float32Array(outFeatures * inFeatures);
  for (let i = 0; i < weight.length; i++) weight[i] = rng.uniform(-bound, bound);
  const bias = new Float32Array(outFeatures);
  for (let i = 0; i < bias.length; i++) bias[i] = rng.uniform(-bound, bound);
  return { weight, bias };
}
