#!/usr/bin/env node
// onnx-finetune: the fine-tuning strategies from a terminal. One yargs command per strategy, plus compare;
// see README.md. A UserError prints its message alone, as one line on stderr, and exits with status 1.
import yargs, { type Argv as Yargs } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { UserError } from '../errors.js';
import { fileError, isSystemError } from '../runtime/files.js';
import { COMMON_OPTIONS, LR_FIND_OPTIONS, PREDICT_OPTIONS, STRATEGY_OPTIONS, joinNoDecay, yargsOptions } from './options.js';
import { COMMANDS, VERSION, runCommand, type CommandKey } from './run.js';
import { INSPECT_COMMAND, withInspectCommand } from './inspect.js';
import { runPredict } from './predict.js';
import { PLAN_COMMAND, withPlanCommand } from './plan-command.js';
import { REPORT_COMMAND, withReportCommand } from './report-command.js';
import { SERVE_COMMAND, withServeCommand } from './serve.js';
import { LR_FIND_COMMAND, LR_FIND_DESCRIPTION, runLrFind } from './lr-find.js';
import { SWEEP_COMMAND, withSweepCommand } from './sweep-command.js';
import { WORKER_COMMAND, withWorkerCommand } from './worker-command.js';

const DESCRIPTIONS: Record<CommandKey, string> = {
  linear_probe: 'train the head only; the backbone stays frozen',
  partial_unfreeze: 'train the head, then the head and the --unfreeze layers at a smaller learning rate',
  full_fine_tune: 'train every parameter',
  lora: "LoRA: low-rank adapters beside the --targets weights, trained with the head; writes the merged model and a PEFT adapter folder",
  compare: 'run the three strategies (and LoRA, where the model has Linear layers outside the head) at their defaults on the same start and compare their test accuracy',
};

/** Exit statuses: 1 for bad input, 70 (EX_SOFTWARE) for an unexpected error, which is a bug. */
const EXIT_USER = 1;
const EXIT_BUG = 70;

