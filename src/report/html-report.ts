// report.html: one self-contained page (inline CSS and SVG, no script, nothing fetched) for one run folder or
// several overlaid. Per strategy: training loss per step (raw, faint, under its smoothed curve) with each epoch's
// mean, validation per epoch, each group's learning rate, stage boundaries marked, the test confusion matrix;
// for several strategies or runs, their curves on shared axes and the table of accuracies; then the settings,
// model, data, timings and the command that reproduces each run. Everything shown comes from run.json,
// metrics.csv and the <strategy>.json files, so the page redraws the same from the folder.
import type { Metrics } from '../train/metrics.js';
import { isClassification } from '../train/metrics.js';
import type { MetricsLog, StrategyLog } from './metrics-log.js';
import type { RunInfo, StrategyResult } from './run-info.js';
import { extent, renderChart, smooth, type Chart, type Marker, type Series } from './svg-chart.js';
import { escapeHtml, numberCell, timing } from './html-text.js';
import { notebookDict } from './notebook-dict.js';

export interface RunReport {
  /** The run folder, as the page names it. */
  dir: string;
  info: RunInfo;
  log: MetricsLog;
  /** The finished strategies' results. */
  results: Partial<Record<string, StrategyResult>>;
}

const STRATEGY_COLORS: Partial<Record<string, string>> = { linear_probe: '#1f77b4', partial_unfreeze: '#ff7f0e', full_fine_tune: '#2ca02c', lora: '#d62728' };
const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
/** TensorBoard's default smoothing weight. */
const SMOOTHING = 0.6;

export function renderReport(runs: RunReport[]): string {
  const title = runs.length === 1 ? `onnx-finetune: ${runs[0].dir}` : `onnx-finetune: ${runs.length} runs`;
  const series = runs.flatMap((run) => [...run.log.strategies.values()].map((log) => ({ run, log })));
  const body: string[] = [`<h1>${escapeHtml(title)}</h1>`];
  if (runs.length > 1 || series.length > 1) body.push(comparison(runs, series.length));
  for (const run of runs) {
    if (runs.length > 1) body.push(`<h2 class="run">${escapeHtml(run.dir)}</h2>`);
    for (const planned of run.info.strategies) body.push(strategySection(run, planned.strategy, runs.length > 1));
    body.push(aboutRun(run));
  }
  return `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">`
    + `<title>${escapeHtml(title)}</title><style>${STYLE}</style></head><body>${body.join('\n')}</body></html>\n`;
}

/** A series' name: the strategy, prefixed by its run folder where several runs share the page. */
const label = (run: RunReport, strategy: string, overlay: boolean) => (overlay ? `${run.dir}: ${strategy}` : strategy);

/** The built-in strategies keep their colours; a plan's own name takes the palette's. */
function colorOf(i: number, strategy: string, overlay: boolean): string {
  return (!overlay && STRATEGY_COLORS[strategy]) || PALETTE[i % PALETTE.length];
}

