// `onnx-finetune worker --queue redis://…`: runs sweep runs from the queue until stopped (src/sweep/worker.ts).
import { resolve } from 'node:path';
import type { Argv as Yargs } from 'yargs';
import { UserError } from '../errors.js';
import { runWorker } from '../sweep/worker.js';
import { readNumber, readString, WORKER_OPTIONS, yargsOptions, type Argv } from './options.js';
import { VERSION } from './run.js';

export const WORKER_COMMAND = 'worker';

export function withWorkerCommand(cli: Yargs): Yargs {
  return cli.command(WORKER_COMMAND, "take sweep runs from a Redis queue (a sweep's --queue) and run them, until stopped (Ctrl-C, SIGTERM)",
    (y) => y.options(yargsOptions(WORKER_OPTIONS)).group(Object.keys(WORKER_OPTIONS), 'worker options:'),
    async (argv) => {
      const a = argv as Argv;
      const queue = readString(a, 'queue');
      if (queue === undefined) throw new UserError('worker needs --queue redis://host:port (the Redis a sweep puts its runs on)');
      const fatal = await runWorker({
        queue, concurrency: readNumber(a, 'concurrency', WORKER_OPTIONS), stalledAfter: readNumber(a, 'stalled-after', WORKER_OPTIONS),
        cli: resolve(process.argv[1]), version: VERSION, log: (line) => process.stdout.write(`${line}\n`), warn: (line) => process.stderr.write(`warning: ${line}\n`),
      });
      if (fatal !== undefined) throw new UserError(fatal);
    });
}
