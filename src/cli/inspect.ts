// `onnx-finetune inspect MODEL`: what training would see in a model, printed as short aligned tables or, with
// --json, as one JSON object. Reads the model only; the training options are refused rather than ignored.
import type { Argv as Yargs } from 'yargs';
import { UserError } from '../errors.js';
import { loadModel } from '../onnx/io.js';
import { NOTEBOOK_DEFAULTS, type StrategyKey } from '../train/strategies.js';
import { inspectModel, type BatchNormDescription, type ModelInspection, type TensorDescription } from '../model/inspect.js';
import type { OpCoverage } from '../model/gradient-coverage.js';
import { COMMON_OPTIONS, readString, type Argv } from './options.js';
import { COMMANDS } from './run.js';

export const INSPECT_COMMAND = 'inspect';

const DESCRIPTION = "print a model's parameters and what --head and --unfreeze select, its inputs and outputs, BatchNorm layers, and its ops with whether each has a gradient rule (model: an .onnx file)";

// The common options inspect reads; the others configure training (COMMON_OPTIONS in options.ts are global).
const INSPECT_READS = new Set(['model', 'head', 'json']);
const TRAINING_ONLY = Object.keys(COMMON_OPTIONS).filter((name) => !INSPECT_READS.has(name));

/** Adds the inspect command to the command line. */
export function withInspectCommand(cli: Yargs, stdout: NodeJS.WritableStream): Yargs {
  return cli.command(`${INSPECT_COMMAND} [model]`, DESCRIPTION, (y) => {
    // Hidden and without defaults: out of inspect's help, and undefined unless typed, so they can be refused.
    for (const name of [...TRAINING_ONLY, 'model']) y.option(name, { hidden: true, default: undefined });
    return y.options({
      json: { type: 'boolean', default: false, describe: 'print one JSON object on stdout instead of the tables' },
      unfreeze: { type: 'string', requiresArg: true, default: NOTEBOOK_DEFAULTS.partial_unfreeze.unfreeze, describe: 'glob over parameter names: the layers partial-unfreeze would unfreeze' },
    }).group(['unfreeze'], `${INSPECT_COMMAND} options:`);
  }, (argv) => {
    stdout.write(runInspect(argv as Argv));
  });
}

/** What inspect prints for the parsed command line. */
export function runInspect(argv: Argv): string {
  const given = TRAINING_ONLY.filter((name) => argv[name] !== undefined);
  if (given.length > 0) throw new UserError(`${INSPECT_COMMAND} reads a model and trains nothing: --${given[0]} is a training option`);
  const path = readString(argv, 'model');
  if (!path) throw new UserError(`${INSPECT_COMMAND} needs a model file: onnx-finetune ${INSPECT_COMMAND} MODEL.onnx`);
  const globs = { head: readString(argv, 'head')!, unfreeze: readString(argv, 'unfreeze')! };
  const inspection = inspectModel(loadModel(path), path, globs);
  return argv.json ? `${JSON.stringify(inspectionJson(path, inspection))}\n` : inspectionText(path, inspection);
}

export function inspectionJson(path: string, m: ModelInspection) {
  const total = (list: { count: number }[]) => ({ tensors: list.length, elements: sum(list) });
  return {
    model: path,
    producer: m.producer,
    ir_version: m.irVersion,
    opsets: m.opsets,
    inputs: m.inputs,
    outputs: m.outputs,
    parameters: m.parameters.map((p) => ({ name: p.name, shape: p.dims, elements: p.count, role: p.role, head: p.head, unfreeze: p.unfreeze })),
    totals: {
      parameters: total(m.parameters),
      head: total(m.parameters.filter((p) => p.head)),
      unfreeze: total(m.parameters.filter((p) => p.unfreeze)),
      buffers: total(m.buffers),
    },
    head: { glob: m.head.glob, matched: m.head.matched },
    unfreeze: { glob: m.unfreeze.glob, matched: m.unfreeze.matched },
    buffers: m.buffers.map((b) => ({ name: b.name, shape: b.dims, elements: b.count })),
    batchnorm: m.batchNorms.map((b) => ({ node: b.node, layer: layerName(b), channels: b.channels, scale: b.scale, bias: b.bias, running_mean: b.mean, running_var: b.variance, epsilon: b.epsilon, momentum: b.momentum, head: b.scaleSelected.head, unfreeze: b.scaleSelected.unfreeze })),
    ops: m.ops.map((o) => ({ op: o.opType, domain: o.domain, count: o.count, gradient_rule: o.hasRule, blocks: o.blocks, blocking_nodes: o.blockingNodes })),
    notes: notes(m),
  };
}