/** The strategies (and runs) on shared axes, and the notebook's table of accuracies. */
function comparison(runs: RunReport[], count: number): string {
  const overlay = runs.length > 1;
  const all = runs.flatMap((run) => [...run.log.strategies.values()].map((log) => ({ run, log })));
  const smoothed: Series[] = [], epochs: Series[] = [], validation: Series[] = [], validationLoss: Series[] = [];
  const metric = mainMetric(runs[0].info);
  all.forEach(({ run, log }, i) => {
    const name = label(run, log.strategy, overlay), color = colorOf(i, log.strategy, overlay);
    smoothed.push({ name, color, points: smoothedLoss(log) });
    epochs.push({ name, color, markers: true, points: log.epochs.map((e) => [e.epoch, e.loss]) });
    if (log.validation.length > 0) {
      validationLoss.push({ name, color, markers: true, points: log.validation.map((v) => [v.epoch, v.loss]) });
      if (metric) validation.push({ name, color, markers: true, points: log.validation.map((v) => [v.epoch, v.metrics[metric] ?? NaN]) });
    }
  });
  const charts: Chart[] = [
    { id: 'compare-step-loss', title: `Training loss per step (smoothed, ${SMOOTHING})`, xLabel: 'step', yLabel: 'loss', series: smoothed },
    { id: 'compare-epoch-loss', title: 'Training loss per epoch (mean over the epoch)', xLabel: 'epoch', yLabel: 'loss', series: epochs },
  ];
  if (validationLoss.length > 0) charts.push({ id: 'compare-validation-loss', title: 'Validation loss per epoch', xLabel: 'epoch', yLabel: 'loss', series: validationLoss });
  if (validation.length > 0) charts.push({ id: 'compare-validation-metric', title: `Validation ${metricName(metric!)} per epoch`, xLabel: 'epoch', yLabel: metricName(metric!), series: validation });
  const head = `<tr>${overlay ? '<th>run</th>' : ''}<th>strategy</th><th>${runs[0].info.task === 'regression' ? 'RMSE' : 'accuracy'}</th><th>test loss</th><th>steps</th><th>seconds</th></tr>`;
  const rows = runs.flatMap((run) => run.info.strategies.map(({ strategy }) => {
    const r = run.results[strategy];
    const first = overlay ? `<td>${escapeHtml(run.dir)}</td>` : '';
    if (!r) return `<tr data-strategy="${strategy}">${first}<td>${strategy}</td><td colspan="4">${unfinished(run.log.strategies.get(strategy))}</td></tr>`;
    const score = run.info.task === 'regression' ? (r.test_metrics as { rmse?: number | null }).rmse : r.accuracy;
    return `<tr data-strategy="${strategy}">${first}<td>${strategy}</td>${numberCell(score)}${numberCell(r.test_loss)}<td class="num" data-value="${r.steps}">${r.steps}</td><td class="num">${timing(r.seconds.toFixed(2))}</td></tr>`;
  }));
  const dicts = runs.filter((run) => run.info.task !== 'regression' && run.info.strategies.every(({ strategy }) => run.results[strategy]))
    .map((run) => `<pre class="notebook">${overlay ? `${escapeHtml(run.dir)}: ` : ''}${escapeHtml(notebookLine(run))}</pre>`);
  return `<section id="compare"><h2>${count} ${overlay ? 'strategies across runs' : 'strategies'} compared</h2>`
    + `<table class="results">${head}${rows.join('')}</table>${dicts.join('')}<div class="charts">${charts.map(renderChart).join('')}</div></section>`;
}

function strategySection(run: RunReport, strategy: string, overlay: boolean): string {
  const log = run.log.strategies.get(strategy) ?? { strategy, steps: [], epochs: [], validation: [] };
  const id = `${overlay ? `${slug(run.dir)}-` : ''}${strategy}`;
  const stages = stageMarkers(log);
  const color = colorOf(0, strategy, false);
  const charts: Chart[] = [{
    id: `${id}-loss`, title: 'Training loss per step', xLabel: 'step', yLabel: 'loss', markers: stages,
    series: [
      { name: 'batch loss', color, faint: true, points: log.steps.map((s) => [s.step, s.loss]) },
      { name: `smoothed (${SMOOTHING})`, color, points: smoothedLoss(log) },
      // Each epoch's mean, drawn at the epoch's last step.
      { name: 'epoch mean', color: '#222', markers: true, points: log.epochs.map((e) => [e.step, e.loss]) },
    ],
  }];
  if (log.validation.length > 0) {
    const keys = Object.keys(log.validation[0].metrics);
    charts.push({ id: `${id}-validation-loss`, title: 'Validation loss per epoch', xLabel: 'epoch', yLabel: 'loss', series: [{ name: 'validation loss', color, markers: true, points: log.validation.map((v) => [v.epoch, v.loss]) }] });
    charts.push({
      id: `${id}-validation-metrics`, title: 'Validation metrics per epoch', xLabel: 'epoch', yLabel: 'value',
      series: keys.map((k, i) => ({ name: metricName(k), color: PALETTE[i % PALETTE.length], markers: true, points: log.validation.map((v) => [v.epoch, v.metrics[k] ?? NaN] as [number, number]) })),
    });
  }
  const groups = extent([0, ...log.steps.map((s) => s.lrs.length)])[1];
  const planned = run.info.strategies.find((s) => s.strategy === strategy)!;
  charts.push({
    id: `${id}-lr`, title: 'Learning rate per group', xLabel: 'step', yLabel: 'learning rate', markers: stages,
    series: Array.from({ length: groups }, (_, g) => ({ name: groupName(planned.stages, log, g), color: PALETTE[g % PALETTE.length], points: log.steps.map((s) => [s.step, s.lrs[g] ?? NaN] as [number, number]) })),
  });
  const result = run.results[strategy];
  const parts = [`<section class="strategy" id="${escapeHtml(id)}" data-strategy="${strategy}"><h2>${escapeHtml(label(run, strategy, overlay))}</h2>`];
  parts.push(result ? testSummary(result, run.info) : `<p class="status">${unfinished(log)}</p>`);
  parts.push(`<div class="charts">${charts.map(renderChart).join('')}</div>`);
  if (result && isClassification(result.test_metrics)) parts.push(confusionMatrix(result.test_metrics, run.info.data.classes));
  parts.push(planTable(planned.stages));
  parts.push('</section>');
  return parts.join('');
}

