// `onnx-finetune sweep FILE`: a grid or random search of runs (src/sweep/). Ctrl-C stops it: queued runs are
// cancelled, running ones stop at a checkpoint, finished ones stay; the same command again continues.
import { basename, extname, join, resolve } from 'node:path';
import type { Argv as Yargs } from 'yargs';
import { UserError } from '../errors.js';
import { runSweep } from '../sweep/sweep.js';
import { readNumber, readString, SWEEP_OPTIONS, yargsOptions, type Argv } from './options.js';
import { VERSION } from './run.js';

export const SWEEP_COMMAND = 'sweep';

export function withSweepCommand(cli: Yargs, stdout: NodeJS.WritableStream): Yargs {
  return cli.command(`${SWEEP_COMMAND} [file]`, 'run a grid or random search of runs from a sweep file, here (--workers) or through a Redis queue (--queue); see README "Sweeps"',
    (y) => y.positional('file', { type: 'string', describe: 'the sweep file (.yaml, .yml or .json)' }).options(yargsOptions(SWEEP_OPTIONS)).group(Object.keys(SWEEP_OPTIONS), 'sweep options:'),
    async (argv) => runSweepCommand(argv as Argv, stdout));
}

async function runSweepCommand(argv: Argv, stdout: NodeJS.WritableStream): Promise<void> {
  const file = readString(argv, 'file');
  if (file === undefined) throw new UserError('sweep needs a sweep file: onnx-finetune sweep sweep.yaml [--out DIR] [--workers N | --queue redis://host:port]');
  const queue = readString(argv, 'queue');
  if (queue !== undefined && argv.workers !== undefined) throw new UserError('--workers runs the sweep here and --queue on workers elsewhere: give one of them');
  const workers = argv.workers === undefined ? undefined : readNumber(argv, 'workers', SWEEP_OPTIONS);
  // The default folder is the sweep file's: the same command again continues the same sweep.
  const out = readString(argv, 'out') ?? join('runs', `sweep-${basename(file, extname(file))}`);
  const controller = new AbortController();
  const onSignal = () => controller.abort();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const status = await runSweep({
      file, out, workers, queue, metric: readString(argv, 'metric'), cli: resolve(process.argv[1]), version: VERSION, stdout,
      log: (line) => process.stderr.write(`${line}\n`), stop: controller.signal,
    });
    if (status === 130) throw new UserError('sweep stopped; run the same command again to continue it', 130);
    if (status !== 0) throw new UserError('sweep finished with runs that failed (listed above)');
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