export async function main(argv: string[]): Promise<number> {
  let args: string[];
  try {
    args = joinNoDecay(argv);
  } catch (e) {
    process.stderr.write(`onnx-finetune: ${(e as Error).message}\n`);
    return EXIT_USER;
  }
  const known = [...Object.values(COMMANDS), 'run', PLAN_COMMAND, INSPECT_COMMAND, 'predict', REPORT_COMMAND, LR_FIND_COMMAND, SERVE_COMMAND, SWEEP_COMMAND, WORKER_COMMAND];
  let cli: Yargs = yargs(args)
    .scriptName('onnx-finetune')
    .usage('$0 <command> [options]\n\nFine-tune an ONNX model on ONNX Runtime: linear probe, partial unfreeze or full fine-tune.\nWith no --model/--train/--test, runs the built-in default (the seed notebook\'s task).')
    .parserConfiguration({ 'duplicate-arguments-array': false, 'parse-numbers': false, 'parse-positional-numbers': false })
    .options(yargsOptions(COMMON_OPTIONS))
    .group(Object.keys(COMMON_OPTIONS), 'Common options:')
    .strict()
    .demandCommand(1, `a command is needed: ${known.join(', ')} (see --help)`)
    .version(VERSION)
    .help()
    // yargs lays out the whole help text before it runs a command, in case the command fails; ours never
    // prints it then (see fail), so the costly wrapping to the terminal's width is left for --help alone.
    .wrap(args.includes('--help') ? Math.min(110, process.stdout.columns ?? 110) : null)
    .fail((message, error) => {
      // yargs reports its own usage errors as a message, or as a YError; anything else came from a command.
      if (error && error.name !== 'YError') throw error;
      throw new UserError(usageMessage(message ?? error?.message ?? 'invalid command line', args, known));
    });
  for (const [key, name] of Object.entries(COMMANDS) as [CommandKey, string][]) {
    cli = cli.command(name, DESCRIPTIONS[key], (y) => y.options(yargsOptions(STRATEGY_OPTIONS[key])).group(Object.keys(STRATEGY_OPTIONS[key]), `${name} options:`), async (argv) => {
      await runCommand(key, argv as Record<string, unknown>, { stdout: process.stdout, progress: process.stderr.isTTY === true });
    });
  }
  // run: a plan file's stages, with the model, data and settings from the command line (src/plan/).
  cli = cli.command('run [plan]', 'train by a plan file (YAML or JSON): stages, parameter groups, learning rates, optimizer, BatchNorm mode, schedule (see README "Recipes")',
    (y) => y.positional('plan', { type: 'string', describe: 'the plan file (.yaml, .yml or .json)' }), async (argv) => {
      if (argv.plan === undefined) throw new UserError('run needs a plan file: onnx-finetune run plan.yaml --model ... --train ... --test ... (onnx-finetune plan linear-probe prints one to start from)');
      await runCommand('run', argv as Record<string, unknown>, { stdout: process.stdout, progress: process.stderr.isTTY === true });
    });
  cli = withPlanCommand(cli, process.stdout);
  // inspect: reads a model, trains nothing (src/cli/inspect.ts).
  cli = withInspectCommand(cli, process.stdout);
  // report: redraws report.html from run folders (src/cli/report-command.ts).
  cli = withReportCommand(cli, process.stdout);
  // serve: the browser page (src/cli/serve.ts, web/).
  cli = withServeCommand(cli, process.stdout);
  cli = cli.command('predict', 'run a trained model on new data: one CSV row per example (predicted class, probabilities or value); with --label, the metrics too',
    (y) => y.options(yargsOptions(PREDICT_OPTIONS)).group(Object.keys(PREDICT_OPTIONS), 'predict options:'), async (argv) => {
      await runPredict(argv as Record<string, unknown>, { stdout: process.stdout, progress: false });
    });
  cli = cli.command(LR_FIND_COMMAND, LR_FIND_DESCRIPTION, (y) => y.options(yargsOptions(LR_FIND_OPTIONS)).group(Object.keys(LR_FIND_OPTIONS), `${LR_FIND_COMMAND} options:`),
    async (argv) => runLrFind(argv as Record<string, unknown>, { stdout: process.stdout }));
  // sweep and worker: many runs, here or through a Redis queue (src/sweep/).
  cli = withWorkerCommand(withSweepCommand(cli, process.stdout));
  try {
    await cli.parseAsync();
    return 0;
  } catch (caught) {
    // An operating-system error on a path (a full disk, a folder gone read-only) is the user's to fix.
    const e = isSystemError(caught) && caught.path ? fileError(caught.path, caught.syscall ?? 'use', caught) : caught;
    const user = e instanceof UserError;
    const message = oneLine(e instanceof Error ? e.message : String(e));
    process.stderr.write(`onnx-finetune: ${user ? message : `unexpected error (a bug; please report it): ${message}`}\n`);
    if (!user && process.env.ONNX_FINETUNE_DEBUG) process.stderr.write(`${(e as Error).stack}\n`);
    return user ? e.exitCode ?? EXIT_USER : EXIT_BUG;
  }
}

/** yargs's messages, made to name the command or option at fault. */
function usageMessage(message: string, args: string[], known: string[]): string {
  const unknown = /^Unknown arguments?: (.*)$/.exec(message)?.[1].split(', ');
  if (unknown) {
    // yargs lists an unknown --head-lr twice, as head-lr and headLr; report each as it was typed.
    const isOption = (name: string) => args.some((a) => a === `--${name}` || a.startsWith(`--${name}=`) || a === `--no-${name}` || a === `-${name}`);
    const options = unknown.filter(isOption);
    const positionals = unknown.filter((name) => !isOption(name) && args.includes(name));
    if (positionals.length > 0 && !args.some((a) => known.includes(a))) return `unknown command '${positionals[0]}' (commands: ${known.join(', ')})`;
    if (options.length > 0) return `unknown option ${options.map((o) => `--${o}`).join(', ')} (see --help)`;
    if (positionals.length > 0) return `unexpected argument '${positionals[0]}' (options start with --; see --help)`;
  }
  const missing = /^Not enough arguments following: (\S+)/.exec(message);
  if (missing) return `--${missing[1]} needs a value`;
  return message;
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

process.exitCode = await main(hideBin(process.argv));
