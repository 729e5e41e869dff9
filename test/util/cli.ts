// Running the built command as a user does, and checking exported models in both runtimes.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ortWeb from 'onnxruntime-web';
import { createSession, ort } from '../../src/runtime/session.js';
import { countCorrect } from '../../src/train/evaluate.js';
import { singleInput, type Dataset } from '../../src/data/dataset.js';

// The command as the package installs it: the bundled bin (scripts/bundle.mjs).
export const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'cli', 'onnx-finetune.mjs');

/** A strategy's <strategy>.json report without what differs between two runs of it (seconds, the model's path). */
export function reportOf(dir: string, strategy = 'partial_unfreeze') {
  const { seconds: _s, model: _m, ...rest } = JSON.parse(readFileSync(join(dir, `${strategy}.json`), 'utf8'));
  return rest;
}

export interface Run { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

export function cli(args: string[], cwd: string, env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** The predictions and logits of an exported model on a dataset, in onnxruntime-node and onnxruntime-web. */
/**
 * A run killed by SIGKILL at `fault` (ONNX_FINETUNE_FAULT, e.g. 'after-step:19'), then continued with
 * --resume in its folder `out`; `unwritten`, a result the killed run must not have left there.
 */
export async function killAndResume(args: string[], out: string, fault: string, cwd: string, unwritten = 'partial_unfreeze.onnx'): Promise<void> {
  const killed = await cli([...args, '--out', out], cwd, { ONNX_FINETUNE_FAULT: fault });
  expect(killed.signal, killed.stderr).to.equal('SIGKILL');
  expect(existsSync(join(out, unwritten)), unwritten).to.equal(false);
  const resumed = await cli([...args, '--resume', out], cwd);
  expect(resumed.code, resumed.stderr).to.equal(0);
}

export async function bothRuntimes(file: string, data: Dataset) {
  const bytes = readFileSync(file);
  const { shape, values } = singleInput(data);
  const dims = [data.count, ...shape];
  const node = await createSession(bytes);
  const a = (await node.run({ [node.inputNames[0]]: new ort.Tensor('float32', values as Float32Array, dims) }))[node.outputNames[0]];
  await node.release();
  const web = await ortWeb.InferenceSession.create(bytes);
  const b = (await web.run({ [web.inputNames[0]]: new ortWeb.Tensor('float32', values as Float32Array, dims) }))[web.outputNames[0]];
  await web.release();
  return { node: a.data as Float32Array, web: b.data as Float32Array, classes: a.dims[1] ?? 1 };
}

export function predictions(logits: Float32Array, classes: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < logits.length / classes; i++) {
    if (classes === 1) out.push(logits[i] > 0 ? 1 : 0);
    else {
      let best = 0;
      for (let c = 1; c < classes; c++) if (logits[i * classes + c] > logits[i * classes + best]) best = c;
      out.push(best);
    }
  }
  return out;
}

export async function expectSameInBothRuntimes(file: string, data: Dataset, accuracy: number) {
  const { node, web, classes } = await bothRuntimes(file, data);
  expect(web.length).to.equal(data.count * classes);
  for (let i = 0; i < node.length; i++) expect(web[i], `logit ${i}`).to.be.closeTo(node[i], 1e-5 * Math.max(1, Math.abs(node[i])));
  expect(predictions(web, classes)).to.deep.equal(predictions(node, classes));
  // The exported model is the trained one: it scores the accuracy the command reported.
  expect(countCorrect(node, classes, data.labels) / data.count).to.equal(accuracy);
}

