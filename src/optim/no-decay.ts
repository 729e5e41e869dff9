// Parameters kept out of weight decay (the usual AdamW practice: biases and normalization weights). Each group
// splits into the parameters that decay and those that do not, the latter with weight decay 0.
// A glob matches a parameter's full name or its last dotted part: 'bias' selects 'head.bias', '*norm*'
// selects 'encoder.layernorm.weight'.
import type Picomatch from 'picomatch';
import { requirePackage } from '../require.js';
import { resolveGroups, type GroupSpec } from './groups.js';
import { literalGlob } from './layer-decay.js';

const picomatch: typeof Picomatch = requirePackage('picomatch');

export function isNoDecay(name: string, globs: readonly string[]): boolean {
  const last = name.slice(name.lastIndexOf('.') + 1);
  return globs.some((glob) => {
    const match = picomatch(glob, { dot: true });
    return match(name) || match(last);
  });
}

/** Each group as its decaying part, then its non-decaying part (weight decay 0); an empty part is left out. */
export function noDecayGroups(groups: readonly GroupSpec[], names: readonly string[], globs: readonly string[]): GroupSpec[] {
  const resolved = resolveGroups(groups, names);
  return groups.flatMap((spec, g) => {
    const params = resolved[g].params;
    const decaying = params.filter((n) => !isNoDecay(n, globs)), kept = params.filter((n) => isNoDecay(n, globs));
    return [
      ...(decaying.length ? [{ ...spec, params: decaying.map(literalGlob) }] : []),
      ...(kept.length ? [{ ...spec, params: kept.map(literalGlob), weightDecay: 0 }] : []),
    ];
  });
}
