// Plans from files, run as a user runs them: `plan <strategy>` printed and run gives the built-in command's
// files byte for byte; a stage's optimizer and BatchNorm mode override the run's; a bad plan is one clear
// line naming the field; a gradual-unfreezing (ULMFiT) plan killed after each unfreeze resumes bit-identically;
// the recipe files in examples/plans/ read and fit a real model.
import { expect } from 'chai';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, reportOf } from './util/cli.js';
import { fixturePath, loadFixture, ROOT } from './util/fixtures.js';
import { encodeModel, loadModel } from '../src/onnx/io.js';
import { tensorValues } from '../src/onnx/tensor.js';
import { cnn, csvText, dataset, RUNNING } from './util/bn-cnn.js';
import { parsePlan, planYaml, readPlanFile, checkPlanAgainstModel } from '../src/plan/index.js';
import { fullFineTune, linearProbe, partialUnfreeze } from '../src/train/strategies.js';
import { checkPlan } from '../src/train/trainer.js';
import { describeModel } from '../src/model/describe.js';
import { LOSSES } from '../src/losses/index.js';

const seed = ['--model', fixturePath('torch-seed', 'model.onnx'), '--train', fixturePath('torch-seed', 'train.csv'), '--test', fixturePath('torch-seed', 'test.csv')];
const digits = ['--model', fixturePath('torch-digits-cnn', 'model.onnx'), '--train', fixturePath('torch-digits-cnn', 'train.csv'), '--test', fixturePath('torch-digits-cnn', 'test.csv')];
const bytes = (dir: string, name: string, ext: string) => readFileSync(join(dir, `${name}.${ext}`));
const weights = (file: string) => Buffer.concat(loadModel(file).graph.initializer.map((t) => Buffer.from(t.rawData)));

