// Parameter groups as in torch.optim: records selected by globs over parameter names, missing keys filled
// from the optimizer's defaults. A parameter in two groups, or a glob that matches nothing, is an error.
import type Picomatch from 'picomatch';
import { requirePackage } from '../require.js';
import { UserError } from '../errors.js';

const picomatch: typeof Picomatch = requirePackage('picomatch');

export interface Hyperparameters {
  lr: number;
  weightDecay: number;
  betas: [number, number];
  eps: number;
  momentum: number;
  dampening: number;
  nesterov: boolean;
}

export const DEFAULT_HYPERPARAMETERS: Hyperparameters = {
  lr: 1e-3, weightDecay: 0, betas: [0.9, 0.999], eps: 1e-8, momentum: 0, dampening: 0, nesterov: false,
};

export interface GroupSpec extends Partial<Hyperparameters> {
  /** Globs over parameter names, e.g. 'head.*' or 'backbone.2.*'. */
  params: string | string[];
}

export interface ParamGroup extends Hyperparameters {
  params: string[];
}

export function matchParameters(glob: string, names: readonly string[]): string[] {
  if (glob === '') throw new UserError('an empty parameter glob matches nothing (quote the glob, e.g. \'head.*\')');
  const isMatch = picomatch(glob, { dot: true });
  return names.filter((n) => isMatch(n));
}

export function resolveGroups(specs: readonly GroupSpec[], names: readonly string[], defaults: Partial<Hyperparameters> = {}): ParamGroup[] {
  const owner = new Map<string, number>();
  return specs.map((spec, g) => {
    const globs = Array.isArray(spec.params) ? spec.params : [spec.params];
    const params: string[] = [];
    for (const glob of globs) {
      const matched = matchParameters(glob, names);
      if (matched.length === 0) throw new UserError(`parameter glob '${glob}' matches no parameter (parameters: ${names.join(', ')})`);
      for (const name of matched) {
        if (owner.has(name) && owner.get(name) !== g) throw new UserError(`parameter '${name}' is in two parameter groups (${owner.get(name)} and ${g})`);
        if (!params.includes(name)) params.push(name);
        owner.set(name, g);
      }
    }
    const { params: _globs, ...given } = spec;
    const group: ParamGroup = { ...DEFAULT_HYPERPARAMETERS, ...defaults, ...stripUndefined(given), params };
    validate(group, g);
    return group;
  });
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function validate(g: ParamGroup, index: number): void {
  const bad = (what: string) => new UserError(`parameter group ${index} (${g.params.join(', ')}): ${what}`);
  if (!(g.lr > 0) || !Number.isFinite(g.lr)) throw bad(`learning rate must be a positive number, got ${g.lr}`);
  if (!(g.weightDecay >= 0)) throw bad(`weight decay must be >= 0, got ${g.weightDecay}`);
  if (!(g.momentum >= 0)) throw bad(`momentum must be >= 0, got ${g.momentum}`);
  if (g.betas.some((b) => !(b >= 0 && b < 1))) throw bad(`betas must lie in [0, 1), got ${g.betas}`);
  if (g.nesterov && (g.momentum <= 0 || g.dampening !== 0)) throw bad('nesterov needs momentum > 0 and zero dampening');
}