export function inspectionText(path: string, m: ModelInspection): string {
  const producer = [m.producer.name, m.producer.version].filter(Boolean).join(' ') || 'unknown';
  const opsets = m.opsets.map((o) => (o.domain && o.domain !== 'ai.onnx' ? `${o.domain} ${o.version}` : String(o.version))).join(', ');
  const lines = [`${path}: producer ${producer}, IR version ${m.irVersion}, opset ${opsets}`, ''];

  lines.push('Inputs and outputs');
  lines.push(...table(['', 'name', 'type', 'shape'], [
    ...m.inputs.map((t) => ['input', t.name, t.type, shapeText(t.shape)]),
    ...m.outputs.map((t) => ['output', t.name, t.type, shapeText(t.shape)]),
  ]), '');

  lines.push(`Parameters: ${count(m.parameters.length, 'tensor')}, ${count(sum(m.parameters), 'element')}`);
  lines.push(...table(['name', 'shape', 'elements', 'role', 'selected'], m.parameters.map((p) => [
    p.name, shapeText(p.dims), grouped(p.count), p.role, selectedText(p),
  ]), [2]));
  for (const [label, selection] of [['head', m.head], ['unfreeze', m.unfreeze]] as const) {
    const what = selection.matched.length === 0 ? 'matches no parameter' : `selects ${count(selection.matched.length, 'tensor')}, ${count(selection.count, 'element')}`;
    lines.push(`--${label} '${selection.glob}' ${what}`);
  }
  if (m.buffers.length > 0) lines.push(`Buffers (BatchNorm running statistics, not trained): ${count(m.buffers.length, 'tensor')}, ${count(sum(m.buffers), 'element')}`);
  lines.push('');

  if (m.batchNorms.length > 0) {
    lines.push(`BatchNorm layers: ${m.batchNorms.length}`);
    lines.push(...table(['layer', 'channels', 'epsilon', 'selected'], m.batchNorms.map((b) => [
      layerName(b), b.channels === null ? '?' : String(b.channels), String(b.epsilon), selectedText(b.scaleSelected),
    ]), [1]), '');
  }

  lines.push(`Ops: ${count(m.ops.length, 'type')}, ${count(m.ops.reduce((n, o) => n + o.count, 0), 'node')}`);
  lines.push(...table(['op', 'nodes', 'gradient rule'], m.ops.map((o) => [o.domain ? `${o.domain}.${o.opType}` : o.opType, String(o.count), ruleText(o)]), [1]));

  const said = notes(m);
  if (said.length > 0) lines.push('', 'Notes', ...said.map((n) => `  ${n}`));
  return `${lines.join('\n')}\n`;
}

const selectedText = (s: { head: boolean; unfreeze: boolean }) => [s.head ? 'head' : '', s.unfreeze ? 'unfreeze' : ''].filter(Boolean).join(', ');

/** A BatchNorm layer by the module name its parameters share (`layer1.0.bn1`), else by its node's name. */
function layerName(b: BatchNormDescription): string {
  let common = 0;
  while (common < b.scale.length && b.scale[common] === b.bias[common]) common++;
  const prefix = b.scale.slice(0, b.scale.lastIndexOf('.', common) + 1);
  return prefix.length > 1 ? prefix.slice(0, -1) : b.node;
}

function ruleText(op: OpCoverage): string {
  if (op.hasRule) return 'yes';
  if (op.blocks.length === 0) return 'none, not needed';
  return `MISSING: ${failing(op.blocks)}`;
}

/** The model's own notes, then what the globs select wrongly, then the ops that make commands fail. */
function notes(m: ModelInspection): string[] {
  const lines = [...m.notes];
  for (const [option, selection] of [['--head', m.head], ['--unfreeze', m.unfreeze]] as const) {
    if (selection.matched.length === 0) lines.push(`${option} '${selection.glob}' matches no parameter`);
  }
  if (m.overlap.length > 0) lines.push(`--unfreeze '${m.unfreeze.glob}' also selects the head's ${m.overlap.join(', ')}: ${COMMANDS.partial_unfreeze} and ${COMMANDS.compare} refuse this`);
  for (const op of m.ops.filter((o) => o.blocks.length > 0)) {
    lines.push(`no gradient rule for ${op.opType} (${nodeList(op.blockingNodes)}) on the gradient path: ${failing(op.blocks)}`);
  }
  return lines;
}

/** The commands that fail, by their command-line names: compare runs every strategy. */
function failing(strategies: string[]): string {
  const commands = [...strategies.map((s) => COMMANDS[s as StrategyKey]), COMMANDS.compare];
  return `${commands.slice(0, -1).join(', ')} and ${commands[commands.length - 1]} fail`;
}

function nodeList(nodes: string[]): string {
  const shown = nodes.slice(0, 3).map((n) => `'${n}'`).join(', ');
  return `node${nodes.length === 1 ? '' : 's'} ${shown}${nodes.length > 3 ? `, and ${nodes.length - 3} more` : ''}`;
}

/** Rows under a header, columns two spaces apart, the `right` columns right-aligned (numbers). */
function table(header: string[], rows: string[][], right: number[] = []): string[] {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const line = (cells: string[]) => `  ${cells.map((cell, c) => (right.includes(c) ? cell.padStart(widths[c]) : cell.padEnd(widths[c]))).join('  ')}`.trimEnd();
  return [line(header), ...rows.map(line)];
}

function shapeText(shape: TensorDescription['shape']): string {
  return shape === null ? '?' : `[${shape.map((d) => (d === null ? '?' : String(d))).join(', ')}]`;
}

const sum = (list: { count: number }[]) => list.reduce((n, p) => n + p.count, 0);
const grouped = (n: number) => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
const count = (n: number, noun: string) => `${grouped(n)} ${noun}${n === 1 ? '' : 's'}`;