/** Stage boundaries: where each stage after the first took its first step. */
function stageMarkers(log: StrategyLog): Marker[] {
  const markers: Marker[] = [];
  log.steps.forEach((s, i) => {
    if (i > 0 && s.stage !== log.steps[i - 1].stage) markers.push({ x: s.step - 0.5, label: s.stage });
  });
  return markers;
}

/** A group's name in the lr chart: its glob in the stages that have it. */
function groupName(stages: RunInfo['strategies'][number]['stages'], log: StrategyLog, g: number): string {
  const seen = new Set(log.steps.map((s) => s.stage));
  const globs = [...new Set(stages.filter((s) => seen.has(s.name) && s.groups[g]).map((s) => s.groups[g].params))];
  return `group ${g}${globs.length ? `: ${globs.join(' / ')}` : ''}`;
}

function smoothedLoss(log: StrategyLog): [number, number][] {
  const values = smooth(log.steps.map((s) => s.loss), SMOOTHING);
  return log.steps.map((s, i) => [s.step, values[i]]);
}

function testSummary(r: StrategyResult, info: RunInfo): string {
  const m = r.test_metrics as unknown as Record<string, number | null | undefined>;
  const keys = isClassification(r.test_metrics) ? ['accuracy', 'macro_f1', 'roc_auc'] : ['mae', 'rmse', 'r2'];
  const shown = keys.filter((k) => k in m);
  return `<table class="test"><tr><th>test loss</th>${shown.map((k) => `<th>test ${metricName(k)}</th>`).join('')}<th>steps</th><th>skipped</th><th>seconds</th></tr>`
    + `<tr>${numberCell(r.test_loss)}${shown.map((k) => numberCell(m[k])).join('')}<td class="num">${r.steps}</td><td class="num">${r.skipped_batches}</td><td class="num">${timing(r.seconds.toFixed(2))}</td></tr></table>`
    + (info.data.validation ? '' : '<p class="note">No validation set (give --val or --val-split for per-epoch validation).</p>')
    + (r.early_stopping ? earlyStoppingNote(r.early_stopping) : '');
}

/** Early stopping and the weights kept, as <strategy>.json records them. */
function earlyStoppingNote(e: NonNullable<StrategyResult['early_stopping']>): string {
  const best = e.best_epoch === null ? 'no epoch improved' : `best epoch ${e.best_epoch} (${escapeHtml(e.monitor)} ${e.best_value})`;
  const stopped = e.patience === null ? '' : e.stopped_early_at_epoch === null ? `; ran every epoch (patience ${e.patience})` : `; stopped early after epoch ${e.stopped_early_at_epoch} (patience ${e.patience})`;
  return `<p class="early-stopping">Kept: the ${e.keep === 'best' ? 'best' : 'last'} epoch's weights; ${best}${stopped}.</p>`;
}

function confusionMatrix(m: Extract<Metrics, { accuracy: number }>, classes?: string[]): string {
  const matrix = m.confusion_matrix;
  const names = matrix.map((_, i) => classes?.[i] ?? String(i));
  const max = extent([1, ...matrix.flat()])[1];
  const head = `<tr><th>true \\ predicted</th>${names.map((n) => `<th>${escapeHtml(n)}</th>`).join('')}</tr>`;
  const rows = matrix.map((row, i) => `<tr><th>${escapeHtml(names[i])}</th>${row.map((n) => `<td class="num" data-value="${n}" style="background:rgba(31,119,180,${(0.08 + 0.8 * n / max).toFixed(3)})">${n}</td>`).join('')}</tr>`);
  return `<figure class="confusion"><figcaption>Confusion matrix (test set)</figcaption><table class="confusion">${head}${rows.join('')}</table></figure>`;
}

function planTable(stages: RunInfo['strategies'][number]['stages']): string {
  const rows = stages.flatMap((s) => s.groups.map((g, i) => `<tr>${i === 0 ? `<td rowspan="${s.groups.length}">${escapeHtml(s.name)}</td><td rowspan="${s.groups.length}" class="num">${s.epochs}</td>` : ''}`
    + `<td><code>${escapeHtml(g.params)}</code></td><td class="num">${g.lr}</td><td class="num">${g.tensors}</td><td class="num">${g.values}</td>`
    + `${i === 0 ? `<td rowspan="${s.groups.length}" class="num">${s.frozen}</td>` : ''}</tr>`));
  return `<table class="plan"><tr><th>stage</th><th>epochs</th><th>group</th><th>lr</th><th>tensors</th><th>parameters trained</th><th>parameters frozen</th></tr>${rows.join('')}</table>`;
}

