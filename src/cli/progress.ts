// A progress bar on stderr (strategy, stage, epoch, step, running loss, the last epoch's validation), drawn only when stderr is a terminal;
// stdout stays the summary or the JSON object alone.
import type CliProgress from 'cli-progress';
import { requirePackage } from '../require.js';
import type { EpochValidation, Progress } from '../train/trainer.js';
import { shortMetrics } from './report.js';
import type { Plan } from '../train/strategies.js';

export interface ProgressBar {
  onProgress?: (p: Progress) => void;
  onValidation?: (v: EpochValidation) => void;
  stop(): void;
}

const SILENT: ProgressBar = { stop() {} };

export function progressBar(enabled: boolean, plan: Plan, stepsPerEpoch: number): ProgressBar {
  if (!enabled) return SILENT;
  const cliProgress: typeof CliProgress = requirePackage('cli-progress'); // loaded only when drawn
  const total = plan.stages.reduce((sum, s) => sum + s.epochs, 0) * stepsPerEpoch;
  const bar = new cliProgress.SingleBar({
    stream: process.stderr,
    format: '{strategy} {bar} {stage} epoch {epoch}/{epochs} step {step}/{steps} loss {loss} | {duration_formatted} elapsed, {rate} steps/s, ETA {eta_formatted}{validation}',
    barsize: 24,
    hideCursor: true,
    clearOnComplete: true,
    stopOnComplete: false,
  }, cliProgress.Presets.shades_classic);
  const started = performance.now();
  let done = 0;
  let validation = '';
  const payload = (p?: Progress) => ({
    validation,
    strategy: plan.strategy, stage: p?.stage ?? plan.stages[0].name, epoch: p?.epoch ?? 0, epochs: p?.epochs ?? plan.stages[0].epochs,
    step: p?.step ?? 0, steps: p?.steps ?? stepsPerEpoch, loss: p ? p.loss.toFixed(4) : '-',
    rate: done === 0 ? '-' : (done / ((performance.now() - started) / 1000)).toFixed(0),
  });
  bar.start(total, 0, payload());
  return {
    onProgress: (p) => {
      done++;
      bar.increment(1, payload(p));
    },
    onValidation: (v) => {
      validation = ` | validation (epoch ${v.epoch}) loss ${v.loss.toFixed(4)}  ${shortMetrics(v)}`;
      bar.update({ validation });
    },
    stop: () => bar.stop(),
  };
}

/** A status line while something slow happens before the bar can start (reading a large data file). */
export function statusLine(enabled: boolean, text: string): { clear(): void } {
  if (!enabled) return { clear() {} };
  process.stderr.write(`${text}\r`);
  return { clear: () => process.stderr.write('\x1b[2K\r') };
}
