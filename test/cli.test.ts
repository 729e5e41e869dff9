// The onnx-finetune command, run as a user runs it: the installed bin (dist/src/cli/onnx-finetune.mjs) in a child process.
// - compare on the built-in default lands in PyTorch's range over 30 seeds of the notebook, in order;
// - the three commands on the torch-seed fixture (shuffle off, the fixture's hyperparameters) give PyTorch's
//   accuracy, and its final weights as read back from the exported .onnx files;
// - the exported files give the same predictions in onnxruntime-web as in onnxruntime-node;
// - every bad input gets one line on stderr, a non-zero exit, no stack trace and no output files.
import { expect } from 'chai';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ortWeb from 'onnxruntime-web';
import { loadModel } from '../src/onnx/io.js';
import { tensorValues } from '../src/onnx/tensor.js';
import { notebookTask } from '../src/data/synthetic.js';
import { fixturePath, loadFixture, maxParameterDifference, maxRelativeDifference } from './util/fixtures.js';
import { checkerMissing, checkModelFile } from './util/onnx-checker.js';
import { cli, expectSameInBothRuntimes, type Run } from './util/cli.js';

const STRATEGIES = ['linear_probe', 'partial_unfreeze', 'full_fine_tune'] as const;

describe('onnx-finetune command', function () {
  this.timeout(60_000);
  let tmp: string;
  before(() => {
    tmp = mkdtempSync(join(tmpdir(), 'onnx-finetune-cli-'));
    ortWeb.env.wasm.numThreads = 1;
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  describe('compare on the built-in default (the seed notebook)', () => {
    let run: Run;
    let out: string;
    before(async () => {
      out = join(tmp, 'compare');
      run = await cli(['compare', '--out', out], tmp);
    });

    it('ends with the notebook\'s own dict: PyTorch\'s generator draws the notebook\'s data, weights and shuffles', () => {
      expect(run.code, run.stderr).to.equal(0);
      expect(run.stderr).to.equal('');
      const lines = run.stdout.trimEnd().split('\n');
      // The notebook's own dict (issue 20), then the report's path.
      expect(lines[lines.length - 1]).to.equal(`report: ${join(out, 'report.html')}`);
      expect(lines[lines.length - 2]).to.equal("{'linear_probe': 0.627, 'partial_unfreeze': 0.783, 'full_fine_tune': 0.883}");
    });

    it('writes <strategy>.onnx, .safetensors and .json for each strategy, the run\'s report files, and nothing else', () => {
      // compare's fourth row, LoRA (issue 16), adds its adapter folder.
      expect(readdirSync(out).sort()).to.deep.equal([...STRATEGIES, 'lora'].flatMap((s) => [`${s}.json`, `${s}.onnx`, `${s}.safetensors`]).concat('lora.adapter', 'metrics.csv', 'report.html', 'run.json').sort());
      for (const s of STRATEGIES) {
        const report = JSON.parse(readFileSync(join(out, `${s}.json`), 'utf8'));
        expect(report.strategy).to.equal(s);
        expect(report.model).to.equal(join(out, `${s}.onnx`));
        expect(report.epoch_losses).to.have.length(s === 'partial_unfreeze' ? 13 : 10);
      }
    });

    it('exports inference-ready models (opset 17, IR 8, the source\'s names, valid for onnx.checker) that give the same predictions in onnxruntime-web', async () => {
      const { test } = notebookTask(17);
      for (const s of STRATEGIES) {
        const model = loadModel(join(out, `${s}.onnx`));
        expect(Number(model.irVersion)).to.equal(8);
        expect(model.opsetImport.map((o) => Number(o.version))).to.deep.equal([17]);
        expect(model.graph.input.map((i) => i.name)).to.deep.equal(['x']);
        expect(model.graph.output.map((o) => o.name)).to.deep.equal(['logits']);
        expect(model.graph.initializer.map((t) => t.name)).to.deep.equal(['backbone.0.weight', 'backbone.0.bias', 'backbone.2.weight', 'backbone.2.bias', 'head.weight', 'head.bias']);
        if (!checkerMissing()) expect(checkModelFile(join(out, `${s}.onnx`)), s).to.equal('');
        const report = JSON.parse(readFileSync(join(out, `${s}.json`), 'utf8'));
        await expectSameInBothRuntimes(join(out, `${s}.onnx`), test, report.accuracy);
      }
    });
  });

  describe('the torch-seed fixture, shuffle off, with its hyperparameters', () => {
    const fixture = loadFixture('torch-seed');
    const c = fixture.expected.config;
    const common = ['--model', fixturePath('torch-seed', 'model.onnx'), '--train', fixturePath('torch-seed', 'train.csv'), '--test', fixturePath('torch-seed', 'test.csv'), '--no-shuffle', '--batch-size', String(c.batch), '--json'];
    const commands: Record<(typeof STRATEGIES)[number], string[]> = {
      linear_probe: ['linear-probe', '--lr', String(c.probe.lr), '--epochs', String(c.probe.epochs)],
      partial_unfreeze: ['partial-unfreeze', '--head-lr', String(c.partial.head_lr), '--head-epochs', String(c.partial.head_epochs), '--unfreeze', c.partial.unfreeze, '--backbone-lr', String(c.partial.backbone_lr), '--epochs', String(c.partial.epochs)],
      full_fine_tune: ['full-finetune', '--lr', String(c.full.lr), '--epochs', String(c.full.epochs)],
    };
    const runs = new Map<string, { out: string; record: Record<string, unknown> }>();
    let compared: { out: string; stdout: string };
    before(async () => {
      const go = async (args: string[], out: string) => {
        const run = await cli([...args, ...common, '--out', out], tmp);
        expect(run.code, run.stderr).to.equal(0);
        expect(run.stderr).to.equal('');
        return run.stdout;
      };
      await Promise.all([
        ...STRATEGIES.map(async (s) => {
          const out = join(tmp, `fixture-${s}`);
          runs.set(s, { out, record: JSON.parse(await go(commands[s], out)) });
        }),
        (async () => {
          const out = join(tmp, 'fixture-compare');
          compared = { out, stdout: await go(['compare'], out) };
        })(),
      ]);
    });

    it('--json prints exactly one JSON object with the documented keys', () => {
      for (const s of STRATEGIES) {
        const { out, record } = runs.get(s)!;
        expect(Object.keys(record).sort()).to.deep.equal(['accuracy', 'epoch_losses', 'model', 'seconds', 'skipped_batches', 'steps', 'strategy', 'test_loss', 'trainable_parameters']);
        expect(record.strategy).to.equal(s);
        expect(record.model).to.equal(join(out, `${s}.onnx`));
        expect(readdirSync(out).sort()).to.deep.equal([`${s}.json`, `${s}.onnx`, `${s}.safetensors`, 'metrics.csv', 'report.html', 'run.json'].sort());
      }
    });

    it('compare --json prints one JSON object keyed by strategy, holding those records', () => {
      const value = JSON.parse(compared.stdout);
      expect(Object.keys(value)).to.deep.equal([...STRATEGIES, 'lora']);
      for (const s of [...STRATEGIES, 'lora']) {
        expect(Object.keys(value[s]).sort()).to.deep.equal(['accuracy', 'epoch_losses', 'model', 'seconds', 'skipped_batches', 'steps', 'strategy', 'test_loss', 'trainable_parameters']);
        expect(value[s].model).to.equal(join(compared.out, `${s}.onnx`));
      }
      // compare runs the notebook's defaults, which are also this fixture's hyperparameters.
      for (const s of STRATEGIES) expect(value[s].accuracy, s).to.equal(fixture.expected.results[s].accuracy);
      expect(readdirSync(compared.out)).to.have.length(16); // 3 per strategy (LoRA's adapter folder too), and the run's metrics.csv, report.html and run.json
    });

    for (const s of STRATEGIES) {
      it(`${s}: PyTorch's accuracy, and the exported weights within 1e-4 of PyTorch's`, () => {
        const { out, record } = runs.get(s)!;
        const expected = fixture.expected.results[s];
        expect(record.accuracy).to.equal(expected.accuracy);
        expect(maxRelativeDifference(expected.epoch_losses, record.epoch_losses as number[])).to.be.below(1e-4);
        const exported = loadModel(join(out, `${s}.onnx`));
        const weights = new Map(exported.graph.initializer.map((t) => [t.name, tensorValues(t) as Float32Array]));
        const diff = maxParameterDifference(expected.params, weights);
        expect(diff.max, diff.name).to.be.below(1e-4);
      });
    }

    it('the exported models give the same predictions in onnxruntime-web as in onnxruntime-node', async () => {
      for (const s of STRATEGIES) {
        const { out, record } = runs.get(s)!;
        await expectSameInBothRuntimes(join(out, `${s}.onnx`), fixture.test, record.accuracy as number);
      }
    });
  });

  it('writes to runs/<strategy>-<timestamp> by default', async () => {
    const cwd = join(tmp, 'default-out');
    mkdirSync(cwd);
    const run = await cli(['linear-probe', '--epochs', '1'], cwd);
    expect(run.code, run.stderr).to.equal(0);
    const dirs = readdirSync(join(cwd, 'runs'));
    expect(dirs).to.have.length(1);
    expect(dirs[0]).to.match(/^linear_probe-\d{8}-\d{6}$/);
    expect(readdirSync(join(cwd, 'runs', dirs[0])).sort()).to.deep.equal(['linear_probe.json', 'linear_probe.onnx', 'linear_probe.safetensors', 'metrics.csv', 'report.html', 'run.json']);
    expect(run.stdout).to.include(join('runs', dirs[0]));
  });

  describe('bad input: one line on stderr naming the culprit, exit status != 0, no stack trace, no output', () => {
    const seedModel = fixturePath('torch-seed', 'model.onnx');
    const seedTrain = fixturePath('torch-seed', 'train.csv');
    const seedTest = fixturePath('torch-seed', 'test.csv');
    let bad: string;

    /** The torch-seed training CSV with one cell (data row `row`, 0-based, and column) replaced. */
    function editedCsv(name: string, edit: (rows: string[][]) => void, source = seedTrain): string {
      const rows = readFileSync(source, 'utf8').trimEnd().split(/\r?\n/).map((l) => l.split(','));
      edit(rows);
      const path = join(bad, name);
      writeFileSync(path, rows.map((r) => r.join(',')).join('\n') + '\n');
      return path;
    }

    before(() => {
      bad = join(tmp, 'bad');
      mkdirSync(bad);
    });

    const cases: { name: string; args: () => string[]; message: RegExp }[] = [
      { name: 'a missing model file', args: () => ['linear-probe', '--model', join(bad, 'nope.onnx'), '--train', seedTrain, '--test', seedTest], message: /nope\.onnx: cannot read model file \(no such file or folder, ENOENT\)$/ },
      { name: 'an unreadable model file (a folder)', args: () => ['linear-probe', '--model', bad, '--train', seedTrain, '--test', seedTest], message: /bad: cannot read model file \(it is a folder\)$/ },
      { name: 'a missing CSV file', args: () => ['linear-probe', '--model', seedModel, '--train', seedTrain, '--test', join(bad, 'nope.csv')], message: /nope\.csv: cannot read CSV file \(no such file or folder, ENOENT\)$/ },
      {
        name: 'bytes that are not an ONNX model',
        args: () => { writeFileSync(join(bad, 'text.onnx'), 'x0,x1,y\n1,2,0\n'); return ['full-finetune', '--model', join(bad, 'text.onnx'), '--train', seedTrain, '--test', seedTest]; },
        message: /text\.onnx: not (a valid|an) ONNX model/,
      },
      {
        name: 'a truncated model',
        args: () => {
          const bytes = readFileSync(seedModel);
          writeFileSync(join(bad, 'truncated.onnx'), bytes.subarray(0, bytes.length >> 1));
          return ['full-finetune', '--model', join(bad, 'truncated.onnx'), '--train', seedTrain, '--test', seedTest];
        },
        message: /truncated\.onnx: not (a valid|an) ONNX model/,
      },
      {
        name: 'an empty CSV file',
        args: () => { writeFileSync(join(bad, 'empty.csv'), ''); return ['linear-probe', '--model', seedModel, '--train', join(bad, 'empty.csv'), '--test', seedTest]; },
        message: /empty\.csv: empty CSV file/,
      },
      {
        name: 'a CSV with the wrong number of columns for the model\'s input',
        args: () => ['linear-probe', '--model', seedModel, '--train', editedCsv('nine.csv', (rows) => rows.forEach((r) => r.splice(9, 1))), '--test', seedTest],
        message: /nine\.csv: 9 feature columns, but the model's input takes 10 values/,
      },
      {
        name: 'a CSV row with a missing cell',
        args: () => ['linear-probe', '--model', seedModel, '--train', editedCsv('short.csv', (rows) => rows[20].splice(3, 1)), '--test', seedTest],
        message: /short\.csv: line 21 has 10 columns, the header has 11/,
      },
      {
        name: 'a CSV cell holding text',
        args: () => ['linear-probe', '--model', seedModel, '--train', editedCsv('text.csv', (rows) => { rows[5][3] = 'abc'; }), '--test', seedTest],
        message: /text\.csv: line 6, column 'x3': 'abc' \(not a number\)/,
      },
      {
        name: 'a CSV cell holding NaN',
        args: () => ['linear-probe', '--model', seedModel, '--train', seedTrain, '--test', editedCsv('nan.csv', (rows) => { rows[7][2] = 'NaN'; }, seedTest)],
        message: /nan\.csv: line 8, column 'x2': 'NaN' \(not finite\)/,
      },
      {
        name: 'a CSV cell holding an infinity',
        args: () => ['linear-probe', '--model', seedModel, '--train', editedCsv('inf.csv', (rows) => { rows[9][0] = '-inf'; }), '--test', seedTest],
        message: /inf\.csv: line 10, column 'x0': '-inf' \(not finite\)/,
      },
      {
        name: 'a label outside {0,1} for a one-logit head',
        args: () => ['linear-probe', '--model', seedModel, '--train', editedCsv('label2.csv', (rows) => { rows[4][10] = '2'; }), '--test', seedTest],
        message: /label2\.csv: (line 5|row 4): label 2 is not 0 or 1/,
      },
      {
        name: 'a label outside [0, classes) for a multi-class head',
        args: () => {
          const digitsTrain = fixturePath('torch-digits-cnn', 'train.csv');
          const csv = editedCsv('label7.csv', (rows) => { rows[3][rows[3].length - 1] = '7'; }, digitsTrain);
          return ['linear-probe', '--model', fixturePath('torch-digits-cnn', 'model.onnx'), '--train', csv, '--test', fixturePath('torch-digits-cnn', 'test.csv')];
        },
        message: /label7\.csv: (line 4|row 3): label 7 is not a class index in \[0, 5\)/,
      },
      { name: 'a zero learning rate', args: () => ['linear-probe', '--lr', '0'], message: /^--lr must be a positive number, got 0$/ },
      { name: 'a negative learning rate', args: () => ['partial-unfreeze', '--backbone-lr', '-1e-3'], message: /^--backbone-lr must be a positive number, got -1e-3$/ },
      { name: 'zero epochs', args: () => ['full-finetune', '--epochs', '0'], message: /^--epochs must be a positive whole number, got 0$/ },
      { name: 'a negative batch size', args: () => ['compare', '--batch-size', '-5'], message: /^--batch-size must be a positive whole number, got -5$/ },
      { name: 'a hexadecimal number', args: () => ['linear-probe', '--lr', '0x10'], message: /^--lr: '0x10' is not a number$/ },
      { name: 'a non-numeric number', args: () => ['linear-probe', '--lr', 'abc'], message: /^--lr: 'abc' is not a number$/ },
      { name: 'a number option without its value', args: () => ['partial-unfreeze', '--head-epochs'], message: /^--head-epochs needs a value$/ },
      { name: 'a --head glob that matches no parameter', args: () => ['linear-probe', '--head', 'fc.*'], message: /^--head 'fc\.\*' matches no parameter/ },
      { name: 'an --unfreeze glob that matches no parameter', args: () => ['partial-unfreeze', '--unfreeze', 'backbone.9.*'], message: /^--unfreeze 'backbone\.9\.\*' matches no parameter/ },
      { name: 'an unknown device', args: () => ['linear-probe', '--device', 'tpu'], message: /^--device: unknown device 'tpu' \(choices: cpu, cuda, webgpu\)$/ },
      { name: 'an unknown optimizer', args: () => ['linear-probe', '--optimizer', 'rmsprop'], message: /^--optimizer: unknown optimizer 'rmsprop'/ },
      { name: 'an unknown command', args: () => ['fine-tune-everything'], message: /^unknown command 'fine-tune-everything' \(commands: linear-probe, partial-unfreeze, full-finetune, lora, compare, run, plan, inspect, predict, report, lr-find, serve, sweep, worker\)$/ },
      { name: 'an option of another command', args: () => ['linear-probe', '--head-lr', '0.1'], message: /^unknown option --head-lr/ },
      { name: 'only some of --model/--train/--test', args: () => ['linear-probe', '--model', seedModel], message: /--model \(or --backbone\), --train and --test go together.*missing --train and --test/ },
      {
        name: 'an --out that is a file',
        args: () => { writeFileSync(join(bad, 'a-file'), ''); return ['linear-probe', '--out', join(bad, 'a-file')]; },
        message: /a-file: exists and is not a folder/,
      },
    ];

    // The cases run up front, a few processes at a time; each `it` then checks one.
    const results = new Map<string, { run: Run; out?: string }>();
    before(async () => {
      const queue = cases.map((c, i) => ({ c, i }));
      const worker = async () => {
        for (let next = queue.shift(); next; next = queue.shift()) {
          const args = next.c.args();
          const out = args.includes('--out') ? undefined : join(bad, `out-${next.i}`);
          results.set(next.c.name, { run: await cli(out ? [...args, '--out', out] : args, bad), out });
        }
      };
      await Promise.all([worker(), worker(), worker(), worker()]);
    });

    for (const c of cases) {
      it(c.name, () => {
        const { run, out } = results.get(c.name)!;
        expect(run.code, run.stdout).to.not.equal(0);
        expect(run.stdout).to.equal('');
        expect(run.stderr.endsWith('\n')).to.equal(true);
        const lines = run.stderr.trimEnd().split('\n');
        expect(lines, run.stderr).to.have.length(1);
        expect(lines[0]).to.not.match(/\bat \S+ \(|\bat file:|\bat node:/);
        expect(lines[0]).to.match(/^onnx-finetune: /);
        expect(lines[0].replace(/^onnx-finetune: /, ''), lines[0]).to.match(c.message);
        expect(lines[0]).to.not.match(/unexpected error/);
        if (out) expect(existsSync(out), `${out} left behind`).to.equal(false);
        expect(existsSync(join(bad, 'runs')), 'runs/ left behind').to.equal(false);
      });
    }

    it('a write that fails writes none of the outputs (the checkpoints stay, for --resume)', async () => {
      const out = join(bad, 'blocked');
      mkdirSync(join(out, 'linear_probe.json'), { recursive: true }); // a folder where the report should go
      const run = await cli(['linear-probe', '--epochs', '1', '--out', out, '--overwrite'], bad);
      expect(run.code).to.equal(1);
      expect(run.stderr.trimEnd().split('\n')).to.have.length(1);
      expect(run.stderr).to.match(/linear_probe\.json: cannot write \(it is a folder\)/);
      // The report files as the checkpoint left them: the failed outputs took none of them along.
      expect(readdirSync(out).sort()).to.deep.equal(['checkpoints', 'linear_probe.json', 'metrics.csv', 'report.html', 'run.json']);
    });
  });
});
