// torch.nn.utils.clip_grad_norm_ (L2): the norm of each gradient, the norm of those norms, then every
// gradient times min(1, max_norm / (total + 1e-6)), in float32 as PyTorch's tensors are. PyTorch sums the
// squares in float32 vector lanes whose width depends on the CPU; here they sum in double and the norm is
// rounded once, which is the exact norm to float32 precision and within an ulp or two of PyTorch's.

/** Clips the gradients in place; returns the total norm before clipping (float32). */
export function clipGradNorm(grads: readonly Float32Array[], maxNorm: number): number {
  const norms = grads.map(l2Norm);
  const total = l2Norm(Float32Array.from(norms));
  // max_norm / (total + 1e-6): Tensor.__rtruediv__ is reciprocal() * max_norm; each scalar meets a float32 tensor as float32.
  const coef = Math.fround(Math.fround(1 / Math.fround(total + Math.fround(1e-6))) * Math.fround(maxNorm));
  if (coef < 1) for (const g of grads) for (let i = 0; i < g.length; i++) g[i] = Math.fround(g[i] * coef);
  return total;
}

function l2Norm(values: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i] * values[i];
  return Math.fround(Math.sqrt(sum));
}
