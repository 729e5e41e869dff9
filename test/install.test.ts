// Installing onnx-finetune as a dependency, as the README's "Using it from your own project" says: the packed
// tarball goes into a fresh project with no download (onnxruntime-node's CUDA step stays off), and neither npm
// nor the command prints a warning. Also: this clone's own npm configuration draws no npm warning.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Run } from './util/cli.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const VERSION: string = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version;

/**
 * A user's shell: `npm test` hands its children npm_* variables that carry this clone's configuration, and
 * this clone's node_modules/.bin on PATH; a user installing the package has neither.
 */
function userEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^npm_/i.test(key) || /^ONNXRUNTIME_NODE_INSTALL/i.test(key) || key === 'INIT_CWD') continue;
    env[key] = value;
  }
  env.PATH = (process.env.PATH ?? '').split(delimiter).filter((dir) => !dir.startsWith(join(ROOT, 'node_modules'))).join(delimiter);
  return env;
}

function run(command: string, args: string[], cwd: string, env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...userEnv(), ...env } });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

function expectNoNpmWarning(result: Run, what: string) {
  expect(result.stderr, `${what} printed an npm warning`).not.to.match(/npm warn/i);
}

describe('installing as a dependency', function () {
  this.timeout(300_000);
  let allowScripts = false;

  before(async function () {
    // npm's allowScripts policy (and its install-scripts command) is what keeps onnxruntime-node's download
    // off; an npm without it runs every install script, and the README's line for it is an environment variable.
    const probe = await run('npm', ['install-scripts', 'ls'], ROOT);
    allowScripts = !/Unknown command/i.test(probe.stdout + probe.stderr);
    if (!allowScripts) console.log(`      (npm ${(await run('npm', ['--version'], ROOT)).stdout.trim()} has no allowScripts: installing with ONNXRUNTIME_NODE_INSTALL=skip)`);
  });

  it("this clone's npm configuration draws no warning and leaves no install script unreviewed", async function () {
    if (!allowScripts) this.skip();
    const result = await run('npm', ['install-scripts', 'ls'], ROOT);
    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout).to.match(/No packages with unreviewed install scripts/);
    expectNoNpmWarning(result, 'npm install-scripts ls');
  });

  describe('the packed tarball in a fresh project', () => {
    let tmp = '';
    let project = '';
    let packed: { filename: string; files: { path: string }[] };
    let install: Run;

    before(async function () {
      tmp = mkdtempSync(join(tmpdir(), 'onnx-finetune-install-'));
      // `npm test` has just built dist/; --ignore-scripts packs it as it is instead of building again.
      const pack = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], ROOT);
      expect(pack.code, pack.stderr).to.equal(0);
      [packed] = JSON.parse(pack.stdout);
      project = join(tmp, 'project');
      mkdirSync(project);
      const steps = [['init', '-y']];
      if (allowScripts) steps.push(['pkg', 'set', 'allowScripts.onnxruntime-node=false', 'allowScripts.protobufjs=false', 'allowScripts.msgpackr-extract=false', '--json']);
      for (const args of steps) {
        const step = await run('npm', args, project);
        expect(step.code, `npm ${args.join(' ')}: ${step.stderr}`).to.equal(0);
      }
      const skipDownload: Record<string, string> = allowScripts ? {} : { ONNXRUNTIME_NODE_INSTALL: 'skip' };
      install = await run('npm', ['install', '--prefer-offline', join(tmp, packed.filename)], project, skipDownload);
    });

    after(() => {
      if (tmp) rmSync(tmp, { recursive: true, force: true });
    });

    it('installs with no download and no npm warning', () => {
      expect(install.code, install.stderr).to.equal(0);
      expectNoNpmWarning(install, 'npm install');
      // onnxruntime-node's install script would have put the CUDA provider here (or failed, offline).
      const bin = join(project, 'node_modules', 'onnxruntime-node', 'bin', 'napi-v6', process.platform, process.arch);
      expect(existsSync(join(bin, 'libonnxruntime_providers_cuda.so'))).to.equal(false);
      // Only this repository's tests use onnxruntime-web: a user's project does not get it.
      expect(existsSync(join(project, 'node_modules', 'onnxruntime-web'))).to.equal(false);
    });

    it('runs the command with npx, with no npm warning', async () => {
      const version = await run('npx', ['onnx-finetune', '--version'], project);
      expect(version.code, version.stderr).to.equal(0);
      expect(version.stdout.trim()).to.equal(VERSION);
      expectNoNpmWarning(version, 'npx onnx-finetune --version');

      const compare = await run('npx', ['onnx-finetune', 'compare'], project);
      expect(compare.code, compare.stderr).to.equal(0);
      expect(compare.stdout).to.match(/^\{'linear_probe': [\d.]+, 'partial_unfreeze': [\d.]+, 'full_fine_tune': [\d.]+\}$/m);
      expectNoNpmWarning(compare, 'npx onnx-finetune compare');
    });

    it('ships the command, the library with its types and the default model, and no tests', () => {
      const paths = packed.files.map((f) => f.path);
      expect(paths).to.include.members(['dist/src/cli/onnx-finetune.mjs', 'dist/src/cli/main.js', 'dist/src/index.js', 'dist/src/index.d.ts', 'models/seed-backbone.onnx', 'package.json', 'README.md']);
      expect(paths.filter((p) => /^(test|dist\/test|dist\/scripts|scripts|\.ci)\//.test(p))).to.deep.equal([]);
    });

    it('ships the browser page (serve) with its scripts and WebAssembly, and onnx-finetune/web with its types', () => {
      const paths = packed.files.map((f) => f.path);
      expect(paths).to.include.members(['web/index.html', 'web/style.css', 'dist/browser/app/page.mjs', 'dist/browser/app/worker.mjs', 'dist/browser/app/ort-wasm-simd-threaded.jsep.wasm', 'dist/browser/index.mjs', 'dist/src/web/index.d.ts', 'dist/src/cli/serve.js']);
      // The page's TypeScript is bundled; its sources and tsc's per-file output of them are not needed.
      expect(paths.filter((p) => /^dist\/web\//.test(p) || /^web\/.*\.ts$/.test(p))).to.deep.equal([]);
    });
  });
});