function aboutRun(run: RunReport): string {
  const { info } = run;
  const settings = Object.entries(info.settings).filter(([, v]) => v !== undefined).map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(typeof v === 'string' ? v : JSON.stringify(v))}</td></tr>`);
  const data = (['train', 'test', 'validation'] as const).flatMap((k) => (info.data[k] ? [`<tr><th>${k}</th><td>${escapeHtml(info.data[k]!.source)}</td><td class="num">${info.data[k]!.examples}</td></tr>`] : []));
  const ops = info.model.ops.map(([op, n]) => `${escapeHtml(op)} ×${n}`).join(', ');
  const timings = info.strategies.map(({ strategy }) => {
    const r = run.results[strategy];
    return `<tr><th>${strategy}</th><td>${r ? `${timing(r.seconds.toFixed(2))} s, ${timing((r.steps / Math.max(r.seconds, 1e-9)).toFixed(0))} steps/s` : unfinished(run.log.strategies.get(strategy))}</td></tr>`;
  });
  return `<section class="about"><h2>Run</h2>`
    + `<p>Reproduce with:</p><pre class="command">${escapeHtml(info.command)}</pre>`
    + `<div class="columns"><div><h3>Settings</h3><table class="settings">${settings.join('')}</table></div>`
    + `<div><h3>Model</h3><table class="model"><tr><th>source</th><td>${escapeHtml(info.model.source)}</td></tr>`
    + `<tr><th>inputs</th><td>${info.model.inputs.map((i) => `${escapeHtml(i.name)} ${escapeHtml(i.shape)}`).join(', ')}</td></tr><tr><th>logits</th><td>${escapeHtml(info.model.logits)}</td></tr>`
    + `<tr><th>parameters</th><td>${info.model.parameters} in ${info.model.tensors} tensors</td></tr><tr><th>opset</th><td>${info.model.opset}</td></tr><tr><th>ops</th><td>${ops}</td></tr></table>`
    + `<h3>Data</h3><table class="data"><tr><th></th><th>source</th><th>examples</th></tr>${data.join('')}</table>`
    + (info.data.classes ? `<p>classes: ${info.data.classes.map(escapeHtml).join(', ')}</p>` : '')
    + `<h3>Timings</h3><table class="timings">${timings.join('')}</table></div></div>`
    + `<p class="version">onnx-finetune ${escapeHtml(info.onnx_finetune)}</p></section>`;
}

function unfinished(log: StrategyLog | undefined): string {
  return !log || log.steps.length === 0 ? 'not started' : `not finished: ${log.steps.length} steps recorded (to the last checkpoint)`;
}

/** The notebook's closing line, as compare prints it. */
function notebookLine(run: RunReport): string {
  return notebookDict(run.info.strategies.map(({ strategy }) => ({ strategy, accuracy: run.results[strategy]!.accuracy })));
}

function mainMetric(info: RunInfo): string | undefined {
  return info.task === 'regression' ? 'rmse' : 'accuracy';
}

function metricName(key: string): string {
  return ({ accuracy: 'accuracy', macro_f1: 'macro-F1', roc_auc: 'ROC-AUC', mae: 'MAE', rmse: 'RMSE', r2: 'R²' } as Record<string, string>)[key] ?? key;
}

const slug = (text: string) => text.replace(/[^A-Za-z0-9_-]+/g, '-');

const STYLE = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1360px;padding:0 16px;color:#222;background:#fff}
h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ddd;padding-bottom:4px}h3{font-size:15px;margin:12px 0 4px}
.charts{display:flex;flex-wrap:wrap;gap:12px}
figure{margin:0}figure.chart{border:1px solid #e3e3e3;border-radius:6px;padding:8px;background:#fcfcfc}
figcaption{font-weight:600;margin-bottom:4px}
svg .grid{stroke:#eee}svg .axis{stroke:#888}svg .tick{font-size:11px;fill:#555}svg .label{font-size:12px;fill:#333}
svg .series{fill:none;stroke-width:2;stroke-linejoin:round;stroke-linecap:round}svg .series.faint{stroke-width:1;opacity:.28}
svg .marker line{stroke:#999;stroke-dasharray:4 3}svg .marker text{font-size:11px;fill:#666}
.legend{font-size:12px}.key{margin-right:12px;white-space:nowrap}.key i{display:inline-block;width:12px;height:3px;margin-right:4px;vertical-align:middle}
table{border-collapse:collapse;margin:8px 0}th,td{border:1px solid #ddd;padding:3px 8px;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}
table.confusion td{min-width:40px}
pre{background:#f6f8fa;padding:8px;border-radius:4px;white-space:pre-wrap;word-break:break-all}
.columns{display:flex;flex-wrap:wrap;gap:24px}.note,.status,.version{color:#666}
`;