describe('plans from files (command)', function () {
  this.timeout(120_000);
  const tmp = mkdtempSync(join(tmpdir(), 'onnx-finetune-plans-'));
  const write = (name: string, text: string) => {
    writeFileSync(join(tmp, name), text);
    return join(tmp, name);
  };

  for (const [command, key, options] of [
    ['linear-probe', 'linear_probe', ['--epochs', '2']],
    ['partial-unfreeze', 'partial_unfreeze', ['--head-epochs', '1', '--epochs', '2', '--backbone-lr', '0.002', '--unfreeze', 'backbone.0.*']],
    ['full-finetune', 'full_fine_tune', ['--epochs', '2', '--lr', '0.005']],
  ] as const) {
    it(`plan ${command} printed, then run: the same .onnx, .safetensors and report as the ${command} command`, async () => {
      const printed = await cli(['plan', command, ...options], tmp);
      expect(printed.code, printed.stderr).to.equal(0);
      const file = write(`${key}.yaml`, printed.stdout);
      const [viaPlan, viaCommand] = [join(tmp, `${key}-plan`), join(tmp, `${key}-command`)];
      const a = await cli(['run', file, ...seed, '--val-split', '0.2', '--out', viaPlan], tmp);
      expect(a.code, a.stderr).to.equal(0);
      const b = await cli([command, ...options, ...seed, '--val-split', '0.2', '--out', viaCommand], tmp);
      expect(b.code, b.stderr).to.equal(0);
      expect(readdirSync(viaPlan).sort()).to.deep.equal([`${key}.json`, `${key}.onnx`, `${key}.safetensors`, 'metrics.csv', 'report.html', 'run.json'].sort());
      expect(readFileSync(join(viaPlan, 'metrics.csv'), 'utf8')).to.equal(readFileSync(join(viaCommand, 'metrics.csv'), 'utf8'));
      expect(bytes(viaPlan, key, 'onnx').equals(bytes(viaCommand, key, 'onnx'))).to.equal(true);
      expect(bytes(viaPlan, key, 'safetensors').equals(bytes(viaCommand, key, 'safetensors'))).to.equal(true);
      expect(reportOf(viaPlan, key)).to.deep.equal(reportOf(viaCommand, key));
    });
  }

  it('a printed plan reads back as the same Plan, and the file may be JSON', () => {
    for (const plan of [linearProbe({ lr: 0.01, epochs: 3 }), partialUnfreeze({ headLr: 0.01, headEpochs: 1, unfreeze: 'backbone.*', backboneLr: 1e-8, epochs: 2 }), fullFineTune({ lr: 3e-3, epochs: 1 })]) {
      expect(parsePlan(planYaml(plan, 'a comment'), 'p.yaml')).to.deep.equal(plan);
      expect(parsePlan(JSON.stringify({ name: plan.strategy, stages: plan.stages }), 'p.json')).to.deep.equal(plan);
    }
  });

  it("a stage's optimizer overrides --optimizer: stage optimizer sgd runs as the command with --optimizer sgd", async () => {
    const file = write('sgd.yaml', 'name: full_fine_tune\nstages:\n  - name: all\n    optimizer: sgd\n    epochs: 2\n    groups: [{ params: "*", lr: 0.05 }]\n');
    const a = await cli(['run', file, ...seed, '--out', join(tmp, 'sgd-plan')], tmp);
    expect(a.code, a.stderr).to.equal(0);
    const b = await cli(['full-finetune', '--optimizer', 'sgd', '--lr', '0.05', '--epochs', '2', ...seed, '--out', join(tmp, 'sgd-command')], tmp);
    expect(b.code, b.stderr).to.equal(0);
    expect(weights(join(tmp, 'sgd-plan', 'full_fine_tune.onnx')).equals(weights(join(tmp, 'sgd-command', 'full_fine_tune.onnx')))).to.equal(true);
    const adam = await cli(['full-finetune', '--lr', '0.05', '--epochs', '2', ...seed, '--out', join(tmp, 'adam-command')], tmp);
    expect(weights(join(tmp, 'sgd-plan', 'full_fine_tune.onnx')).equals(weights(join(tmp, 'adam-command', 'full_fine_tune.onnx')))).to.equal(false);
  });

  it("a stage's batch_norm overrides --batchnorm: frozen keeps the running statistics a train run updates", async () => {
    const files = ['--model', write('cnn.onnx', ''), '--train', write('bn-train.csv', csvText(dataset(10, 1))), '--test', write('bn-test.csv', csvText(dataset(6, 2)))];
    writeFileSync(files[1], encodeModel(cnn({ training: true })));
    const runningMean = (dir: string) => Array.from(tensorValues(loadModel(join(dir, 'bn.onnx')).graph.initializer.find((t) => t.name === 'bn.running_mean')!) as Float32Array);
    const plan = (mode: string) => write(`bn-${mode}.yaml`, `name: bn\nstages:\n  - name: all\n    batch_norm: ${mode}\n    epochs: 1\n    groups: [{ params: "*", lr: 0.01 }]\n`);
    for (const mode of ['frozen', 'train']) {
      const run = await cli(['run', plan(mode), ...files, '--batch-size', '4', '--batchnorm', mode === 'frozen' ? 'train' : 'frozen', '--out', join(tmp, `bn-${mode}`)], tmp);
      expect(run.code, run.stderr).to.equal(0);
    }
    expect(runningMean(join(tmp, 'bn-frozen'))).to.deep.equal(RUNNING.mean.map(Math.fround));
    expect(runningMean(join(tmp, 'bn-train'))).to.not.deep.equal(RUNNING.mean.map(Math.fround));
  });

  const GROUP = '{ params: head.*, lr: 0.01 }';
  for (const [label, stage, message] of [
    ['an unknown field, with the near miss', `{ name: head, epochs: 1, groups: [{ params: head.*, lr: 0.01, weight_dacay: 0.1 }] }`, 'stages[0].groups[0].weight_dacay: unknown field (did you mean weight_decay?)'],
    ['a glob matching nothing', `{ name: head, epochs: 1, groups: [${GROUP}, { params: [backbone.0.*, backbone.9.*], lr: 0.001 }] }`,
      `stages[0].groups[1].params[1]: 'backbone.9.*' matches no parameter of ${fixturePath('torch-seed', 'model.onnx')} (parameters: 'backbone.0.weight', 'backbone.0.bias', 'backbone.2.weight', 'backbone.2.bias', 'head.weight', 'head.bias')`],
    ['overlapping groups', `{ name: all, epochs: 1, groups: [${GROUP}, { params: "*", lr: 0.001 }] }`,
      "stages[0].groups[1].params: '*' selects head.weight, which stages[0].groups[0] already holds (a parameter belongs to one group of a stage)"],
    ['a negative learning rate', `{ name: head, epochs: 1, groups: [{ params: head.*, lr: -0.1 }] }`, 'stages[0].groups[0].lr: must be a positive number, got -0.1'],
    ['a wrong type', `{ name: head, epochs: two, groups: [${GROUP}] }`, "stages[0].epochs: must be a positive whole number, got 'two'"],
    ['a schedule without its required field', `{ name: head, epochs: 1, schedule: { kind: step }, groups: [${GROUP}] }`, 'stages[0].schedule.step_size: is missing: must be a positive whole number'],
  ] as const) {
    it(`refuses ${label}: one line naming the file and the field, exit 1, nothing written`, async () => {
      const file = write('bad.yaml', `name: bad\nstages:\n  - { name: warmup, epochs: 1, groups: [${GROUP}] }\n  - ${stage}\n`);
      const run = await cli(['run', file, ...seed, '--out', join(tmp, 'bad')], tmp);
      expect(run.code).to.equal(1);
      expect(run.stderr).to.equal(`onnx-finetune: ${file}: ${message.replace(/stages\[0\]/g, 'stages[1]')}\n`);
      expect(readdirSync(tmp)).to.not.include('bad');
    });
  }

  it('a plan-file run can be resumed: SIGKILL after each unfreeze of a ULMFiT plan (digits CNN), then --resume, is bit-identical', async () => {
    // Gradual unfreezing, top down, discriminative rates; the last stage switches to SGD with momentum.
    // 250 rows in batches of 32: 8 steps an epoch. Stages end at steps 8, 16, 24 and 40; a checkpoint every 3 steps.
    const ulmfit = write('ulmfit.yaml', [
      'name: ulmfit',
      'stages:',
      '  - { name: head, epochs: 1, groups: [{ params: head.*, lr: 0.01 }] }',
      '  - { name: fc, epochs: 1, groups: [{ params: head.*, lr: 0.01 }, { params: backbone.7.*, lr: 0.004 }] }',
      '  - { name: conv2, epochs: 1, groups: [{ params: head.*, lr: 0.01 }, { params: backbone.7.*, lr: 0.004 }, { params: backbone.3.*, lr: 0.0015 }] }',
      '  - name: conv1',
      '    epochs: 2',
      '    optimizer: sgd',
      '    groups:',
      '      - { params: head.*, lr: 0.05, momentum: 0.9 }',
      '      - { params: [backbone.7.*, backbone.3.*], lr: 0.02, momentum: 0.9 }',
      '      - { params: backbone.0.*, lr: 0.01, momentum: 0.9, nesterov: true }',
      '',
    ].join('\n'));
    const args = ['run', ulmfit, ...digits, '--batch-size', '32', '--val-split', '0.2', '--checkpoint-every', '3', '--json'];
    const whole = join(tmp, 'ulmfit-whole');
    const run = await cli([...args, '--out', whole], tmp);
    expect(run.code, run.stderr).to.equal(0);
    const report = reportOf(whole, 'ulmfit');
    expect(report.plan.map((s: { stage: string }) => s.stage)).to.deep.equal(['head', 'fc', 'conv2', 'conv1']);
    // Every layer trained: none of the source's weights is left as it was.
    const source = loadFixture('torch-digits-cnn').model.graph.initializer;
    const trained = loadModel(join(whole, 'ulmfit.onnx')).graph.initializer;
    for (const name of ['head.weight', 'backbone.7.weight', 'backbone.3.weight', 'backbone.0.weight']) {
      const before = Buffer.from(tensorValues(source.find((t) => t.name === name)!).buffer as ArrayBuffer);
      expect(Buffer.from(tensorValues(trained.find((t) => t.name === name)!).buffer as ArrayBuffer).equals(before), name).to.equal(false);
    }
    for (const step of [11, 19, 28]) {
      const out = join(tmp, `ulmfit-killed-${step}`);
      const killed = await cli([...args, '--out', out], tmp, { ONNX_FINETUNE_FAULT: `after-step:${step}` });
      expect(killed.signal).to.equal('SIGKILL');
      const resumed = await cli([...args, '--resume', out], tmp);
      expect(resumed.code, resumed.stderr).to.equal(0);
      expect(weights(join(out, 'ulmfit.onnx')).equals(weights(join(whole, 'ulmfit.onnx'))), `killed after step ${step}`).to.equal(true);
      expect(reportOf(out, 'ulmfit')).to.deep.equal(report);
    }
  });

  it('the recipes in examples/plans/ read and fit the digits CNN (globs match, groups apart, every stage buildable)', () => {
    const dir = join(ROOT, 'examples', 'plans');
    const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
    expect(files.sort()).to.deep.equal(['fastai-fine-tune.yaml', 'hf-warmup-decay.yaml', 'lightning-backbone-finetuning.yaml', 'ulmfit.yaml']);
    const model = loadFixture('torch-digits-cnn').model;
    const names = describeModel(model).parameters.map((p) => p.name);
    for (const file of files) {
      const plan = readPlanFile(join(dir, file));
      expect(plan.stages.length, file).to.be.greaterThan(0);
      checkPlanAgainstModel(plan, names, file, 'digits');
      checkPlan(model, plan, { optimizer: 'adamw', weightDecay: 0.01, loss: LOSSES.ce });
    }
  });

  it('the recipes in examples/plans/ train the digits CNN from the command line, under their schedules', async () => {
    // The first update's rate shows the schedule was applied: OneCycle starts at max_lr / 25, Hugging Face's
    // linear warmup at 0, a constant rate at the group's own. ULMFiT's first stage has 8 updates (250 rows in
    // batches of 64, 2 epochs), so pct_start 0.1 ends OneCycle's rise at update 0.8 - 1 = -0.2: its first
    // update is already on the cosine down from max_lr to max_lr / 25 / 1e4, at (0 + 0.2) / (7 + 0.2).
    const cosine = (start: number, end: number, pct: number) => end + ((start - end) / 2) * (Math.cos(Math.PI * pct) + 1);
    const firstRate: Record<string, number> = { 'fastai-fine-tune': 0.002 / 25, 'hf-warmup-decay': 0, 'lightning-backbone-finetuning': 0.01, ulmfit: cosine(0.01, 0.01 / 25 / 1e4, 0.2 / 7.2) };
    for (const [recipe, rate] of Object.entries(firstRate)) {
      const out = join(tmp, `recipe-${recipe}`);
      const run = await cli(['run', join(ROOT, 'examples', 'plans', `${recipe}.yaml`), ...digits, '--optimizer', 'adamw', '--batch-size', '64', '--json', '--out', out], tmp);
      expect(run.code, `${recipe}: ${run.stderr}`).to.equal(0);
      const [header, first] = readFileSync(join(out, 'metrics.csv'), 'utf8').split('\n');
      const column = header.split(',').indexOf('lr_group_0');
      expect(Number(first.split(',')[column]), recipe).to.be.closeTo(rate, rate * 1e-12);
    }
  });

  it('the README\'s recipes are the files in examples/plans/', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const section = /## Recipes: plans from a file\n([\s\S]*?)\n## /.exec(readme)![1];
    const recipes = [...section.matchAll(/\(`examples\/plans\/([\w.-]+)`[^\n]*[\s\S]*?```yaml\n([\s\S]*?)```/g)];
    expect(recipes.map((m) => m[1]).sort()).to.deep.equal(readdirSync(join(ROOT, 'examples', 'plans')).sort());
    for (const [, file, text] of recipes) expect(parsePlan(text, file), file).to.deep.equal(readPlanFile(join(ROOT, 'examples', 'plans', file)));
  });
});
