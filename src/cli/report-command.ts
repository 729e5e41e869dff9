// `onnx-finetune report DIR [DIR…]`: redraws report.html from a run folder's files (run.json, metrics.csv,
// <strategy>.json), finished or interrupted; with several folders, one page overlays their runs (seeds,
// learning rates) on shared axes. Trains nothing.
import { lstatSync } from 'node:fs';
import { join } from 'node:path';
import type { Argv as Yargs } from 'yargs';
import { writeFileAtomic } from '../runtime/files.js';
import { UserError } from '../errors.js';
import { renderReport } from '../report/html-report.js';
import { readRunFolder, REPORT_HTML } from './report-files.js';
import { readString, type Argv } from './options.js';

export const REPORT_COMMAND = 'report';

export function withReportCommand(cli: Yargs, stdout: NodeJS.WritableStream): Yargs {
  return cli.command(`${REPORT_COMMAND} <dirs..>`, 'redraw report.html from a run folder, or overlay several runs on one page (--out FILE)', (y) => y
    // Every folder named: the command line's other options keep one value each (main.ts), a list of folders needs them all.
    .parserConfiguration({ 'duplicate-arguments-array': true, 'parse-numbers': false, 'parse-positional-numbers': false })
    .positional('dirs', { type: 'string', array: true, describe: 'run folders' }),
    (argv) => {
      stdout.write(runReport(argv as Argv));
    });
}

/** Writes the page and says where: one run's into its folder, several runs' to --out (default report.html here). */
export function runReport(argv: Argv): string {
  const dirs = (argv.dirs as unknown[]).map(String);
  if (dirs.length === 0) throw new UserError(`${REPORT_COMMAND} needs a run folder: onnx-finetune ${REPORT_COMMAND} DIR [DIR…]`);
  const runs = dirs.map(readRunFolder);
  const out = readString(argv, 'out') ?? (dirs.length === 1 ? join(dirs[0], REPORT_HTML) : REPORT_HTML);
  if (lstatSync(out, { throwIfNoEntry: false })?.isDirectory()) throw new UserError(`--out ${out}: is a folder; name the HTML file to write`);
  writeFileAtomic(out, renderReport(runs));
  return `report: ${out}\n`;
}
