// Discriminative learning rates by depth (layer-wise lr decay, fastai's `slice(lo, hi)`, ULMFiT, BEiT/timm's
// layer_decay): a stage's groups split by layer, each part at lr × decay^depth.
// A "layer" is a parameter name's module prefix, the name without its last dotted part ('backbone.2.weight'
// is in layer 'backbone.2', 'head.bias' in 'head'). The head's layers (those of the parameters --head selects)
// are depth 0; the other layers of the model, ordered as the graph's nodes first read their parameters,
// take depths 1, 2, … from the last of them to the first. Depth counts every layer of the model, frozen ones too,
// so a layer has the same depth in every stage.
import { matchParameters, resolveGroups, type GroupSpec } from './groups.js';
import type { ModelProto } from '../onnx/proto.js';
import { describeModel } from '../model/describe.js';

/** The model's parameter names in the order its nodes (topologically sorted, as ONNX requires) first read them. */
export function parametersInGraphOrder(model: ModelProto): string[] {
  const names = describeModel(model).parameters.map((p) => p.name);
  const isParameter = new Set(names), seen = new Set<string>();
  for (const node of model.graph.node) for (const input of node.input) if (isParameter.has(input)) seen.add(input);
  return [...seen, ...names.filter((n) => !seen.has(n))];
}

/** The module prefix of a parameter name. */
export function layerOf(name: string): string {
  const dot = name.lastIndexOf('.');
  return dot < 0 ? name : name.slice(0, dot);
}

/** Each layer's depth: the head's 0, then the model's other layers from the last to the first. `names` in graph order (parametersInGraphOrder). */
export function layerDepths(names: readonly string[], head: string): Map<string, number> {
  const headLayers = new Set(matchParameters(head, names).map(layerOf));
  const layers = [...new Set(names.map(layerOf))].filter((l) => !headLayers.has(l));
  return new Map([...[...headLayers].map((l) => [l, 0] as const), ...layers.reverse().map((l, i) => [l, i + 1] as const)]);
}

/** A glob that matches exactly this parameter name. */
export function literalGlob(name: string): string {
  return name.replace(/[\\*?[\]{}()!+@|^$.,]/g, (c) => `\\${c}`);
}

/** The groups split by layer, shallowest first, each part at its group's lr × decay^depth. A pure function of its arguments. */
export function layerDecayGroups(groups: readonly GroupSpec[], names: readonly string[], decay: number, head: string): GroupSpec[] {
  const depths = layerDepths(names, head);
  const resolved = resolveGroups(groups, names);
  return groups.flatMap((spec, g) => {
    const byDepth = new Map<number, string[]>();
    for (const name of resolved[g].params) {
      const depth = depths.get(layerOf(name))!;
      byDepth.set(depth, [...(byDepth.get(depth) ?? []), name]);
    }
    return [...byDepth].sort(([a], [b]) => a - b).map(([depth, params]) => ({ ...spec, params: params.map(literalGlob), lr: resolved[g].lr * decay ** depth }));
  });
}
